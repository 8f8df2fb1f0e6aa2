"""Optional Optuna tuning of the surrogate's tree parameters by cross-validated Kendall tau.

Used through :meth:`surrogate.AnalogSurrogate.tune`. The sampler is a seeded TPE and the folds
come from the same seed, so the same data, seed and trial count give the same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .folds import grouped_folds, network_groups
from .metrics import kendall_tau

TUNED = ("n_estimators", "learning_rate", "max_depth", "subsample", "colsample_bytree",
         "min_child_weight", "reg_lambda")


def suggest_tree_params(trial: Any) -> dict[str, Any]:
    """The tuned region: tree count and size, learning rate, subsampling, regularisation."""
    return {
        "n_estimators": trial.suggest_int("n_estimators", 100, 1000, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 0.5, 10.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
    }


def tune_params(model: Any, archs: Sequence[Any], table: Any, n_trials: int = 30, cv: int = 3,
                seed: int = 0, targets: Sequence[str] = ("acc_1d",),
                progress: bool = False, hardware: Any = None) -> dict[str, dict[str, Any]]:
    """Best tree parameters per target for ``model`` (an AnalogSurrogate), by CV Kendall tau
    (``hardware``: the rows' hardware settings, as in ``AnalogSurrogate.fit``)."""
    import optuna

    from .model import TARGETS

    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"targets {unknown} are not allowed; choose from {list(TARGETS)}")
    if cv < 2:
        raise ValueError(f"cv={cv!r} must be at least 2")
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r} must be at least 1")
    X = model.design(archs, hardware)[0]
    groups = network_groups(model.space, archs)
    verbosity = optuna.logging.get_verbosity()
    if not progress:  # restored below: Optuna's log level is process-wide
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return {t: _tune_target(model, X, groups, table, t, n_trials, cv, seed, progress) for t in targets}
    finally:
        optuna.logging.set_verbosity(verbosity)


def _tune_target(model: Any, X: np.ndarray, groups: Sequence[Any], table: Any, target: str, n_trials: int, cv: int,
                 seed: int, progress: bool) -> dict[str, Any]:
    import optuna

    from .model import AnalogSurrogate, target_column

    y = target_column(table, target, len(X))
    rows = np.isfinite(y)
    Xt, yt = X[rows], y[rows]
    if len(yt) < 2 * cv:
        raise ValueError(f"{target}: {len(yt)} rows are too few for {cv}-fold tuning")
    folds = grouped_folds([g for g, ok in zip(groups, rows) if ok], cv, seed)
    keys = ("acc_1d_ranker", "acc_1d_regressor") if target == "acc_1d" else (target,)

    def objective(trial: Any) -> float:
        tree = suggest_tree_params(trial)
        # a fold fits one target on its own values: AVM's trees are tuned on AVM itself, also
        # for a model that will fit it as a share of the error (avm_per_error)
        trial_model = AnalogSurrogate(model.space, params={**{k: tree for k in keys},
                                                           "acc_1d_blend": model.params["acc_1d_blend"]},
                                      seed=model.seed, n_jobs=model.n_jobs)
        taus = []
        for train, test in folds:
            boosters, scaling = trial_model._fit_target(target, Xt[train], yt[train])
            tau = kendall_tau(yt[test], trial_model._predict_target(target, Xt[test], boosters, scaling))
            taus.append(tau if np.isfinite(tau) else 0.0)  # a constant prediction ranks nothing
        return float(np.mean(taus))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    # The first trial is the current setting, so tuning never ends below it on the CV score.
    study.enqueue_trial({k: model.params[keys[-1]][k] for k in TUNED})
    study.optimize(objective, n_trials=n_trials, show_progress_bar=progress)
    return dict(study.best_params)
