"""Does longer training make AVM depend less on the training seed?

Trains networks of the F3 pilot table with two training seeds at the table's recipe ("short":
4 digital + 1 analog epochs) and at twice the epochs ("long": 8 + 2), evaluates each with 6
programmings, and prints acc_1d and AVM per seed.

    PYTHONPATH=. python docs/scripts/seed_noise.py SEED [SEED ...]
"""

import json
import sys

import pandas as pd
import torch

from analognas.data import load_dataset
from analognas.evaluation import EvaluationConfig, drift_accuracies, summarise
from analognas.training import TrainingConfig, train_hwa
from search_spaces import ResNetLikeSpace

TABLE = "docs/data/pilot-reps20/fashion-mnist-14.csv"
TIMES = (1.0, 86400.0, 2592000.0)
INDICES = (0, 1, 13, 14, 15)


def main(seeds: list[int]) -> None:
    space = ResNetLikeSpace()
    table = pd.read_csv(TABLE)
    torch.set_num_threads(1)
    data = load_dataset("fashion-mnist-14", n_train=2000, n_test=400, seed=0)
    for index in INDICES:
        arch = space.validate(json.loads(table.loc[table["index"] == index, "arch"].iloc[0]))
        for name, (pre, ana) in {"short": (4, 1), "long": (8, 2)}.items():
            training = TrainingConfig(pretrain_epochs=pre, epochs=ana, lr=0.05, pretrain_lr=0.05,
                                      batch_size=32, num_threads=1)
            for seed in seeds:
                out = train_hwa(space.build(arch, (1, 14, 14), 10), data, config=training, seed=seed)
                acc = drift_accuracies(out.model_analog, data, EvaluationConfig(n_reps=6, times=TIMES), seed=seed)
                m = summarise(acc, TIMES)
                print(f"index {index} {name} seed {seed}: digital {out.digital_acc:.2f} acc_1d {m['acc_1d']:.2f} "
                      f"std {m['acc_1d_std']:.2f} avm {m['avm']:.2f}", flush=True)


if __name__ == "__main__":
    main([int(s) for s in sys.argv[1:]] or [1, 2])
