"""A tiny dataset build, run as a subprocess by tests/test_dataset.py (which SIGKILLs it).

Usage: python tests/_build_script.py TABLE.csv N_ARCHS
"""

import sys

from analognas import EvaluationConfig, TrainingConfig
from analognas.dataset import build_dataset
from search_spaces import NB201Space

# Shared with the tests, so that the killed build and the in-process rerun agree.
SPACE = NB201Space(channels=4, cells_per_stage=1)
TRAINING = TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1)
EVALUATION = EvaluationConfig(n_reps=2)
DATA = dict(dataset="digits", n_train=200, n_test=100)

if __name__ == "__main__":
    path, n_archs = sys.argv[1], int(sys.argv[2])
    build_dataset(SPACE, path, n_archs, training=TRAINING, evaluation=EVALUATION, seed=0,
                  progress=False, **DATA)
