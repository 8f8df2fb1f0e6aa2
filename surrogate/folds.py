"""Cross-validation folds that keep identical networks together.

A results table may hold the same network more than once (a retest, a loop row that repeats a
sampled one, two encodings of one network). Splitting such rows across folds lets a model score
a network it was trained on; :func:`grouped_folds` puts every copy in the same fold.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analognas.checks import check_int, not_allowed

from .metrics import kendall_tau


def grouped_folds(groups: Sequence[Hashable], cv: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``cv`` (train rows, test rows) pairs; rows with equal ``groups`` labels share a fold.

    Groups are shuffled with ``seed`` and dealt to folds of nearly equal row counts
    (scikit-learn's ``GroupKFold``).

    Example:
        >>> folds = grouped_folds(["a", "b", "a", "c", "d", "b"], cv=2, seed=0)
        >>> sorted(int(i) for _, test in folds for i in test)  # every row tested once
        [0, 1, 2, 3, 4, 5]
        >>> all({0, 2} <= set(test) or not {0, 2} & set(test) for _, test in folds)
        True
    """
    from sklearn.model_selection import GroupKFold

    labels = pd.factorize(pd.Series(list(groups), dtype=object))[0]
    n_groups = int(labels.max()) + 1 if len(labels) else 0
    check_int("cv", cv, 2)
    if n_groups < cv:
        raise not_allowed("cv", cv, f"at most the number of distinct networks ({n_groups})")
    splitter = GroupKFold(n_splits=int(cv), shuffle=True, random_state=int(seed))
    return [(np.sort(train), np.sort(test)) for train, test in splitter.split(labels, groups=labels)]


def network_groups(space: Any, archs: Sequence[Any]) -> list[Hashable]:
    """One label per architecture; equal for architectures that build the same network."""
    return [space.canonical(space.validate(a)) for a in archs]


def fold_taus(space: Any, archs: Sequence[Any], table: Any,
              fit_predict: Callable[[np.ndarray, np.ndarray, pd.DataFrame], pd.DataFrame],
              cv: int = 5, seed: int = 0, groups: Sequence[Hashable] | None = None) -> dict[str, float]:
    """Mean out-of-fold Kendall tau per target of a model that ``fit_predict`` fits and applies.

    ``fit_predict(train_rows, test_rows, frame)`` fits on ``frame``'s train rows and returns a
    frame of predictions (a column per target) for the test rows. Folds come from
    :func:`grouped_folds` over ``groups`` (default :func:`network_groups`); failed rows (``status`` not ``ok``) and
    missing values are not scored; a fold where either side is constant is left out.
    """
    from .model import TARGETS, target_column

    archs = list(archs)
    n = len(archs)
    check_int("cv", cv, 2)
    if n < 2 * cv:
        raise ValueError(f"cross_validate: {n} architectures are too few for cv={cv} (at least {2 * cv})")
    ys = {t: target_column(table, t, n) for t in TARGETS}
    frame = table if isinstance(table, pd.DataFrame) else pd.DataFrame(ys)
    ok_rows = frame["status"].to_numpy() == "ok" if "status" in frame.columns else np.ones(n, dtype=bool)
    taus: dict[str, list[float]] = {t: [] for t in TARGETS}
    groups = network_groups(space, archs) if groups is None else list(groups)
    for train, test in grouped_folds(groups, cv, seed):
        pred = fit_predict(train, test, frame)
        for t in TARGETS:
            rows = ok_rows[test] & np.isfinite(ys[t][test])
            tau = kendall_tau(ys[t][test][rows], pred[t].to_numpy()[rows]) if rows.sum() > 1 else np.nan
            if np.isfinite(tau):
                taus[t].append(tau)
    return {t: float(np.mean(v)) if v else float("nan") for t, v in taus.items()}


def plain_xgboost_taus(space: Any, archs: Sequence[Any], table: Any, cv: int = 5, seed: int = 0) -> dict[str, float]:
    """:func:`fold_taus` of a baseline: one XGBoost regressor per target with XGBoost's default
    parameters, on the space's raw encoding (``space.encode_many``), no derived features.

    Example:
        >>> from search_spaces import NB201Space
        >>> archs = NB201Space().sample_many(40, rng=0)
        >>> y = [a.ops[1] for a in archs]  # the operation on one edge: learnable
        >>> plain_xgboost_taus(NB201Space(), archs, {"acc_1d": y, "acc_1d_std": y, "avm": y}, cv=4)["avm"] > 0.9
        True
    """
    import xgboost as xgb

    from .model import TARGETS

    archs = list(archs)
    X = np.asarray(space.encode_many([space.validate(a) for a in archs]), dtype=np.float64)

    def fit_predict(train: np.ndarray, test: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for t in TARGETS:
            y = frame[t].to_numpy(dtype=np.float64)[train]
            keep = np.isfinite(y)
            model = xgb.XGBRegressor(random_state=seed, n_jobs=1).fit(X[train][keep], y[keep])
            out[t] = model.predict(X[test])
        return pd.DataFrame(out)

    return fold_taus(space, archs, table, fit_predict, cv, seed)


def repeated_taus(score: Callable[[int], dict[str, float]], seeds: Sequence[int]) -> tuple[dict[str, float],
                                                                                         dict[str, float]]:
    """Mean and standard deviation over fold splits of ``score(seed)`` (a dict of taus per
    target, e.g. ``lambda s: model.cross_validate(archs, table, seed=s)``).

    One split's tau moves with the luck of its folds; its spread over several splits says how
    far to trust a difference (the sd is NaN for a single split).

    Example:
        >>> mean, sd = repeated_taus(lambda s: {"avm": 0.4 + 0.1 * s}, seeds=[0, 1, 2])
        >>> round(mean["avm"], 2), round(sd["avm"], 2)
        (0.5, 0.1)
    """
    runs = pd.DataFrame([score(int(s)) for s in seeds])
    return ({t: float(runs[t].mean()) for t in runs.columns},
            {t: float(runs[t].std(ddof=1)) if len(runs) > 1 else float("nan") for t in runs.columns})

