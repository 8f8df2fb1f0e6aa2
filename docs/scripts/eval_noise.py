"""How much of a table row's AVM and acc_1d_std noise comes from the evaluation.

Trains two networks of the pilot table (indices 13 and 2) twice each (training seeds 101, 202)
with the table's settings, evaluates each trained network with 24 programmings, and prints the
per-programming AVM spread, and the AVM and 1-day spread of four groups of 6 programmings.

    PYTHONPATH=. python docs/scripts/eval_noise.py      # about 8 min on one CPU core
"""

import json
import time

import pandas as pd
import torch

from analognas.data import load_dataset
from analognas.evaluation import EvaluationConfig, drift_accuracies, summarise
from analognas.training import TrainingConfig, train_hwa
from search_spaces import ResNetLikeSpace

TABLE = "docs/data/pilot-reps6/fashion-mnist-14.csv"
TIMES = (1.0, 86400.0, 2592000.0)


def main() -> None:
    space = ResNetLikeSpace()
    table = pd.read_csv(TABLE)
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist-14", n_train=2000, n_test=400, seed=0)
    training = TrainingConfig(pretrain_epochs=4, epochs=1, lr=0.05, pretrain_lr=0.05, batch_size=32, num_threads=1)
    for index in (13, 2):
        arch = space.validate(json.loads(table.loc[table["index"] == index, "arch"].iloc[0]))
        for seed in (101, 202):
            out = train_hwa(space.build(arch, (1, 14, 14), 10), data, config=training, seed=seed)
            started = time.time()
            acc = drift_accuracies(out.model_analog, data, EvaluationConfig(n_reps=24, times=TIMES), seed=seed)
            groups = [summarise(acc[i:i + 6], TIMES) for i in range(0, 24, 6)]
            print(f"index {index} seed {seed}: evaluation {time.time() - started:.0f} s, "
                  f"per-programming AVM sd {(acc[:, 0] - acc[:, -1]).std(ddof=1):.2f}, "
                  f"AVM of 4 groups of 6 {[round(g['avm'], 2) for g in groups]}, "
                  f"1-day sd of 4 groups of 6 {[round(g['acc_1d_std'], 2) for g in groups]}, "
                  f"acc_1d {acc[:, 1].mean():.2f}")


if __name__ == "__main__":
    main()
