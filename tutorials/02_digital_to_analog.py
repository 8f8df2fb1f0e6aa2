"""Tutorial 2: from a digital network to an analog one, and how it drifts.

The network is trained hardware-aware: a few digital epochs, then conversion to aihwkit
analog layers (PCM crossbars with DAC/ADC quantisation and output noise), then analog
fine-tuning with noise injected into the weights. Evaluation programs the PCM devices again
for every repetition (programming noise is re-drawn) and lets the conductances drift to
1 s, 1 h, 1 day and 1 month before measuring test accuracy.

Run:  python tutorials/02_digital_to_analog.py [--quick] [--output DIR]
"""

from _common import tutorial_args
from analognas import AnalogHardware, EvaluationConfig, TrainingConfig, evaluate_architecture, to_analog
from analognas.hardware import analog_layer_names
from analognas.plots import plot_drift
from search_spaces import ResNetLikeSpace

args = tutorial_args(__doc__)
space = ResNetLikeSpace()
arch = space.from_dict({"out_channel0": 16, "kernel0": 3, "blocks": [
    {"block_type": "A", "residual_blocks": 1, "branches": 1, "widen": 1},
    {"block_type": "A", "residual_blocks": 1, "branches": 1, "widen": 2}]})

hardware = AnalogHardware()  # PCM, 8-bit DAC/ADC, output noise 0.04, drift compensation on
analog = to_analog(space.build(arch, input_shape=(1, 8, 8)), hardware)
print("analog layers:", analog_layer_names(analog)[:4], "...")

if args.quick:
    dataset, data = "digits", {}
    training, evaluation = TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64), EvaluationConfig(n_reps=2)
else:
    dataset, data = "fashion-mnist", {"n_train": 5000, "n_test": 1000}
    training, evaluation = TrainingConfig(pretrain_epochs=3, epochs=2, batch_size=64), EvaluationConfig(n_reps=5)

curves = {}
for label, hw in {"with drift compensation": hardware,
                  "without drift compensation": AnalogHardware(drift_compensation=False)}.items():
    result = evaluate_architecture(space, arch, dataset, hardware=hw, training=training,
                                   evaluation=evaluation, seed=0, **data)
    curves[label] = result.acc_by_time
    print(f"{label}: digital {result.digital_acc:.1f} %, acc_1d {result.acc_1d:.1f} ± "
          f"{result.acc_1d_std:.1f} %, AVM {result.avm:.2f} points ({result.wall_time_s:.0f} s)")
print("plot:", plot_drift(curves, args.output / "drift.png", f"{dataset}: accuracy after programming"))
