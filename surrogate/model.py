"""AnalogSurrogate: XGBoost models predicting an architecture's analog metrics.

- ``acc_1d``: an XGBoost ranker (pairwise objective) blended with an XGBoost regressor. The
  blend is a score whose *order* is what matters; it is mapped linearly onto the training
  labels' mean and spread so that it reads roughly like an accuracy.
- ``acc_1d_std`` and ``avm``: XGBoost regressors, fitted on a signed log of the target
  (both are skewed: a few networks drift or spread a lot) and mapped back. With
  ``params={"avm_per_error": True}`` AVM is modelled as a share of the 1-day error.

Example:
    >>> from search_spaces import NB201Space
    >>> from surrogate import AnalogSurrogate, load_analognas_bench
    >>> bench = load_analognas_bench().sample(200, random_state=0)        # doctest: +SKIP
    >>> model = AnalogSurrogate(NB201Space()).fit(bench["arch"], bench)    # doctest: +SKIP
    >>> model.predict(bench["arch"][:3]).columns.tolist()                  # doctest: +SKIP
    ['acc_1d', 'acc_1d_std', 'avm']
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import platform
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from analognas.checks import check_bool, check_number, not_allowed
from analognas.io import atomic_write_bytes, read_json, write_json

from .domain import SurrogateDomain
from .features import feature_matrix, feature_matrix_encoded
from .hardware import HardwareFeatures, check_hardware, hardware_dict, is_setting
from .metrics import kendall_tau
from .stacked import stack_boosters

TARGETS = ("acc_1d", "acc_1d_std", "avm")
_TARGET_INDEX = pd.Index(TARGETS)
FORMAT = "analognas-surrogate"
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
MODEL_FILES = {
    "acc_1d_ranker": "acc_1d_ranker.json",
    "acc_1d_regressor": "acc_1d_regressor.json",
    "acc_1d_std": "acc_1d_std.json",
    "avm": "avm.json",
}

#: tree settings shared by every model (chosen on AnalogNAS-Bench, n = 50..1000 training cells)
DEFAULT_TREE_PARAMS: dict[str, Any] = {
    "n_estimators": 400,
    "learning_rate": 0.03,
    "max_depth": 4,
    "subsample": 0.8,
    "colsample_bytree": 0.6,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
}
#: default parameters; ``params=`` overrides them key by key (one level deep)
DEFAULT_PARAMS: dict[str, Any] = {
    "acc_1d_ranker": {
        **DEFAULT_TREE_PARAMS,
        # 'mean' draws random pairs over the whole list; the default 'topk' would only learn
        # the order of the head of each query, and we rank all training networks as one query.
        "lambdarank_pair_method": "mean",
        "lambdarank_num_pair_per_sample": 16,
    },
    "acc_1d_regressor": dict(DEFAULT_TREE_PARAMS),
    "acc_1d_std": dict(DEFAULT_TREE_PARAMS),
    "avm": dict(DEFAULT_TREE_PARAMS),
    # weight of the regressor in the acc_1d blend (0: ranker only, 1: regressor only)
    "acc_1d_blend": 0.5,
    # True: model AVM as a share of the 1-day error, avm / (100 - acc_1d) (accuracies in
    # percent), and predict that share times (100 - predicted acc_1d), so that the accuracy
    # model carries part of the AVM prediction (networks that err more lose more to drift).
    # Off by default: on random AnalogNAS-Bench splits it ranked AVM no better than the plain
    # model; the surrogate-assisted loop, whose tables are search-chosen, turns it on (README).
    "avm_per_error": False,
}
#: the error floor (points) under the AVM share, so near-perfect networks do not divide by ~0
_MIN_ERROR = 1.0


#: the surrogates shipped inside the analognas package, per space (folders under analognas/data)
SHIPPED_SURROGATES = {"resnet_like": "resnet_like/surrogate", "nb201": "nb201/surrogate"}


def default_surrogate_path(space_name: str) -> Path:
    """The folder of the surrogate shipped inside the package for ``space_name``.

    Example:
        >>> default_surrogate_path("nb201").name
        'surrogate'
    """
    from importlib.resources import files

    if space_name not in SHIPPED_SURROGATES:
        raise ValueError(f"no surrogate is shipped for space {space_name!r}; shipped: {sorted(SHIPPED_SURROGATES)}")
    return Path(str(files("analognas") / "data" / SHIPPED_SURROGATES[space_name]))


def domain_of(path: str | os.PathLike) -> SurrogateDomain | None:
    """The domain recorded in a saved surrogate's metadata, without loading its models (None
    when the folder has no metadata or the metadata no domain)."""
    meta_path = Path(path) / METADATA_FILE
    if not meta_path.is_file():
        return None
    domain = read_json(meta_path).get("domain")
    try:
        return None if domain is None else SurrogateDomain.from_dict(domain)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{meta_path}: field 'domain': {e}") from None


class NotFittedError(RuntimeError):
    """``predict`` or ``save`` was called before ``fit`` (or ``load``)."""


def _slog(x: np.ndarray) -> np.ndarray:
    """Signed log1p: monotone, keeps the sign, shrinks the long tails of AVM and spread."""
    return np.sign(x) * np.log1p(np.abs(x))


def _slog_inv(y: np.ndarray) -> np.ndarray:
    return np.sign(y) * np.expm1(np.abs(y))


def _merge_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = copy.deepcopy(DEFAULT_PARAMS)
    for key, value in (params or {}).items():
        if key not in merged:
            raise ValueError(f"unknown params key {key!r}; allowed keys: {sorted(merged)}")
        if isinstance(merged[key], dict):
            if not isinstance(value, Mapping):
                raise not_allowed(f"params[{key!r}]", value, "a dict of XGBoost parameters")
            merged[key].update(value)
        else:
            merged[key] = value
    # the parameters are saved to JSON as they are, so numpy scalars stay refused
    check_number("params['acc_1d_blend']", merged["acc_1d_blend"], ge=0, le=1, numpy=False)
    check_bool("params['avm_per_error']", merged["avm_per_error"], numpy=False)
    return merged


def _error(acc: np.ndarray) -> np.ndarray:
    """The 1-day error in points (accuracies in percent), floored at ``_MIN_ERROR``."""
    return np.maximum(100.0 - acc, _MIN_ERROR)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("analognas", "xgboost", "numpy", "pandas"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def space_settings(space: Any) -> dict[str, Any]:
    """The public, JSON-friendly constructor settings of a space (e.g. NB201's channels)."""
    return {k: v for k, v in vars(space).items()
            if not k.startswith("_") and isinstance(v, (int, float, str, bool))}


def _load_booster(path: Path) -> xgb.Booster:
    """One saved XGBoost JSON model, with an error naming the file when it is missing, empty
    or damaged (XGBoost itself aborts the process on an empty buffer)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model file missing from the surrogate folder")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"{path}: empty model file (0 bytes); copy or train the surrogate again")
    try:
        json.loads(data)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{path}: damaged model file, not valid JSON ({e}); it may be truncated: "
                         "copy or train the surrogate again") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
        raise ValueError(f"{path}: XGBoost cannot read this model ({first})") from None
    return booster


def _params_range(table: Any, rows: np.ndarray) -> dict[str, int | None]:
    """``params_min``/``params_max`` of the table's ``params`` column over ``rows`` (None
    without that column)."""
    try:
        params = np.asarray(table["params"], dtype=np.float64).ravel()
    except (KeyError, IndexError, TypeError, ValueError):
        return {}
    params = params[rows & np.isfinite(params)] if params.size == rows.size else params[:0]
    if not params.size:
        return {}
    return {"params_min": int(params.min()), "params_max": int(params.max())}


def target_column(table: Any, name: str, n: int) -> np.ndarray:
    """Column ``name`` of ``table`` (a DataFrame or a mapping) as n floats; a clear error if absent."""
    try:
        col = table[name]
    except (KeyError, IndexError, TypeError):
        raise KeyError(f"table has no column {name!r}; it needs the columns {list(TARGETS)}") from None
    values = np.asarray(col, dtype=np.float64).ravel()
    if values.size != n:
        raise ValueError(f"table column {name!r} has {values.size} values for {n} architectures")
    return values


class AnalogSurrogate:
    """Predicts ``acc_1d`` (a ranking score), ``acc_1d_std`` and ``avm`` of architectures.

    Args:
        space: the search space the architectures belong to (features depend on it).
        params: overrides of :data:`DEFAULT_PARAMS`, e.g. ``{"avm": {"max_depth": 6}}``.
        seed: seeds XGBoost's row and column subsampling.
        n_jobs: XGBoost threads. 1 by default: on a shared 2-core machine, 2 threads made the
            ranker's fit 4-7x *slower* (1,000 cells: 0.8 s vs 5.7 s; the whole bench: 22 s vs
            84 s) and prediction no faster.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> archs = space.sample_many(40, rng=0)
        >>> acc = [sum(a.ops) for a in archs]   # any table with the three columns
        >>> table = {"acc_1d": acc, "acc_1d_std": [1.0] * 40, "avm": [0.5] * 40}
        >>> model = AnalogSurrogate(space, params={"acc_1d_ranker": {"n_estimators": 20}}).fit(archs, table)
        >>> list(model.predict(archs[:2]).columns)
        ['acc_1d', 'acc_1d_std', 'avm']
    """

    def __init__(self, space: Any, params: Mapping[str, Any] | None = None, seed: int = 0,
                 n_jobs: int = 1) -> None:
        self.space = space
        self.params = _merge_params(params)
        self.seed = seed
        self.n_jobs = n_jobs
        self.feature_names_: list[str] | None = None
        self.boosters_: dict[str, xgb.Booster] = {}
        # (the boosters it was made from, their stacked model or None); see _raw
        self._stacked: tuple[dict[str, xgb.Booster], xgb.Booster | None] | None = None
        # Per acc_1d model: mean and std of its predictions on the training rows, so that the
        # blend of two differently scaled outputs never depends on the batch being scored.
        self.scaling_: dict[str, Any] = {}
        self.n_train_: dict[str, int] = {}
        #: what the model was fitted on (see SurrogateDomain); set by fit, saved and loaded
        self.domain_: SurrogateDomain | None = None
        #: the hardware settings of the training rows and the features they give (None: fitted
        #: without hardware); derived from ``domain_.hardware`` on load
        self.hardware_features_: HardwareFeatures | None = None

    def __repr__(self) -> str:
        return f"AnalogSurrogate(space={self.space!r}, seed={self.seed}, n_jobs={self.n_jobs})"

    # --- features ------------------------------------------------------------------------
    def _features(self, archs: Sequence[Any]) -> np.ndarray:
        archs = list(archs)
        arch_type = getattr(self.space, "arch_type", None)
        if arch_type is not None:
            bad = next((a for a in archs if not isinstance(a, arch_type)), None)
            if bad is not None:
                raise TypeError(f"architectures must be {arch_type.__name__} values of {self.space!r}, "
                                f"got {type(bad).__name__}")
        return self._checked(*feature_matrix(self.space, archs))

    def _checked(self, X: np.ndarray, names: list[str]) -> np.ndarray:
        if self.feature_names_ is not None and names + self._hardware_names() != self.feature_names_:
            raise ValueError("this space's features differ from those the model was fitted on; refit it")
        return X

    def _hardware_names(self) -> list[str]:
        return [] if self.hardware_features_ is None else self.hardware_features_.names

    def _with_hardware(self, X: np.ndarray, hardware: Any, check: bool = True) -> np.ndarray:
        """``X`` (architecture features) with the hardware feature columns of ``hardware``
        appended: one setting for every row, or one per row. Each distinct setting is first
        checked against the fitted ones (:func:`surrogate.hardware.check_hardware`)."""
        names = self._hardware_names()
        if hardware is None:
            if names:
                raise ValueError(f"hardware=None is not allowed for this surrogate; allowed: one of the "
                                 f"{len(self.hardware_features_.settings)} hardware settings it takes as "
                                 f"features ({self.hardware_features_.choices()}), or another setting of "
                                 "those fields; pass hardware= or use for_hardware(hw)")
            return X
        settings = row_settings(hardware, len(X))
        if check:
            for setting in {json.dumps(d, sort_keys=True): d for d in settings}.values():
                check_hardware(self.hardware_features_, setting)
        return np.hstack([X, self.hardware_features_.encode(settings)]) if names else X

    def design(self, archs: Sequence[Any], hardware: Any = None,
               rows: np.ndarray | None = None) -> tuple[np.ndarray, HardwareFeatures | None]:
        """The training feature matrix of ``archs`` measured on ``hardware`` (None, one
        setting, or one per architecture), and the :class:`HardwareFeatures` of the settings of
        ``rows`` (a boolean mask; default all; None without hardware): the architecture's
        features, then the hardware fields that differ between those settings."""
        X = self._features(archs)
        if hardware is None:
            return X, None
        settings = row_settings(hardware, len(X))
        fitted = settings if rows is None else [h for h, keep in zip(settings, rows) if keep]
        features = HardwareFeatures(fitted or settings)
        return (np.hstack([X, features.encode(settings)]) if features.names else X), features

    # --- fit -----------------------------------------------------------------------------
    def _xgb_kwargs(self, key: str) -> dict[str, Any]:
        return {**self.params[key], "random_state": self.seed, "n_jobs": self.n_jobs}

    def fit(self, archs: Sequence[Any], table: Any, hardware: Any = None) -> "AnalogSurrogate":
        """Fit all models on ``archs`` and the aligned ``table`` (DataFrame or mapping).

        ``table`` needs the columns acc_1d, acc_1d_std, avm, aligned by position with
        ``archs``. Rows with a ``status`` other than ``"ok"`` and, per target, rows with a NaN
        value are dropped with a warning.

        ``hardware``: what the rows were measured on, an ``AnalogHardware`` (or its
        ``to_dict()``) for all rows or one per row; None: not recorded. It goes into
        ``domain_.hardware``, and the fields that differ between the rows' settings become
        features (:mod:`surrogate.hardware`): predict then needs a setting too.

        Example:
            >>> from analognas import AnalogHardware
            >>> from search_spaces import NB201Space
            >>> space = NB201Space()
            >>> archs = space.sample_many(20, rng=0) * 2
            >>> hw = [AnalogHardware(adc_bits=6)] * 20 + [AnalogHardware(adc_bits=8)] * 20
            >>> table = {"acc_1d": [sum(a.ops) + 2 * i // 20 for i, a in enumerate(archs)],
            ...          "acc_1d_std": [1.0] * 40, "avm": [0.5] * 40}
            >>> model = AnalogSurrogate(space, params={"acc_1d_ranker": {"n_estimators": 20}})
            >>> model.fit(archs, table, hardware=hw).feature_names_[-1]
            'hw_adc_bits'
            >>> model.for_hardware(AnalogHardware(adc_bits=7)).predict(archs[:2]).shape
            (2, 3)
        """
        archs = list(archs)
        n = len(archs)
        ok = np.ones(n, dtype=bool)
        if isinstance(table, pd.DataFrame) and "status" in table.columns:
            if len(table) != n:
                raise ValueError(f"table has {len(table)} rows for {n} architectures")
            ok = (table["status"].to_numpy() == "ok")
            if not ok.all():
                warnings.warn(f"dropping {int((~ok).sum())} row(s) whose status is not 'ok'", stacklevel=2)
        ys = {t: target_column(table, t, n) for t in TARGETS}
        X, hw_features = self.design(archs, hardware, rows=ok)
        names = feature_matrix(self.space, [])[1] + ([] if hw_features is None else hw_features.names)

        boosters: dict[str, xgb.Booster] = {}
        scaling: dict[str, Any] = {}
        n_train: dict[str, int] = {}
        if self.params["avm_per_error"]:  # NaN where acc_1d is missing: those rows drop out
            ys["avm"] = ys["avm"] / _error(ys["acc_1d"])
        for target in TARGETS:
            y = ys[target]
            bad = ok & ~np.isfinite(y)
            if bad.any():
                warnings.warn(f"{target}: dropping {int(bad.sum())} row(s) with NaN or infinite values",
                              stacklevel=2)
            rows = ok & np.isfinite(y)
            if rows.sum() < 2:
                raise ValueError(f"{target}: need at least 2 rows with a finite value, got {int(rows.sum())}")
            b, sc = self._fit_target(target, X[rows], y[rows])
            boosters.update(b)
            scaling.update(sc)
            n_train[target] = int(rows.sum())
        self.feature_names_ = names
        self.boosters_ = boosters
        self.scaling_ = scaling
        self.n_train_ = n_train
        self.hardware_features_ = hw_features
        # the best score it gives a measured network: a candidate above it is predicted better
        # than anything in the table, which is where the model extrapolates
        score_max = float(self.predict_features(X[ok])["acc_1d"].max())
        self.domain_ = SurrogateDomain(space=self.space.name, n_rows=int(ok.sum()),
                                       hardware=None if hw_features is None else hw_features.settings,
                                       acc_1d_score_max=score_max, **_params_range(table, ok))
        return self

    def _fit_target(self, target: str, X: np.ndarray, y: np.ndarray
                    ) -> tuple[dict[str, xgb.Booster], dict[str, Any]]:
        """Fit the model(s) of one target; returns their boosters and scaling entries."""
        if target != "acc_1d":
            regressor = xgb.XGBRegressor(**self._xgb_kwargs(target)).fit(X, _slog(y))
            return {target: regressor.get_booster()}, {}
        ranker = xgb.XGBRanker(objective="rank:pairwise", **self._xgb_kwargs("acc_1d_ranker"))
        # All training networks form one query: their whole order is the label.
        ranker.fit(X, y, qid=np.zeros(len(y), dtype=np.int64))
        regressor = xgb.XGBRegressor(**self._xgb_kwargs("acc_1d_regressor")).fit(X, y)
        boosters = {"acc_1d_ranker": ranker.get_booster(), "acc_1d_regressor": regressor.get_booster()}
        scaling = {}
        for key, booster in boosters.items():
            p = booster.inplace_predict(X).astype(np.float64)
            scaling[key] = [float(p.mean()), float(p.std()) or 1.0]
        scaling["acc_1d_label"] = [float(y.mean()), float(y.std()) or 1.0]
        return boosters, scaling

    def _predict_target(self, target: str, X: np.ndarray, boosters: Mapping[str, xgb.Booster],
                        scaling: Mapping[str, Any]) -> np.ndarray:
        """One target's predictions from ``boosters`` (see :meth:`_from_raw`)."""
        keys = ("acc_1d_ranker", "acc_1d_regressor") if target == "acc_1d" else (target,)
        return self._from_raw(target, {k: boosters[k].inplace_predict(X) for k in keys if k in boosters}, scaling)

    def _from_raw(self, target: str, raw: Mapping[str, np.ndarray], scaling: Mapping[str, Any]) -> np.ndarray:
        """One target's predictions, on the scale it was fitted on (AVM: the share of the
        error with ``avm_per_error``), from the models' raw outputs ``raw``."""
        if target != "acc_1d":
            return _slog_inv(np.asarray(raw[target], dtype=np.float64))
        w = float(self.params["acc_1d_blend"])
        z = 0.0
        for key, weight in (("acc_1d_ranker", 1.0 - w), ("acc_1d_regressor", w)):
            if weight > 0:
                mean, std = scaling[key]
                z = z + weight * (np.asarray(raw[key], dtype=np.float64) - mean) / std
        label_mean, label_std = scaling["acc_1d_label"]
        return label_mean + label_std * z

    def _raw(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Every model's raw output on ``X``: one call to the stacked model when it exists."""
        cached = getattr(self, "_stacked", None)  # None too in a model pickled before stacking
        if cached is None or cached[0] is not self.boosters_:
            cached = self._stacked = (self.boosters_, stack_boosters(list(self.boosters_.values()), self.n_jobs))
        stacked = cached[1]
        if stacked is None:
            return {k: b.inplace_predict(X) for k, b in self.boosters_.items()}
        out = np.asarray(stacked.inplace_predict(X)).reshape(len(X), -1)
        return {k: out[:, i] for i, k in enumerate(self.boosters_)}

    # --- predict -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.boosters_:
            raise NotFittedError("this AnalogSurrogate is not fitted yet: call fit(archs, table) "
                                 "or AnalogSurrogate.load(path) first")

    def predict_features(self, X: np.ndarray) -> pd.DataFrame:
        """Predictions from an already computed feature matrix (see :func:`feature_matrix`)."""
        self._check_fitted()
        # XGBoost compares float32 values; converting here is faster than inside each model
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names_):
            raise ValueError(f"X must have shape (n, {len(self.feature_names_)}), got {X.shape}")
        if len(X) == 0:
            return pd.DataFrame({t: np.zeros(0) for t in TARGETS})
        raw = self._raw(X)
        pred = [self._from_raw(t, raw, self.scaling_) for t in TARGETS]
        if self.params["avm_per_error"]:
            pred[2] = pred[2] * _error(pred[0])
        # A spread is never negative, though the regressor can predict slightly below 0. AVM
        # stays signed: tables hold small negative AVMs (test noise around a loss near 0), and
        # their order among near-zero networks is what the AVM model ranks.
        pred[1] = np.maximum(pred[1], 0.0)
        # one 2-d block with a ready column index: 5x faster than a dict of columns
        return pd.DataFrame(np.column_stack(pred), index=pd.RangeIndex(len(X)), columns=_TARGET_INDEX, copy=False)

    def predict(self, archs: Sequence[Any], hardware: Any = None) -> pd.DataFrame:
        """DataFrame with columns acc_1d (score: order matters), acc_1d_std, avm; one row per arch.

        ``hardware``: the setting to predict for (an ``AnalogHardware`` or its ``to_dict()``,
        or one per arch); needed when the surrogate takes hardware features, checked against
        the fitted settings otherwise (see :meth:`for_hardware`).
        """
        self._check_fitted()
        return self.predict_features(self._with_hardware(self._features(archs), hardware))

    def predict_encoded(self, enc: np.ndarray, hardware: Any = None) -> pd.DataFrame:
        """``predict`` for rows of ``space.encode_many`` (what the evolutionary search holds
        for spaces with encoded operations); the same predictions, without decoding."""
        self._check_fitted()
        return self.predict_features(self._with_hardware(
            self._checked(*feature_matrix_encoded(self.space, enc)), hardware))

    def for_hardware(self, hardware: Any, allow_unseen: bool = False) -> "HardwarePredictor":
        """This surrogate bound to one hardware setting: a predictor with ``predict``,
        ``predict_encoded`` and ``predict_features`` (of architecture features) that append
        the setting's hardware features, so a search needs no change.

        The setting is checked once against the fitted ones: a field that never varied in
        training but differs (every difference, for a surrogate fitted on one setting), or a
        value the surrogate cannot place, is a one-line ValueError (a warning with
        ``allow_unseen``); a number outside the fitted range warns
        (:class:`surrogate.hardware.HardwareDomainWarning`). The predictor's ``outside``
        lists those reasons, ``seen`` says whether the setting was fitted on.
        """
        self._check_fitted()
        setting = hardware_dict(hardware)
        outside = check_hardware(self.hardware_features_, setting, allow_unseen=allow_unseen)
        return HardwarePredictor(self, setting, outside)

    def score(self, archs: Sequence[Any], table: Any) -> dict[str, float]:
        """Kendall tau between predictions and ``table``'s true values, per target (NaN rows skipped)."""
        archs = list(archs)
        pred = self.predict(archs)
        out = {}
        for target in TARGETS:
            y = target_column(table, target, len(archs))
            rows = np.isfinite(y)
            out[target] = kendall_tau(y[rows], pred[target].to_numpy()[rows]) if rows.sum() > 1 else float("nan")
        return out

    def cross_validate(self, archs: Sequence[Any], table: Any, cv: int = 5,
                       seed: int | None = None, hardware: Any = None) -> dict[str, float]:
        """Out-of-fold Kendall tau per target, how well this setting ranks unseen networks.

        The rows are split into ``cv`` folds (shuffled with ``seed``, default ``self.seed``) that
        keep identical networks together (:func:`surrogate.folds.grouped_folds`); a fresh model
        with this one's parameters is fitted on all folds but one and predicts that one.
        Returns ``{target: mean tau over folds}`` (folds where either side is constant are
        left out). ``self`` is not fitted or changed. ``hardware``: as in :meth:`fit`; a
        network measured on several settings stays in one fold.

        Example:
            >>> from search_spaces import NB201Space
            >>> space = NB201Space()
            >>> archs = space.sample_many(40, rng=0)
            >>> table = {"acc_1d": [sum(a.ops) for a in archs], "acc_1d_std": [a.ops[0] for a in archs],
            ...          "avm": [a.ops[1] for a in archs]}
            >>> small = {k: {"n_estimators": 20} for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}
            >>> AnalogSurrogate(space, params=small).cross_validate(archs, table, cv=4)["acc_1d"] > 0.5
            True
        """
        from .folds import fold_taus

        archs = list(archs)
        settings = None if hardware is None else row_settings(hardware, len(archs))

        def fit_predict(train: np.ndarray, test: np.ndarray, frame: pd.DataFrame) -> pd.DataFrame:
            model = AnalogSurrogate(self.space, params=self.params, seed=self.seed, n_jobs=self.n_jobs)
            model.fit([archs[i] for i in train], frame.iloc[train].reset_index(drop=True),
                      hardware=None if settings is None else [settings[i] for i in train])
            X = model._features([archs[i] for i in test])
            # a fold may lack a setting's every row: score it anyway, unchecked
            return model.predict_features(X if settings is None else model._with_hardware(
                X, [settings[i] for i in test], check=False))

        return fold_taus(self.space, archs, table, fit_predict, cv, self.seed if seed is None else seed)

    # --- tuning --------------------------------------------------------------------------
    def tune(self, archs: Sequence[Any], table: Any, n_trials: int = 30, cv: int = 3,
             seed: int | None = None, targets: Sequence[str] = ("acc_1d",),
             progress: bool = False, hardware: Any = None) -> dict[str, Any]:
        """Choose tree parameters with Optuna (TPE, seeded) by cross-validated Kendall tau.

        For each target in ``targets`` a separate study maximises the mean tau over ``cv``
        folds; the best parameters go into ``self.params`` (the acc_1d ranker and regressor
        share theirs). Call ``fit`` afterwards. Returns ``{target: best_params}``.
        ``hardware``: as in :meth:`fit`.
        """
        from .tuning import tune_params

        best = tune_params(self, list(archs), table, n_trials=n_trials, cv=cv,
                           seed=self.seed if seed is None else seed, targets=targets, progress=progress,
                           hardware=hardware)
        for target, p in best.items():
            keys = ("acc_1d_ranker", "acc_1d_regressor") if target == "acc_1d" else (target,)
            for key in keys:
                self.params[key].update(p)
        return best

    # --- persistence ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """What :meth:`save` writes next to the XGBoost JSON models."""
        self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "space": {"name": self.space.name, "repr": repr(self.space),
                      "settings": space_settings(self.space)},
            "feature_names": list(self.feature_names_),
            "targets": list(TARGETS),
            "models": dict(MODEL_FILES),
            "params": self.params,
            "seed": self.seed,
            "scaling": self.scaling_,
            "n_train": self.n_train_,
            "domain": None if self.domain_ is None else self.domain_.to_dict(),
            "versions": _versions(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the models (XGBoost JSON) and ``metadata.json`` into the folder ``path``."""
        meta = self.metadata()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for key, fname in MODEL_FILES.items():
            atomic_write_bytes(folder / fname, bytes(self.boosters_[key].save_raw(raw_format="json")))
        # Metadata last: a folder with metadata.json always has all its models.
        write_json(folder / METADATA_FILE, meta)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, space: Any = None, n_jobs: int = 1) -> "AnalogSurrogate":
        """Load a folder written by :meth:`save`.

        ``space``: the space to use; it must match the saved one (name and settings). Without
        it the saved space is rebuilt with ``search_spaces.get_space``. A model whose feature
        names differ from what this version computes for the space is refused.
        """
        folder = Path(path)
        meta = read_json(folder / METADATA_FILE)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{folder}: not an analognas surrogate (metadata format {meta.get('format')!r})"
                             if isinstance(meta, dict) else f"{folder}: metadata is not a JSON object")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder}: surrogate format version {meta.get('format_version')!r}; "
                             f"this version reads {FORMAT_VERSION}")
        saved = meta["space"]
        if space is None:
            from search_spaces import get_space

            space = get_space(saved["name"], **saved.get("settings", {}))
        if space.name != saved["name"] or repr(space) != saved["repr"]:
            raise ValueError(f"{folder}: the surrogate was made for {saved['repr']} "
                             f"(space {saved['name']!r}), not for {space!r}")
        model = cls(space, params={"avm_per_error": False, **meta["params"]}, seed=meta["seed"], n_jobs=n_jobs)
        # a model saved before domains were recorded knows its space and row count
        domain = meta.get("domain") or {"space": saved["name"], "n_rows": meta["n_train"].get("acc_1d")}
        try:
            model.domain_ = SurrogateDomain.from_dict(domain)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{folder / METADATA_FILE}: field 'domain': {e}") from None
        if model.domain_.hardware is not None:
            model.hardware_features_ = HardwareFeatures(model.domain_.hardware)
        names = feature_matrix(space, [])[1] + model._hardware_names()
        if names != meta["feature_names"]:
            only_saved = [n for n in meta["feature_names"] if n not in names]
            only_now = [n for n in names if n not in meta["feature_names"]]
            raise ValueError(
                f"{folder}: the surrogate's {len(meta['feature_names'])} features differ from the "
                f"{len(names)} this version computes for {space!r} (only in the file: {only_saved[:5]}, "
                f"only now: {only_now[:5]}); refit it"
            )
        # (params: a model saved before avm_per_error existed predicts AVM on its own)
        boosters = {}
        # Our fixed file names, never paths taken from the metadata.
        for key, fname in MODEL_FILES.items():
            booster = _load_booster(folder / fname)
            booster.set_param({"nthread": n_jobs})
            if booster.num_features() != len(names):
                raise ValueError(f"{folder / fname}: model has {booster.num_features()} features, "
                                 f"metadata lists {len(names)}")
            boosters[key] = booster
        model.feature_names_ = list(names)
        model.boosters_ = boosters
        model.scaling_ = {k: list(v) for k, v in meta["scaling"].items()}
        model.n_train_ = dict(meta["n_train"])
        return model


def row_settings(hardware: Any, n: int) -> list[dict[str, Any]]:
    """``n`` hardware dicts (:func:`surrogate.hardware.hardware_dict`) from one setting (an
    ``AnalogHardware`` or a mapping) or a sequence of ``n`` of them."""
    if is_setting(hardware):
        return [hardware_dict(hardware)] * n
    hardware = list(hardware)
    if len(hardware) != n:
        raise ValueError(f"hardware has {len(hardware)} settings for {n} architectures; give one, or one per "
                         "architecture")
    cache: dict[int, dict[str, Any]] = {}  # rows often share one setting object: normalise it once
    return [cache.setdefault(id(h), hardware_dict(h)) for h in hardware]


class HardwarePredictor:
    """An :class:`AnalogSurrogate` bound to one hardware setting (see
    :meth:`AnalogSurrogate.for_hardware`): what a search needs of a surrogate, for that hardware.

    Attributes:
        model: the surrogate.
        hardware: the setting (``AnalogHardware.to_dict()``).
        outside: why the setting lies outside the surrogate's domain (empty: inside).
        seen: whether the surrogate was fitted on exactly this setting.
    """

    def __init__(self, model: AnalogSurrogate, hardware: dict[str, Any], outside: list[str]) -> None:
        self.model = model
        self.hardware = hardware
        self.outside = list(outside)
        features = model.hardware_features_
        self.seen = features is not None and hardware in features.settings
        self._row = features.encode([hardware]) if features is not None and features.names else None

    def __repr__(self) -> str:
        return f"HardwarePredictor({self.model!r}, outside={self.outside!r})"

    @property
    def space(self) -> Any:
        return self.model.space

    @property
    def domain_(self) -> SurrogateDomain | None:
        return self.model.domain_

    def predict_features(self, X: np.ndarray) -> pd.DataFrame:
        """Predictions from architecture features (:func:`feature_matrix`), for this hardware."""
        X = np.asarray(X, dtype=np.float32)
        if self._row is not None:
            X = np.hstack([X, np.broadcast_to(self._row.astype(np.float32), (len(X), self._row.shape[1]))])
        return self.model.predict_features(X)

    def predict(self, archs: Sequence[Any]) -> pd.DataFrame:
        """:meth:`AnalogSurrogate.predict` for this hardware."""
        return self.predict_features(self.model._features(archs))

    def predict_encoded(self, enc: np.ndarray) -> pd.DataFrame:
        """:meth:`AnalogSurrogate.predict_encoded` for this hardware."""
        return self.predict_features(self.model._checked(*feature_matrix_encoded(self.model.space, enc)))
