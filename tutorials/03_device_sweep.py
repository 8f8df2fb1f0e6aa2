"""Tutorial 3: what if the device changes?

One network is trained hardware-aware once, then programmed onto different memory devices,
each one an aihwkit device model: phase-change memory (PCM, ``PCMLikeNoiseModel``), IBM's
HERMES PCM chip (``HermesNoiseModel``) and a resistive RAM (``ReRamCMONoiseModel``, CMO/HfOx
devices). Every repetition programs the weights anew (programming noise is
re-drawn), then lets the conductances drift from 1 s to 1 month; the plot shows test accuracy
(mean ± std over the repetitions) against time for each device.

(``ReRamWan2022NoiseModel``, the other ReRAM model, is fitted at 1 s, 1 day and 2 days only and
refuses other times.) To measure a whole table on another device, pass ``AnalogHardware(noise_model="hermes")`` (or
``--hardware hw.json`` on the command line); docs/hardware.md lists the models and presets.

Run:  python tutorials/03_device_sweep.py [--quick] [--output DIR]
"""

import torch

from _common import tutorial_args
from analognas import AnalogHardware, EvaluationConfig, TrainingConfig, load_dataset
from analognas.evaluation import drift_accuracies, summarise
from analognas.plots import plot_drift
from analognas.training import train_hwa
from search_spaces import ResNetLikeSpace

args = tutorial_args(__doc__)
space = ResNetLikeSpace()
arch = space.from_dict({"out_channel0": 12, "kernel0": 3, "blocks": [
    {"block_type": "A", "residual_blocks": 1, "branches": 1, "widen": 2}]})
times = (1.0, 60.0, 3600.0, 86400.0, 2592000.0)  # 1 s, 1 min, 1 h, 1 day, 1 month

if args.quick:
    data = load_dataset("digits", n_train=600, n_test=300)
    training = TrainingConfig(pretrain_epochs=4, epochs=1, batch_size=32, lr=0.05, pretrain_lr=0.1)
    evaluation = EvaluationConfig(n_reps=4, times=times)
else:
    data = load_dataset("fashion-mnist", n_train=3000, n_test=1000)
    training = TrainingConfig(pretrain_epochs=3, epochs=2, batch_size=64)
    evaluation = EvaluationConfig(n_reps=10, times=times)

# Training does not use the device model (it acts when weights are programmed), so one
# hardware-aware training serves every device.
torch.manual_seed(0)
outcome = train_hwa(space.build(arch, data.input_shape, data.num_classes), data, AnalogHardware(),
                    training, seed=0)
model = outcome.model_analog
model.eval()
print(f"trained: digital accuracy {outcome.digital_acc:.1f} %")

devices = {
    "PCM (PCMLikeNoiseModel)": AnalogHardware(),
    "HERMES PCM chip": AnalogHardware(noise_model="hermes"),
    "ReRAM CMO/HfOx": AnalogHardware(noise_model="reram-cmo"),
}
curves = {}
for label, hw in devices.items():
    # aihwkit keeps a noise model given to program_analog_weights in every tile, so the
    # repetitions of drift_accuracies program and drift with this device
    model.program_analog_weights(noise_model=hw.noise_model_object())
    curves[label] = summarise(drift_accuracies(model, data, evaluation, seed=0), times)["acc_by_time"]
    mean_1d, std_1d = curves[label][86400.0]
    print(f"{label}: acc 1 s {curves[label][1.0][0]:.1f} %, 1 day {mean_1d:.1f} ± {std_1d:.1f} %, "
          f"1 month {curves[label][2592000.0][0]:.1f} %")
path = plot_drift(curves, args.output / "devices.png",
                  f"{data.name}: one network on three devices ({evaluation.n_reps} programmings each)")
print("plot:", path)
