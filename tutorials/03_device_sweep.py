"""Tutorial 3: what if the device changes?

The same network is trained and evaluated for different hardware: the PCM's maximum
conductance g_max, the ADC resolution, and the weight noise injected during training.
Watch acc_1d (accuracy one day after programming) and AVM (accuracy lost over a month) move.

Run:  python tutorials/03_device_sweep.py [--quick] [--output DIR]
"""

import dataclasses

from _common import tutorial_args
from analognas import AnalogHardware, EvaluationConfig, TrainingConfig, evaluate_architecture
from analognas.plots import plot_xy
from search_spaces import ResNetLikeSpace

args = tutorial_args(__doc__)
space = ResNetLikeSpace()
arch = space.from_dict({"out_channel0": 12, "kernel0": 3, "blocks": [
    {"block_type": "A", "residual_blocks": 1, "branches": 1, "widen": 2}]})

if args.quick:
    data = {"dataset": "digits"}
    training, evaluation = TrainingConfig(pretrain_epochs=1, epochs=1), EvaluationConfig(n_reps=2)
    sweeps = {"adc_bits": [4, 8]}
else:
    data = {"dataset": "fashion-mnist", "n_train": 3000, "n_test": 1000}
    training, evaluation = TrainingConfig(pretrain_epochs=2, epochs=1), EvaluationConfig(n_reps=5)
    sweeps = {"adc_bits": [4, 6, 8], "g_max": [10.0, 25.0, 40.0], "modifier_std": [0.0, 0.04, 0.08, 0.12]}

base = AnalogHardware()
for field, values in sweeps.items():
    acc, avm = [], []
    for value in values:
        hw = dataclasses.replace(base, **{field: value})
        r = evaluate_architecture(space, arch, hardware=hw, training=training, evaluation=evaluation,
                                  seed=0, **data)
        acc.append(r.acc_1d)
        avm.append(r.avm)
        print(f"{field}={value}: acc_1d {r.acc_1d:.1f} ± {r.acc_1d_std:.1f} %, AVM {r.avm:.2f}")
    path = plot_xy(values, acc, args.output / f"sweep_{field}.png", field, "acc_1d (%)",
                   f"acc_1d against {field} (labels: AVM)", labels=[f"{v:.1f}" for v in avm])
    print("plot:", path)
