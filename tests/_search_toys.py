"""Toy surrogates for the search tests: real scoring functions in closed form, whose optimum
can be found by brute force (NB201) or whose cost is negligible (ResNet-like)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from search_spaces import NB201Space


class NB201Toy:
    """acc_1d: a fixed per-edge, per-operation table summed over the edges (separable, so the
    optimum is known); avm grows with pooling and 1x1 convs; spread with skips."""

    def __init__(self, seed: int = 123) -> None:
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(0.0, 1.0, (6, 5))
        self.calls = 0

    def predict(self, archs) -> pd.DataFrame:
        self.calls += 1
        ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(-1, 6)
        acc = self.weights[np.arange(6)[None, :], ops].sum(1)
        avm = 1.5 * (ops == 4).sum(1) + 0.4 * (ops == 3).sum(1) - 0.2 * (ops == 2).sum(1)
        std = 0.5 + 0.1 * (ops == 0).sum(1)
        return pd.DataFrame({"acc_1d": acc, "acc_1d_std": std, "avm": avm})

    def optimum(self, max_avm: float) -> tuple[object, float]:
        """The best feasible cell and its acc_1d, by enumeration."""
        archs = NB201Space().all_architectures()
        pred = self.predict(archs)
        ok = pred["avm"].to_numpy() < max_avm
        i = int(np.argmax(np.where(ok, pred["acc_1d"].to_numpy(), -np.inf)))
        return archs[i], float(pred["acc_1d"].iloc[i])


class ResNetToy:
    """Bigger networks score higher (log params), plain blocks drift (avm), more branches
    spread less; cheap enough that the search's own cost dominates."""

    def __init__(self, space) -> None:
        self.space = space

    def predict(self, archs) -> pd.DataFrame:
        rows = []
        for a in archs:
            plain = sum(b.block_type in ("C", "D") for b in a.blocks)
            branches = sum(b.branches for b in a.blocks)
            rows.append((math.log(self.space.num_params(a)) - 0.1 * a.kernel0,
                         1.0 / (1.0 + branches), 0.3 * plain + 0.05 * len(a.blocks)))
        return pd.DataFrame(rows, columns=["acc_1d", "acc_1d_std", "avm"])


def fitted_resnet_surrogate(trees: dict[str, int] | None = None):
    """A real AnalogSurrogate for the ResNet-like space, fitted on a synthetic table (bigger
    networks more accurate, noise elsewhere); ``trees``: boosting rounds per model (60)."""
    from search_spaces import ResNetLikeSpace
    from surrogate import AnalogSurrogate

    space = ResNetLikeSpace()
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(space.sample_many(120, rng, max_params=2_000_000)))
    logp = np.log([space.num_params(a) for a in archs])
    table = pd.DataFrame({"acc_1d": 70 + 2 * logp + rng.normal(0, 1, len(archs)),
                          "acc_1d_std": rng.uniform(0.2, 2.0, len(archs)),
                          "avm": rng.uniform(0.0, 3.0, len(archs))})
    trees = trees or dict.fromkeys(("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm"), 60)
    surrogate = AnalogSurrogate(space, params={k: {"n_estimators": n} for k, n in trees.items()}, n_jobs=1)
    return surrogate.fit(archs, table)
