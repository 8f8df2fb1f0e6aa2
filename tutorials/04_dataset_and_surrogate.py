"""Tutorial 4: building a dataset and training the surrogate; its ranking quality.

Part 1 builds a small results table with our own hardware-aware training (resumable: stop it
with Ctrl-C and run again, finished rows are kept). Part 2 measures how well the XGBoost
surrogate ranks architectures, on AnalogNAS-Bench's real analog results for NAS-Bench-201
cells: trained on a few hundred cells, tested on all the others.

Run:  python tutorials/04_dataset_and_surrogate.py [--quick] [--output DIR]
"""

import numpy as np

from _common import require_bench, tutorial_args
from analognas import EvaluationConfig, TrainingConfig
from analognas.dataset import build_dataset
from analognas.plots import plot_xy
from search_spaces import NB201Space, ResNetLikeSpace
from surrogate import AnalogSurrogate, kendall_tau, load_analognas_bench

args = tutorial_args(__doc__)
require_bench()  # before any work: part 2 reads the bench

# Part 1: our own dataset (digits in quick mode; Fashion-MNIST otherwise).
space = ResNetLikeSpace()
quick = dict(dataset="digits", n_archs=4, training=TrainingConfig(pretrain_epochs=1, epochs=1),
             evaluation=EvaluationConfig(n_reps=2))
full = dict(dataset="fashion-mnist", n_archs=40, n_train=1000, n_test=300,
            training=TrainingConfig(pretrain_epochs=2, epochs=1), evaluation=EvaluationConfig(n_reps=3))
table = build_dataset(space, args.output / "results.csv", max_params=20_000, seed=0,
                      **(quick if args.quick else full))
print(table[["acc_1d", "acc_1d_std", "avm", "params", "status"]].to_string())

# Part 2: ranking quality on AnalogNAS-Bench.
bench = load_analognas_bench()
nb201 = NB201Space()
rng = np.random.default_rng(0)
n_train = 100 if args.quick else 500
idx = rng.permutation(len(bench))
train, test = bench.iloc[idx[:n_train]], bench.iloc[idx[n_train:]]
model = AnalogSurrogate(nb201, seed=0).fit(list(train["arch"]), train)
pred = model.predict(list(test["arch"]))
for target in ("acc_1d", "acc_1d_std", "avm"):
    print(f"Kendall tau for {target} on {len(test)} unseen cells: "
          f"{kendall_tau(test[target].to_numpy(), pred[target].to_numpy()):.3f}")
path = plot_xy(pred["acc_1d"].to_numpy(), test["acc_1d"].to_numpy(),
               args.output / "surrogate_ranking.png", "predicted acc_1d score (ranking score)",
               "true acc_1d (%)", f"surrogate trained on {n_train} cells", line=False)
print("plot:", path)
