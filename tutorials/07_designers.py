"""Tutorial 7, for IMC hardware designers: energy, latency and chips of searched networks.

1. A search with an energy budget on IBM HERMES (Le Gallo et al., Nature Electronics 2023):
   its Pareto front trades the surrogate's predicted acc_1d against energy and latency per
   inference (analognas.cost: a weight-stationary mapping on 256x256 cores).
2. How many HERMES-like chips (64 cores) the best network and ResNet-32 need.
3. 6-bit instead of 8-bit ADCs: the energy the cost model says they save, and the acc_1d they
   cost, measured by HWA training and drift evaluation on scikit-learn's digits (small data
   and few repetitions: a rough measurement, see its error bars).

The surrogate's acc_1d is a prediction (a ranking score fitted on our Fashion-MNIST results),
not a measured accuracy. The energy model's assumptions are listed in analognas/cost.py.

Run:  python tutorials/07_designers.py [--quick] [--output DIR]
"""

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _common import tutorial_args  # noqa: E402

from surrogate import default_surrogate_path  # noqa: E402
from analognas.cost import HERMES_ONE_PHASE, network_cost  # noqa: E402
from analognas.evaluation import EvaluationConfig, evaluate_architecture  # noqa: E402
from analognas.hardware import AnalogHardware  # noqa: E402
from analognas.search import Constraints, EvolutionarySearch  # noqa: E402
from analognas.training import TrainingConfig  # noqa: E402
from search_spaces import resnet32  # noqa: E402
from surrogate import AnalogSurrogate  # noqa: E402

args = tutorial_args(__doc__)
surrogate = AnalogSurrogate.load(default_surrogate_path("resnet_like"))
space = surrogate.space
domain, chip = surrogate.domain_, HERMES_ONE_PHASE
shape = domain.input_shape  # the images of the surrogate's table (14x14 Fashion-MNIST)

# --- 1. search with an energy budget: energy becomes a fourth objective of the Pareto front ---
# inside the surrogate's table (its largest network), and an energy budget that cuts into it
constraints = Constraints(max_params=domain.params_max + 1, max_energy_j=30e-6, max_chips=2, input_shape=shape,
                          chip=chip)
result = EvolutionarySearch(space, surrogate, constraints, population_size=50 if args.quick else 200,
                            iterations=5 if args.quick else 100, time_budget_s=10 if args.quick else 60,
                            seed=0, progress=not args.quick).run()
print(result.message)
front = result.pareto_front.sort_values("energy_j").reset_index(drop=True)
print(f"{len(front)} networks on the Pareto front (acc_1d, AVM, parameters, energy) of {result.n_scored} scored")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for ax, col, scale, label in ((axes[0], "energy_j", 1e6, "energy per inference (µJ)"),
                              (axes[1], "latency_s", 1e3, "latency per inference, layers in turn (ms)")):
    points = ax.scatter(front[col] * scale, front["acc_1d"], c=front["avm"], cmap="viridis", s=25)
    ax.set_xlabel(label)
    ax.grid(alpha=0.3)
axes[0].set_ylabel("surrogate's predicted acc_1d score\n(a prediction, not a measurement)")
fig.colorbar(points, ax=axes, label="predicted AVM (points)")
fig.suptitle(f"Pareto front of a search with an energy budget of 30 µJ, on {chip.name}")
fig.savefig(args.output / "front_energy_latency.png", dpi=120, bbox_inches="tight")
plt.close(fig)
print("plot:", args.output / "front_energy_latency.png")

# --- 2. how many HERMES-like chips ------------------------------------------------------------
best = network_cost(space, result.best, chip, shape)
ref = network_cost(space, resnet32(), chip, shape)
for name, c in (("best", best), ("ResNet-32", ref)):
    print(f"{name}: {c.tiles} cores of {chip.core_rows}x{chip.core_cols} -> {c.chips} chip(s) of {chip.cores} cores; "
          f"{c.energy_j * 1e6:.1f} µJ, {c.latency_s * 1e3:.2f} ms per inference")
cores = [network_cost(space, a, chip, shape).tiles for a in front["arch"]]
fig, ax = plt.subplots(figsize=(6.4, 4))
ax.scatter(front["energy_j"] * 1e6, cores, s=20, label="Pareto front")
ax.scatter([best.energy_j * 1e6], [best.tiles], marker="*", s=150, c="red", label="best (objective)")
ax.axhline(chip.cores, ls="--", c="k", label=f"one chip: {chip.cores} cores")
ax.set_xlabel("energy per inference (µJ)")
ax.set_ylabel(f"cores needed ({chip.core_rows}x{chip.core_cols})")
ax.legend()
ax.set_title(f"best network: {best.chips} HERMES-like chip(s); ResNet-32: {ref.chips}")
fig.savefig(args.output / "chips.png", dpi=120, bbox_inches="tight")
plt.close(fig)
print("plot:", args.output / "chips.png")

# --- 3. 8-bit vs 6-bit ADCs: energy (cost model) and acc_1d (measured on digits) ---------------
six = network_cost(space, result.best, chip.replace(adc_bits=6), shape)
saved = 1 - six.energy_j / best.energy_j
print(f"6-bit ADCs: {six.energy_j * 1e6:.1f} µJ instead of {best.energy_j * 1e6:.1f} µJ ({100 * saved:.1f} % less; "
      f"assumes ADCs take {chip.adc_energy_share:.0%} of a full MVM's energy at 8 bits, scaling as 2**bits)")
training = TrainingConfig(pretrain_epochs=1 if args.quick else 10, epochs=1 if args.quick else 5)
evaluation = EvaluationConfig(n_reps=2 if args.quick else 5)
n_train, n_test = (128, 64) if args.quick else (None, None)
measured = {}
for bits in (8, 6):
    r = evaluate_architecture(space, result.best, "digits", hardware=AnalogHardware(adc_bits=bits, tile_size=256),
                              training=training, evaluation=evaluation, seed=0, n_train=n_train, n_test=n_test)
    measured[bits] = (r.acc_1d, r.acc_1d_std)
    print(f"{bits}-bit ADCs on digits: acc_1d {r.acc_1d:.2f} % ± {r.acc_1d_std:.2f} ({evaluation.n_reps} programmings, "
          f"{'quick mode: 1+1 epochs on 128 images' if args.quick else 'the full digits split'})")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
axes[0].bar(["8-bit", "6-bit"], [best.energy_j * 1e6, six.energy_j * 1e6], color=["tab:blue", "tab:orange"])
axes[0].set_ylabel("energy per inference (µJ), cost model")
axes[1].bar(["8-bit", "6-bit"], [measured[8][0], measured[6][0]], yerr=[measured[8][1], measured[6][1]],
            color=["tab:blue", "tab:orange"], capsize=6)
axes[1].set_ylabel("measured acc_1d on digits (%)")
fig.suptitle("ADC resolution: energy saved vs accuracy after one day of drift (best network)")
fig.savefig(args.output / "adc_bits.png", dpi=120, bbox_inches="tight")
plt.close(fig)
print("plot:", args.output / "adc_bits.png")
print("best:", json.dumps(result.best.to_dict()))
