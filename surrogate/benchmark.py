"""Measure surrogates on AnalogNAS-Bench: train on n random cells, rank all the others.

``benchmark_surrogate`` compares :class:`AnalogSurrogate` ("analognas") with a plain one-hot
XGBoost regressor ("onehot_xgb") on the same splits; ``summarize`` gives mean and std over
seeds, and ``format_summary`` a printable table.

Example:
    >>> df = benchmark_surrogate(train_sizes=(100,), seeds=2, progress=False)   # doctest: +SKIP
    >>> summarize(df).query("target == 'acc_1d'")[["method", "kendall_tau_mean"]]  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .metrics import kendall_tau, ndcg_at_k, precision_at_k, spearman_rho

METHODS = ("analognas", "onehot_xgb")
TARGETS = ("acc_1d", "acc_1d_std", "avm")
#: targets the search wants low: their top k are the k smallest values
LOWER_IS_BETTER = frozenset({"acc_1d_std", "avm"})


def evaluate_predictions(y_true: np.ndarray, y_pred: np.ndarray, target: str, k: int = 100) -> dict[str, float]:
    """Kendall tau, Spearman rho, NDCG@k and precision@k of one target's predictions.

    For acc_1d_std and avm (lower is better) NDCG and precision look at the k smallest values.
    """
    sign = -1.0 if target in LOWER_IS_BETTER else 1.0
    t, p = sign * np.asarray(y_true, float), sign * np.asarray(y_pred, float)
    return {
        "kendall_tau": kendall_tau(t, p),
        "spearman": spearman_rho(t, p),
        f"ndcg@{k}": ndcg_at_k(t, p, k),
        f"precision@{k}": precision_at_k(t, p, k),
    }


def _onehot_predictions(space: Any, archs_train: list, y_train: dict[str, np.ndarray],
                        archs_test: list, seed: int, n_jobs: int) -> dict[str, np.ndarray]:
    """The baseline: XGBoost's default regressor on the space's plain encoding, per target."""
    import xgboost as xgb

    X_train, X_test = space.encode_many(archs_train), space.encode_many(archs_test)
    return {t: xgb.XGBRegressor(random_state=seed, n_jobs=n_jobs).fit(X_train, y).predict(X_test)
            for t, y in y_train.items()}


def benchmark_surrogate(train_sizes: Sequence[int] = (50, 100, 200, 500, 1000), seeds: int = 5,
                        table: pd.DataFrame | None = None, tune: bool = False, progress: bool = True,
                        k: int = 100, methods: Sequence[str] = METHODS, n_jobs: int = 1,
                        tune_trials: int = 20) -> pd.DataFrame:
    """Train on n random bench cells per seed and score every other cell, for each method.

    Args:
        train_sizes: training-set sizes n.
        seeds: seeds 0..seeds-1; seed s draws one permutation of the bench, and size n trains
            on its first n cells (so the training sets of one seed are nested).
        table: the bench (default :func:`load_analognas_bench`); needs ``arch`` and the targets.
        tune: tune the analognas surrogate with Optuna on each training set (slow).
        progress: print one line per fit to stderr.
        k: the k of NDCG@k and precision@k.
        n_jobs: XGBoost threads; 1 is fastest for these small tables on a shared machine.

    Returns a long DataFrame: method, n_train, seed, target, kendall_tau, spearman,
    ndcg@k, precision@k, fit_seconds.
    """
    from search_spaces import NB201Space

    from .bench import load_analognas_bench
    from .model import AnalogSurrogate

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods {unknown} are not allowed; choose from {list(METHODS)}")
    table = load_analognas_bench() if table is None else table
    space = NB201Space()
    archs = list(table["arch"])
    ys = {t: table[t].to_numpy(dtype=np.float64) for t in TARGETS}
    too_big = [n for n in train_sizes if not 2 <= n < len(archs)]
    if too_big:
        raise ValueError(f"train_sizes {too_big} must be between 2 and {len(archs) - 1}")
    rows: list[dict[str, Any]] = []
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(archs))
        for n in train_sizes:
            train, test = order[:n], order[n:]
            a_train, a_test = [archs[i] for i in train], [archs[i] for i in test]
            y_train = {t: y[train] for t, y in ys.items()}
            for method in methods:
                start = time.perf_counter()
                if method == "analognas":
                    model = AnalogSurrogate(space, seed=seed, n_jobs=n_jobs)
                    if tune:
                        model.tune(a_train, y_train, n_trials=tune_trials, targets=TARGETS, seed=seed)
                    pred = model.fit(a_train, y_train).predict(a_test)
                    preds = {t: pred[t].to_numpy() for t in TARGETS}
                else:
                    preds = _onehot_predictions(space, a_train, y_train, a_test, seed, n_jobs)
                seconds = time.perf_counter() - start
                for t in TARGETS:
                    rows.append({"method": method, "n_train": n, "seed": seed, "target": t,
                                 **evaluate_predictions(ys[t][test], preds[t], t, k),
                                 "fit_seconds": seconds})
                if progress:
                    tau = rows[-len(TARGETS)]["kendall_tau"]
                    print(f"[bench] seed={seed} n={n} {method}: tau(acc_1d)={tau:.3f} ({seconds:.1f} s)",
                          file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds: one row per (target, n_train, method).

    Columns ``<metric>_mean`` and ``<metric>_std`` for every metric column of ``df``.
    """
    keys = ["target", "n_train", "method"]
    metrics = [c for c in df.columns if c not in keys + ["seed"]]
    g = df.groupby(keys, sort=False)[metrics]
    out = g.mean().add_suffix("_mean").join(g.std(ddof=1).add_suffix("_std")).reset_index()
    out.insert(3, "seeds", g.size().to_numpy())
    target_order = {t: i for i, t in enumerate(TARGETS)}
    return out.sort_values(["target", "n_train", "method"],
                           key=lambda c: c.map(target_order) if c.name == "target" else c
                           ).reset_index(drop=True)


def format_summary(summary: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A plain-text table of ``mean ± std`` per target, n_train and method.

    Example:
        >>> print(format_summary(summarize(df), ["kendall_tau"]))   # doctest: +SKIP
    """
    if metrics is None:
        metrics = [c[:-5] for c in summary.columns if c.endswith("_mean") and c != "fit_seconds_mean"]
    cells = summary[["target", "n_train", "method"]].astype(str).copy()
    for m in metrics:
        cells[m] = [f"{mu:.{digits}f} ± {sd:.{digits}f}"
                    for mu, sd in zip(summary[f"{m}_mean"], summary[f"{m}_std"].fillna(0.0))]
    return cells.to_string(index=False)


def fit_bench_surrogate(n_train: int | None = None, seed: int = 0, n_jobs: int = 1,
                        table: pd.DataFrame | None = None) -> Any:
    """The default NB201 surrogate, fitted on AnalogNAS-Bench (all cells, or n_train random ones).

    Example:
        >>> model = fit_bench_surrogate()                         # doctest: +SKIP
        >>> model.save("analognas/data/nb201_surrogate")          # doctest: +SKIP
    """
    from search_spaces import NB201Space

    from .bench import load_analognas_bench
    from .model import AnalogSurrogate

    table = load_analognas_bench() if table is None else table
    if n_train is not None:
        if not 2 <= n_train <= len(table):
            raise ValueError(f"n_train={n_train!r} must be between 2 and {len(table)}")
        table = table.iloc[np.random.default_rng(seed).permutation(len(table))[:n_train]]
    return AnalogSurrogate(NB201Space(), seed=seed, n_jobs=n_jobs).fit(list(table["arch"]), table)
