"""Constrained evolutionary search against a surrogate, within a time budget.

The problem: maximise an objective of the surrogate's predicted metrics (by default
acc_1d / acc_1d_std, see :class:`Objective`) subject to

- parameter count ``< max_params``   (exact, from the search space),
- crossbar tiles ``< max_tiles``     (exact, from the search space),
- predicted AVM ``< max_avm``        (from the surrogate),
- energy and latency per inference ``< max_energy_j``, ``< max_latency_s``, and chips needed
  ``<= max_chips``, on ``chip``      (exact, from :mod:`analognas.cost`).

The search *strategy* (:class:`EvolutionarySearch`, and the baselines in
``analognas.baselines``) is separate from the search *state* (:class:`Archive`: every scored
architecture, the memory that keeps any from being scored twice, and the history), in the way
Optuna separates samplers from studies.

The surrogate is duck-typed: any object with ``predict(archs) -> DataFrame`` holding the
columns ``acc_1d`` (a score whose order matters; for a ranker it is not an accuracy),
``acc_1d_std`` and ``avm``.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space()
    >>> result = EvolutionarySearch(space, my_surrogate, Constraints(max_avm=1.0),
    ...                             iterations=20, progress=False).run()   # doctest: +SKIP
    >>> result.best, result.best_prediction["avm"] < 1.0                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from analognas.progress import progress_bar

from analognas.checks import check_bool, check_int, check_number, not_allowed
from analognas.cost import HERMES_ONE_PHASE, IMCChip, totals_encoded, totals_many
from search_spaces.base import SearchSpace, Seed, as_rng, pick

PREDICTED = ("acc_1d", "acc_1d_std", "avm")
#: generations of an evolutionary search given neither ``iterations`` nor a time budget
DEFAULT_ITERATIONS = 100
#: a value exactly at a limit breaks the strict inequality by this much (in limit units)
_AT_LIMIT = 1e-6


# --------------------------------------------------------------------------------------------
# constraints
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Constraints:
    """Limits an architecture must stay strictly below; ``None`` switches a limit off.

    ``max_params`` and ``max_tiles`` are checked exactly with the search space (tiles of
    ``tile_size`` x ``tile_size`` cells, for inputs of ``input_shape`` and ``num_classes``
    outputs); ``max_avm`` is checked against the surrogate's predicted AVM.

    ``max_energy_j`` (joules per inference), ``max_latency_s`` (seconds per inference, layers
    one after the other) and ``max_chips`` (chips needed to hold every weight; the one limit
    that may be met: at most ``max_chips``) are checked exactly with the IMC cost model
    (:func:`analognas.cost.network_cost`) on ``chip`` (default HERMES in one-phase mode, with
    its own core size, not ``tile_size``).

    Example:
        >>> c = Constraints(max_params=500_000, max_avm=1.0)
        >>> c.violation(np.array([400_000]), np.array([3]), np.array([1.5])).round(2)
        array([0.5])
    """

    max_params: int | None = None
    max_avm: float | None = None
    max_tiles: int | None = None
    tile_size: int = 512
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    max_energy_j: float | None = None
    max_latency_s: float | None = None
    max_chips: int | None = None
    chip: IMCChip = HERMES_ONE_PHASE

    def __post_init__(self) -> None:
        for name in ("max_params", "max_tiles"):
            check_int(name, getattr(self, name), 1, none_ok=True)
        check_number("max_avm", self.max_avm, none_ok=True)
        check_int("tile_size", self.tile_size, 1)
        shape = tuple(self.input_shape)
        if len(shape) != 3 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
            raise not_allowed("input_shape", self.input_shape, "(channels, height, width) positive integers")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in shape))
        check_int("num_classes", self.num_classes, 1)
        for name in ("max_energy_j", "max_latency_s"):
            check_number(name, getattr(self, name), gt=0, none_ok=True)
        check_int("max_chips", self.max_chips, 1, none_ok=True)
        if not isinstance(self.chip, IMCChip):
            raise ValueError(f"chip={self.chip!r} is not allowed; allowed: an analognas.cost.IMCChip")

    @property
    def has_exact(self) -> bool:
        """True when a limit is checked exactly from the architecture (parameters, tiles, costs)."""
        return self.max_params is not None or self.max_tiles is not None or self.has_cost

    @property
    def has_cost(self) -> bool:
        """True when energy, latency or chips are limited (counted with the IMC cost model)."""
        return self.max_energy_j is not None or self.max_latency_s is not None or self.max_chips is not None

    def cost_violation(self, totals: dict[str, np.ndarray]) -> np.ndarray:
        """The part of ``violation`` due to the cost limits, from the cost model's totals
        (``energy_j``, ``latency_s``, ``chips`` arrays): excess as a fraction of each limit."""
        total = np.zeros(np.shape(totals["energy_j"]))
        # chips are whole: "fits on max_chips chips" allows max_chips itself
        chips = None if self.max_chips is None else self.max_chips + 1
        for key, limit in (("energy_j", self.max_energy_j), ("latency_s", self.max_latency_s), ("chips", chips)):
            if limit is not None:
                value = np.asarray(totals[key], dtype=float)
                total += np.where(value >= limit, (value - limit) / limit + _AT_LIMIT, 0.0)
        return total

    def violation(self, params: np.ndarray, tiles: np.ndarray, avm: np.ndarray | None = None) -> np.ndarray:
        """How far each architecture is from feasible; 0 exactly when it is feasible
        (``avm=None``: the exact limits alone).

        The sum over the active limits of the excess relative to the limit: parameters and
        tiles as a fraction of their limit, AVM in points over ``max(|max_avm|, 1)``. A value
        at the limit counts as a tiny violation, since the inequalities are strict. This
        orders infeasible architectures for "least infeasible".
        """
        params = np.asarray(params, dtype=float)
        total = np.zeros(params.shape)
        for value, limit, scale in (
            (params, self.max_params, self.max_params),
            (tiles, self.max_tiles, self.max_tiles),
            (avm, self.max_avm, None if self.max_avm is None else max(abs(self.max_avm), 1.0)),
        ):
            if limit is None or value is None:
                continue
            value = np.asarray(value, dtype=float)
            excess = np.where(value >= limit, (value - limit) / scale + _AT_LIMIT, 0.0)
            # a NaN prediction cannot be trusted to satisfy a limit
            total += np.where(np.isnan(value), np.inf, excess)
        return total

    def exact_violation(self, params: int, tiles: float) -> float:
        """``violation`` of one architecture counting only the exact limits (parameters and
        tiles); plain Python, since the search calls it once per candidate."""
        total = 0.0
        if self.max_params is not None and params >= self.max_params:
            total += (params - self.max_params) / self.max_params + _AT_LIMIT
        if self.max_tiles is not None and tiles >= self.max_tiles:
            total += (tiles - self.max_tiles) / self.max_tiles + _AT_LIMIT
        return total


# --------------------------------------------------------------------------------------------
# objective
# --------------------------------------------------------------------------------------------
ObjectiveLike = str | Callable[[pd.DataFrame], Any]


class Objective:
    """The quantity the search maximises, computed from predicted metrics.

    - ``"acc_1d"``: the surrogate's acc_1d score as it is.
    - ``"acc_1d/std"``: the paper's accuracy over its spread. The ranker's acc_1d is a score
      on an arbitrary scale (it can be negative), so dividing it by a standard deviation means
      nothing. We combine the two on a common, fixed scale instead:
      ``z(acc_1d) - z(log acc_1d_std)``, where ``z`` standardises with the median and the
      inter-quartile range of a reference sample: the first batch the search scores (its
      coverage-sampled initial population). The reference is frozen once set, so an
      architecture's objective never depends on what else was scored with it. Predicted
      spreads are floored at a tenth of the reference median before the log (a regressor can
      predict zero or negative spreads).
    - a callable ``f(df) -> Series | array`` over a DataFrame with the columns acc_1d,
      acc_1d_std, avm, params and tiles.

    Example:
        >>> obj = Objective("acc_1d")
        >>> obj({"acc_1d": np.array([1.0, 2.0]), "acc_1d_std": np.ones(2), "avm": np.zeros(2),
        ...      "params": np.ones(2), "tiles": np.ones(2)}).tolist()
        [1.0, 2.0]
    """

    NAMES = ("acc_1d/std", "acc_1d")
    #: what each named objective computes, in words (for --help, printouts and result.json)
    FORMULAS = {
        "acc_1d/std": "z(acc_1d score) - z(log acc_1d_std): the acc_1d ranking score and the log of the "
                      "predicted spread, each standardised (median, IQR) on the first population scored; "
                      "not a ratio",
        "acc_1d": "the surrogate's acc_1d ranking score",
    }

    def __init__(self, spec: ObjectiveLike = "acc_1d/std") -> None:
        if isinstance(spec, Objective):
            spec = spec.spec
        if not callable(spec) and spec not in self.NAMES:
            raise ValueError(f"objective={spec!r} is not allowed; use one of {list(self.NAMES)} or a callable")
        self.spec = spec
        self.reference: dict[str, float] | None = None

    @property
    def name(self) -> str:
        return self.spec if isinstance(self.spec, str) else getattr(self.spec, "__name__", "custom")

    @property
    def formula(self) -> str:
        """What the objective computes, in words."""
        return self.FORMULAS[self.spec] if isinstance(self.spec, str) else "a user-defined function of the predictions"

    def calibrate(self, cols: dict[str, np.ndarray]) -> None:
        """Freeze the reference scale from a first sample of predictions (once)."""
        if self.reference is not None or self.spec != "acc_1d/std":
            return
        score = np.asarray(cols["acc_1d"], dtype=float)
        std = np.asarray(cols["acc_1d_std"], dtype=float)
        positive = std[np.isfinite(std) & (std > 0)]
        floor = 0.1 * float(np.median(positive)) if len(positive) else 1e-3
        log_std = np.log(np.maximum(std, floor))
        self.reference = {
            "floor": floor,
            "score_mid": _nanmedian(score), "score_scale": _robust_scale(score),
            "log_std_mid": _nanmedian(log_std), "log_std_scale": _robust_scale(log_std),
        }

    def __call__(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        if callable(self.spec):
            values = self.spec(pd.DataFrame(cols))
            values = np.asarray(values, dtype=float).reshape(-1)
            if len(values) != len(cols["acc_1d"]):
                raise ValueError(
                    f"objective {self.name} returned {len(values)} values for {len(cols['acc_1d'])} rows"
                )
        elif self.spec == "acc_1d":
            values = np.asarray(cols["acc_1d"], dtype=float)
        else:
            if self.reference is None:
                self.calibrate(cols)
            r = self.reference
            z_score = (np.asarray(cols["acc_1d"], dtype=float) - r["score_mid"]) / r["score_scale"]
            log_std = np.log(np.maximum(np.asarray(cols["acc_1d_std"], dtype=float), r["floor"]))
            values = z_score - (log_std - r["log_std_mid"]) / r["log_std_scale"]
        # NaN objectives rank last rather than poisoning comparisons
        return np.where(np.isnan(values), -np.inf, values)


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else 0.0


def _robust_scale(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return 1.0
    q25, q75 = np.percentile(x, [25, 75])
    scale = (q75 - q25) / 1.349  # the IQR of a normal distribution is 1.349 sigma
    if scale <= 0:
        scale = float(np.std(x))
    return scale if scale > 0 else 1.0


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SearchResult:
    """What a search returns.

    Attributes:
        best: the best feasible architecture (or the least infeasible when ``feasible`` is False).
        best_prediction: its predicted acc_1d, acc_1d_std, avm, exact params and tiles,
            objective and violation.
        feasible: whether ``best`` satisfies every constraint.
        message: how the search ended, in words.
        elapsed_s: wall-clock seconds of ``run``.
        n_scored: architectures scored.
        interrupted: whether Ctrl-C ended the search before its limits did.
        history: one row per scored architecture (no duplicates), in scoring order: generation,
            arch, acc_1d, acc_1d_std, avm (predicted), params, tiles (exact; tiles <NA> unless
            counted, see ``count_tiles``), feasible, violation, objective.
        pareto_front: the feasible architectures of ``history`` that no other feasible one
            beats on predicted acc_1d (max), avm (min) and params (min) at once.

    ``history`` and ``pareto_front`` are built from the search's archive when first read
    (a search scores 100,000s of candidates; ``run`` returns without tabulating them).
    """

    best: Any
    best_prediction: dict[str, float]
    feasible: bool
    message: str
    elapsed_s: float = 0.0
    n_scored: int = 0
    archive: "Archive | None" = dataclasses.field(default=None, repr=False, compare=False)
    #: True when Ctrl-C ended the search early (``best`` is the best of what was scored)
    interrupted: bool = False

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        if self.archive is None:
            return Archive.empty_history()
        return self.archive.history(self.n_scored)

    @functools.cached_property
    def pareto_front(self) -> pd.DataFrame:
        if self.archive is None:
            return Archive.empty_history()
        return self.archive.front(self.history)


_PARETO_CHUNK = 256


def _dominated_by(front: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``out[i, j]``: front member j dominates point i (all objectives minimised)."""
    f, p = front[None, :, :], points[:, None, :]
    return (f <= p).all(axis=2) & (f < p).any(axis=2)


def pareto_front(df: pd.DataFrame, minimise: Sequence[str] = ()) -> pd.DataFrame:
    """Rows of ``df`` not dominated on acc_1d (max), avm (min), params (min) and the columns
    ``minimise`` (e.g. ``("energy_j",)``).

    Example:
        >>> df = pd.DataFrame({"acc_1d": [1, 2, 2], "avm": [0.5, 1.0, 2.0], "params": [10, 10, 10]})
        >>> pareto_front(df).index.tolist()
        [1, 0]
    """
    if len(df) == 0:
        return df.copy()
    # Minimise every column; sorted so that a dominator always comes before the point it dominates.
    x = np.column_stack([-df["acc_1d"].to_numpy(dtype=float), df["avm"].to_numpy(dtype=float),
                         df["params"].to_numpy(dtype=float)] + [df[c].to_numpy(dtype=float) for c in minimise])
    order = np.lexsort(x.T[::-1])
    x = x[order]
    # Chunks of points are checked at once against the front so far and against the earlier
    # points of their own chunk. Points dropped from earlier chunks need no check: whatever
    # they dominate, the front member dominating them does too (dominance is transitive).
    keep = np.zeros(len(x), dtype=bool)
    front = x[:0]
    for lo in range(0, len(x), _PARETO_CHUNK):
        idx = lo + np.flatnonzero(~_dominated_by(front, x[lo : lo + _PARETO_CHUNK]).any(axis=1))
        # the few survivors against each other: j < i may dominate i
        rest = x[idx]
        earlier = np.tri(len(idx), k=-1, dtype=bool)
        idx = idx[~(_dominated_by(rest, rest) & earlier).any(axis=1)]
        keep[idx] = True
        front = np.concatenate([front, x[idx]])
    keep = order[keep]
    return df.iloc[keep]


# --------------------------------------------------------------------------------------------
# state: the archive of scored architectures
# --------------------------------------------------------------------------------------------
class _Growing:
    """A numpy array of rows (scalars, or rows of ``width``) that grows by doubling, so
    appends cost O(1) amortised."""

    def __init__(self, dtype: Any, width: int | None = None) -> None:
        self.shape = () if width is None else (width,)
        self.data = np.empty((1024, *self.shape), dtype=dtype)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        k = len(values)
        if self.n + k > len(self.data):
            new = np.empty((max(2 * len(self.data), self.n + k), *self.shape), dtype=self.data.dtype)
            new[: self.n] = self.data[: self.n]
            self.data = new
        self.data[self.n : self.n + k] = values
        self.n += k

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class Archive:
    """Every architecture scored in one search, with its predictions and exact counts.

    It is the search's memory: ``arch in archive`` says whether an architecture was scored,
    and :meth:`score` never scores one twice. Exact parameter and tile counts are cached per
    architecture, so a candidate rejected for its size is not counted again.

    Example:
        >>> archive = Archive(space, surrogate, Constraints(max_avm=1.0))     # doctest: +SKIP
        >>> idx = archive.score(space.sample_many(10, rng=0), generation=0)  # doctest: +SKIP
    """

    def __init__(self, space: SearchSpace, surrogate: Any, constraints: Constraints,
                 objective: ObjectiveLike | Objective = "acc_1d/std", batch_size: int = 1000,
                 count_tiles: bool | None = None) -> None:
        if not hasattr(surrogate, "predict"):
            raise TypeError(f"surrogate must have a predict(archs) method, got {type(surrogate).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        self.space = space
        self.surrogate = surrogate
        self.constraints = constraints
        self.objective = objective if isinstance(objective, Objective) else Objective(objective)
        self.batch_size = int(batch_size)
        self._archs: list[Any] = []
        self.index: dict[Any, int] = {}
        self._counts: dict[Any, tuple[int, int]] = {}
        self._cols = {name: _Growing(float) for name in
                      ("acc_1d", "acc_1d_std", "avm", "params", "tiles", "violation", "objective")}
        self._generation = _Growing(np.int64)
        # Counting tiles walks every layer and costs more than scoring a candidate in the
        # ResNet-like space, so by default it is done only when tiles are constrained.
        self.count_tiles = constraints.max_tiles is not None if count_tiles is None else bool(count_tiles)
        if constraints.max_tiles is not None and not self.count_tiles:
            raise ValueError("count_tiles=False is not possible with max_tiles set")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def archs(self) -> list[Any]:
        """The scored architectures, in scoring order (do not modify)."""
        return self._archs

    def __contains__(self, arch: Any) -> bool:
        return arch in self.index

    def col(self, name: str) -> np.ndarray:
        """A column over all scored architectures, in scoring order (a view: do not modify)."""
        if name == "generation":
            return self._generation.view()
        if name == "feasible":
            return self._cols["violation"].view() == 0
        return self._cols[name].view()

    def counts(self, arch: Any) -> tuple[int, float]:
        """Exact (params, tiles) of ``arch``, computed once per architecture; tiles are NaN
        unless ``count_tiles``."""
        c = self._counts.get(arch)
        if c is None:
            k = self.constraints
            params = int(self.space.num_params(arch, k.input_shape, k.num_classes))
            tiles = float(self.tiles(arch)) if self.count_tiles else math.nan
            c = self._counts[arch] = (params, tiles)
        return c

    def tiles(self, arch: Any) -> int:
        """Exact crossbar tiles of ``arch`` under the constraints' tile size and shapes."""
        k = self.constraints
        return int(self.space.num_tiles(arch, k.tile_size, k.input_shape, k.num_classes))

    def exact_violation(self, arch: Any) -> float:
        """Violation of the exact limits alone (0 when parameters, tiles and costs fit)."""
        if not self.constraints.has_exact:
            return 0.0
        return self.constraints.exact_violation(*self.counts(arch)) + float(self.cost_violation([arch])[0])

    def cost_violation(self, archs: Sequence[Any]) -> np.ndarray:
        """Violation of the cost limits (energy, latency, chips) of each architecture."""
        k = self.constraints
        if not k.has_cost:
            return np.zeros(len(archs))
        return k.cost_violation(totals_many(self.space, archs, k.chip, k.input_shape, k.num_classes))

    def score(self, archs: Sequence[Any], generation: int, deadline: float = math.inf) -> np.ndarray:
        """Score the new architectures of ``archs`` in batches; return their archive indices.

        Architectures already in the archive, or repeated in ``archs``, are skipped. Before
        each batch the clock is compared with ``deadline`` (a ``time.perf_counter`` value):
        past it, the rest is left unscored, so a search overruns by at most one batch.
        """
        archs = list(archs)
        return self._score_new(archs, archs, generation, deadline)

    def _score_new(self, items: Any, keys: list[Any], generation: int, deadline: float) -> np.ndarray:
        """Score, in batches, the first of ``items`` for each key not in the memory yet (the
        key of ``items[i]`` is ``keys[i]``); return their archive indices."""
        rows = _first_new(keys, self.index)
        new_keys = [keys[i] for i in rows]
        start = len(self)
        for lo in range(0, len(rows), self.batch_size):
            if time.perf_counter() >= deadline:
                break
            self._score_batch(items, rows[lo : lo + self.batch_size], new_keys[lo : lo + self.batch_size],
                              generation)
        return np.arange(start, len(self))

    def _score_batch(self, items: list[Any], rows: list[int], keys: list[Any], generation: int) -> None:
        batch = [items[i] for i in rows]
        counts = np.array([self.counts(a) for a in batch], dtype=float).reshape(-1, 2)
        self._record(self.surrogate.predict(batch), counts[:, 0], counts[:, 1], generation, keys,
                     self.cost_violation(batch))
        self._archs.extend(batch)

    def _record(self, pred: pd.DataFrame, params: np.ndarray, tiles: np.ndarray, generation: int,
                keys: list[Any], cost_violation: np.ndarray | float = 0.0) -> None:
        """Append one scored batch: its predictions, exact counts and memory keys."""
        missing = [c for c in PREDICTED if c not in pred.columns]
        if missing:
            raise ValueError(f"surrogate.predict returned no column(s) {missing}; it must return {list(PREDICTED)}")
        if len(pred) != len(keys):
            raise ValueError(f"surrogate.predict returned {len(pred)} rows for {len(keys)} architectures")
        cols = {c: pred[c].to_numpy(dtype=float) for c in PREDICTED}
        cols["params"], cols["tiles"] = np.asarray(params, dtype=float), np.asarray(tiles, dtype=float)
        self.objective.calibrate(cols)
        cols["objective"] = self.objective(cols)
        cols["violation"] = self.constraints.violation(cols["params"], cols["tiles"], cols["avm"]) + cost_violation
        for name, g in self._cols.items():
            g.extend(cols[name])
        self._generation.extend(np.full(len(keys), generation))
        first = len(self.index)
        self.index.update(zip(keys, range(first, first + len(keys))))

    def order(self, idx: np.ndarray) -> np.ndarray:
        """``idx`` sorted best first: feasible by objective (max), then infeasible by violation (min)."""
        idx = np.asarray(idx, dtype=np.int64)
        viol = self.col("violation")[idx]
        obj = self.col("objective")[idx]
        feasible = viol == 0
        # lexsort: the last key is primary; ties keep scoring order, so results are reproducible
        return idx[np.lexsort((np.where(feasible, -obj, viol), ~feasible))]

    def best_index(self) -> int | None:
        if not len(self):
            return None
        return int(self.order(np.arange(len(self)))[0])

    def history(self, n: int | None = None) -> pd.DataFrame:
        """One row per scored architecture, in scoring order (the first ``n``, default all)."""
        n = len(self) if n is None else n
        df = pd.DataFrame({"generation": self.col("generation")[:n].copy(),
                           "arch": pd.Series(self.archs[:n], dtype=object)})
        for name in ("acc_1d", "acc_1d_std", "avm"):
            df[name] = self.col(name)[:n].copy()
        df["params"] = self.col("params")[:n].astype(np.int64)
        df["tiles"] = pd.array(np.round(self.col("tiles")[:n]), dtype="Int64")  # <NA> when not counted
        df["feasible"] = self.col("feasible")[:n].copy()
        df["violation"] = self.col("violation")[:n].copy()
        df["objective"] = self.col("objective")[:n].copy()
        return df

    @staticmethod
    def empty_history() -> pd.DataFrame:
        """A history with its columns and no rows."""
        cols = ["generation", "arch", "acc_1d", "acc_1d_std", "avm", "params", "tiles", "feasible",
                "violation", "objective"]
        return pd.DataFrame({c: pd.Series(dtype=object if c == "arch" else float) for c in cols})

    def front(self, history: pd.DataFrame) -> pd.DataFrame:
        """The Pareto front of the feasible rows of ``history``, with exact tiles. With cost
        limits, energy per inference is a fourth objective and the front has the columns
        energy_j, latency_s and chips (on the constraints' chip)."""
        feasible = history[history["feasible"]]
        if self.constraints.has_cost:
            k = self.constraints
            totals = totals_many(self.space, list(feasible["arch"]), k.chip, k.input_shape, k.num_classes)
            feasible = feasible.assign(energy_j=totals["energy_j"], latency_s=totals["latency_s"],
                                       chips=totals["chips"])
        front = pareto_front(feasible, ("energy_j",) if self.constraints.has_cost else ()).copy()
        if not self.count_tiles:  # the front is small: count its tiles now
            front["tiles"] = pd.array([self.tiles(a) for a in front["arch"]], dtype="Int64")
        return front.reset_index(drop=True)

    def arch_at(self, i: int) -> Any:
        """The architecture of archive entry ``i``."""
        return self.archs[i]

    def result(self, message: str, started: float) -> SearchResult:
        """Package the archive as a SearchResult (best feasible, else least infeasible)."""
        best = self.best_index()
        if best is None:
            return SearchResult(None, {}, False, message + "; nothing was scored",
                                time.perf_counter() - started, 0, self)
        prediction = {c: float(self.col(c)[best]) for c in ("acc_1d", "acc_1d_std", "avm", "objective", "violation")}
        prediction["params"] = int(self.col("params")[best])
        arch = self.arch_at(best)
        tiles = self.col("tiles")[best]
        prediction["tiles"] = int(round(tiles)) if not math.isnan(tiles) else self.tiles(arch)
        feasible = prediction["violation"] == 0
        if not feasible:
            message += (f"; no feasible architecture among {len(self)} scored: returning the least "
                        f"infeasible (violation {prediction['violation']:.4g})")
        return SearchResult(arch, prediction, feasible, message, time.perf_counter() - started, len(self), self)


class EncodedArchive(Archive):
    """An :class:`Archive` that keeps candidates as rows of the space's encoding, for spaces
    with vectorised operations (``space.has_encoded_ops``).

    Batches are counted with ``space.counts_encoded`` and predicted with the surrogate's
    ``predict_encoded`` when it has one (else ``predict`` of the decoded architectures); the
    memory is keyed by the rows' bytes; architecture objects are decoded only when
    :attr:`archs` is read. Tiles cost nothing extra here, so they are always counted
    unless ``count_tiles=False``.
    """

    def __init__(self, space: SearchSpace, surrogate: Any, constraints: Constraints,
                 objective: ObjectiveLike | Objective = "acc_1d/std", batch_size: int = 1000,
                 count_tiles: bool | None = None) -> None:
        if not getattr(space, "has_encoded_ops", False):
            raise TypeError(f"{space!r} has no encoded operations (has_encoded_ops is False)")
        super().__init__(space, surrogate, constraints, objective, batch_size, count_tiles)
        self.count_tiles = True if count_tiles is None else bool(count_tiles)
        self._encoded = _Growing(float, len(space.feature_names))
        #: share of the children last proposed that were new, and share of those within the
        #: exact limits (the search sizes its draws by their product)
        self.new_share = 2 / 3
        self.fit_share = 1.0

    @property
    def archs(self) -> list[Any]:
        if len(self._archs) < len(self):
            self._archs.extend(self.space.decode_many(self._encoded.view()[len(self._archs):]))
        return self._archs

    def arch_at(self, i: int) -> Any:
        if i < len(self._archs):
            return self._archs[i]
        return self.space.decode_many(self._encoded.view()[i : i + 1])[0]

    def encodings(self, idx: np.ndarray) -> np.ndarray:
        """Encoding rows of the archive entries ``idx``."""
        return self._encoded.view()[idx]

    @staticmethod
    def keys(enc: np.ndarray) -> list[bytes]:
        """One hashable key per encoding row (its bytes)."""
        enc = np.ascontiguousarray(enc, dtype=float)
        return enc.view(np.dtype((np.void, enc.shape[1] * enc.itemsize))).ravel().tolist()

    def __contains__(self, arch: Any) -> bool:
        return self.keys(self.space.encode_many([arch]))[0] in self.index

    def _exact_counts(self, enc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.constraints
        return self.space.counts_encoded(enc, k.tile_size, k.input_shape, k.num_classes)

    def exact_violation_encoded(self, enc: np.ndarray) -> np.ndarray:
        """Violation of the exact limits alone, per encoding row."""
        if not self.constraints.has_exact:
            return np.zeros(len(enc))
        return self.constraints.violation(*self._exact_counts(enc)) + self.cost_violation_encoded(enc)

    def cost_violation_encoded(self, enc: np.ndarray) -> np.ndarray:
        """Violation of the cost limits (energy, latency, chips), per encoding row."""
        k = self.constraints
        if not k.has_cost:
            return np.zeros(len(enc))
        return k.cost_violation(totals_encoded(self.space, enc, k.chip, k.input_shape, k.num_classes))

    def score(self, archs: Sequence[Any], generation: int, deadline: float = math.inf) -> np.ndarray:
        archs = list(archs)
        enc = self.space.encode_many(archs) if archs else np.zeros((0, self._encoded.shape[0]))
        return self.score_encoded(enc, generation, deadline)

    def score_encoded(self, enc: np.ndarray, generation: int, deadline: float = math.inf) -> np.ndarray:
        """:meth:`Archive.score` for encoding rows."""
        enc = np.asarray(enc, dtype=float)
        return self._score_new(enc, self.keys(enc), generation, deadline)

    def _score_batch(self, items: np.ndarray, rows: list[int], keys: list[Any], generation: int) -> None:
        batch = items[rows]
        predict = getattr(self.surrogate, "predict_encoded", None)
        pred = predict(batch) if predict is not None else self.surrogate.predict(self.space.decode_many(batch))
        params, tiles = self._exact_counts(batch)
        self._record(pred, params, tiles if self.count_tiles else np.full(len(batch), math.nan), generation, keys,
                     self.cost_violation_encoded(batch))
        self._encoded.extend(batch)


# --------------------------------------------------------------------------------------------
# helpers shared by the strategies
# --------------------------------------------------------------------------------------------
class _Sampler:
    """Draws architectures below max_params, falling back to unconstrained sampling (once
    noted) when the space finds none below the limit."""

    def __init__(self, space: SearchSpace, max_params: int | None) -> None:
        self.space = space
        self.max_params = max_params
        self.note = ""

    def __call__(self, rng: np.random.Generator) -> Any:
        if self.max_params is not None:
            try:
                return self.space.sample(rng, max_params=self.max_params)
            except ValueError as e:
                self.max_params = None
                self.note = f"sampling below max_params failed ({e}); sampled without the limit"
        return self.space.sample(rng)


def _first_new(keys: list[Any], *known: Any) -> list[int]:
    """Ascending positions of the first occurrence of each key of ``keys`` that is in none
    of the ``known`` containers."""
    # zip over the reversed keys leaves each key's first position in the dict (built in C)
    first = list(dict(zip(reversed(keys), range(len(keys) - 1, -1, -1))).items())
    for container in known:
        first = [(k, i) for k, i in first if k not in container]
    return sorted(i for _, i in first)


class _Either:
    """``x in _Either(a, b)``: x is in a or in b (without building their union)."""

    def __init__(self, *containers: Any) -> None:
        self.containers = containers

    def __contains__(self, x: Any) -> bool:
        return any(x in c for c in self.containers)


def _unique_samples(sampler: _Sampler, rng: np.random.Generator, n: int, exclude: Any,
                    deadline: float, max_misses: int = 200) -> list[Any]:
    """Up to ``n`` distinct samples not in ``exclude``; stops after ``max_misses`` repeats in a
    row (a small space is exhausted) or at the deadline."""
    out, seen, misses = [], set(), 0
    while len(out) < n and misses < max_misses:
        if len(out) % 64 == 0 and time.perf_counter() >= deadline:
            break
        a = sampler(rng)
        if a in seen or a in exclude:
            misses += 1
            continue
        misses = 0
        seen.add(a)
        out.append(a)
    return out


def spread_out(space: SearchSpace, pool: Sequence[Any], n: int, rng: np.random.Generator,
               fixed: Sequence[Any] = ()) -> list[Any]:
    """Pick ``n`` architectures of ``pool`` that cover the space: greedy farthest-point
    (max-min distance) selection on the standardised encodings, starting from ``fixed``
    (or from a random pool member).

    Example:
        >>> space = NB201Space()                                          # doctest: +SKIP
        >>> picks = spread_out(space, space.sample_many(500, 0), 50, np.random.default_rng(0))  # doctest: +SKIP
    """
    pool = list(pool)
    if n >= len(pool):
        return pool
    if n <= 0:
        return []
    x = np.asarray(space.encode_many(list(fixed) + pool), dtype=float)
    std = x.std(axis=0)
    x = x[:, std > 0] / std[std > 0]  # every feature counts the same, constant ones not at all
    anchors, cand = x[: len(fixed)], x[len(fixed):]
    sq = (cand**2).sum(1)
    if len(anchors):
        # squared distances through |a|^2 + |b|^2 - 2ab: no (pool x anchors x features) array
        d = (sq[:, None] + (anchors**2).sum(1)[None, :] - 2 * cand @ anchors.T).min(axis=1)
        picked: list[int] = []
    else:
        first = int(rng.integers(len(pool)))
        d = sq + sq[first] - 2 * cand @ cand[first]
        picked = [first]
    d[picked] = -np.inf
    while len(picked) < n:
        i = int(np.argmax(d))
        picked.append(i)
        d = np.minimum(d, sq + sq[i] - 2 * cand @ cand[i])
        d[i] = -np.inf
    return [pool[i] for i in picked]


# --------------------------------------------------------------------------------------------
# the evolutionary strategy
# --------------------------------------------------------------------------------------------
class SearchStrategy:
    """What every search strategy shares: the space, the surrogate, the constraints, the
    objective, the time budget and the seed; and, per run, a fresh :class:`Archive`.

    Subclasses (:class:`EvolutionarySearch`, ``RandomSearch``, ``NSGA2Search``) implement
    ``run() -> SearchResult``.
    """

    def __init__(self, space: SearchSpace, surrogate: Any, constraints: Constraints | None,
                 objective: ObjectiveLike, time_budget_s: float | None, seed: Seed,
                 progress: bool) -> None:
        self.space = space
        self.surrogate = surrogate
        self.constraints = constraints if constraints is not None else Constraints()
        Objective(objective)  # validates early
        self.objective = objective
        self.time_budget_s = check_number("time_budget_s", time_budget_s, gt=0, allow_inf=True, none_ok="no budget",
                                          numpy=False)
        self.seed = seed
        self.progress = progress

    def _start(self, batch_size: int, count_tiles: bool | None = None,
               encoded: bool = False) -> tuple[float, float, Archive]:
        """(start time, deadline, empty archive) of one run; the deadline is inf without a
        budget; ``encoded``: an :class:`EncodedArchive`."""
        started = time.perf_counter()
        deadline = started + self.time_budget_s if self.time_budget_s is not None else math.inf
        # the objective keeps a reference scale: a fresh one per run keeps runs independent
        archive = (EncodedArchive if encoded else Archive)(
            self.space, self.surrogate, self.constraints, Objective(self.objective), batch_size, count_tiles)
        return started, deadline, archive


class EvolutionarySearch(SearchStrategy):
    """Constrained (mu + lambda) evolutionary search against a surrogate.

    Each generation keeps the best half of the population (feasible ones by objective, then
    infeasible ones by violation) and refills it with children of uniformly drawn survivors:
    a crossover of two survivors with probability ``crossover_prob`` (itself mutated with
    probability ``mutation_rate``), otherwise a mutation of one survivor with the space's own
    operators. A child already scored is mutated again (a short random walk away from known
    ground); a child that breaks an exact limit (parameters, tiles) is discarded unscored,
    since it can never be the answer. Children are scored in batches of ``batch_size``.

    The initial population covers the space: ``initial_population`` (if given) plus
    farthest-point picks (:func:`spread_out`) from a pool of ``pool_factor`` times as many
    samples below ``max_params``.

    For spaces with vectorised operations on encodings (``space.has_encoded_ops``: the
    ResNet-like space) the same steps run on whole batches of encoding rows
    (:class:`EncodedArchive`), drawing as many children as the share of new ones in the last
    draw says are needed; architecture objects are made only for what the result shows.

    The search stops after ``iterations`` generations, or when ``time_budget_s`` has passed
    (checked before every batch, so it overruns by at most one batch), or when no unscored
    architecture can be found (a small space is exhausted). With a time budget and
    ``iterations=None`` (the default) the budget alone ends the run; with neither, it runs
    :data:`DEFAULT_ITERATIONS` generations.

    Args:
        space: the search space (its sample, mutate, crossover, num_params, num_tiles, encode).
        surrogate: any object with ``predict(archs) -> DataFrame[acc_1d, acc_1d_std, avm]``.
        constraints: the limits (default: none).
        objective: ``"acc_1d/std"``, ``"acc_1d"`` or a callable (see :class:`Objective`).
        population_size: individuals per generation (paper: 200); the best half survives.
        iterations: generations after the initial population (None: as many as the time
            budget allows; without a budget, :data:`DEFAULT_ITERATIONS`).
        time_budget_s: wall-clock budget in seconds (None: no budget).
        seed: int or numpy Generator; the same int gives the same search.
        mutation_rate: probability that a crossover child is also mutated.
        crossover_prob: probability that a child comes from crossover.
        batch_size: candidates per surrogate call (default: the children of one generation).
        initial_population: architectures to start from (e.g. the best known ones).
        max_retries: extra mutations tried on a child that was already scored.
        pool_factor: samples drawn per initial individual, for the coverage selection.
        count_tiles: count exact tiles of every candidate (default: only when ``max_tiles``
            is set, or when the counts are vectorised; the best and the Pareto front always
            get theirs).
        encoded: work on arrays of encodings with the space's vectorised operations
            (``space.has_encoded_ops``; several times faster). None: whenever the space has
            them; False: on architecture objects.
        progress: show a tqdm bar with the best objective so far.

    Example:
        >>> search = EvolutionarySearch(space, surrogate, Constraints(max_params=1_000_000, max_avm=1.0),
        ...                             population_size=200, iterations=50, time_budget_s=10)  # doctest: +SKIP
        >>> result = search.run()                                                               # doctest: +SKIP
    """

    def __init__(
        self,
        space: SearchSpace,
        surrogate: Any,
        constraints: Constraints | None = None,
        objective: ObjectiveLike = "acc_1d/std",
        population_size: int = 200,
        iterations: int | None = None,
        time_budget_s: float | None = None,
        seed: Seed = 0,
        mutation_rate: float = 0.5,
        crossover_prob: float = 0.2,
        batch_size: int | None = None,
        initial_population: Sequence[Any] | None = None,
        max_retries: int = 10,
        pool_factor: int = 2,
        count_tiles: bool | None = None,
        encoded: bool | None = None,
        progress: bool = True,
    ) -> None:
        super().__init__(space, surrogate, constraints, objective, time_budget_s, seed, progress)
        check_bool("encoded", encoded, none_ok=True, numpy=False)
        if encoded and not getattr(space, "has_encoded_ops", False):
            raise ValueError(f"encoded=True needs a space with encoded operations; {space!r} has none")
        self.encoded = encoded
        self.population_size = check_int("population_size", population_size, 2)
        self.iterations = check_int("iterations", iterations, 0, none_ok=True)
        self.mutation_rate = check_number("mutation_rate", mutation_rate, ge=0, le=1, numpy=False)
        self.crossover_prob = check_number("crossover_prob", crossover_prob, ge=0, le=1, numpy=False)
        n_children = self.population_size - self.population_size // 2
        self.batch_size = n_children if batch_size is None else check_int("batch_size", batch_size, 1)
        self.initial_population = [space.validate(a) for a in (initial_population or [])]
        self.max_retries = check_int("max_retries", max_retries, 1)
        self.pool_factor = check_int("pool_factor", pool_factor, 1)
        self.count_tiles = count_tiles

    @property
    def max_generations(self) -> float:
        """The generations this search may run: ``iterations``; when that is None, unlimited
        (``inf``) under a time budget, else :data:`DEFAULT_ITERATIONS`."""
        if self.iterations is not None:
            return self.iterations
        return math.inf if self.time_budget_s is not None else DEFAULT_ITERATIONS

    def run(self) -> SearchResult:
        """Search; return the best feasible architecture found and the history.

        Ctrl-C (KeyboardInterrupt) ends the search early and returns what was scored so far,
        with ``interrupted`` True and the message saying so."""
        encoded = bool(getattr(self.space, "has_encoded_ops", False)) and self.encoded is not False
        started, deadline, archive = self._start(self.batch_size, self.count_tiles, encoded)
        children = self._children_encoded if encoded else self._children
        score = archive.score_encoded if encoded else archive.score
        rng = as_rng(self.seed)
        sampler = _Sampler(self.space, self.constraints.max_params)
        iterations = self.max_generations
        # with a budget, the bar counts seconds: the budget is what ends the run
        bar = progress_bar(total=self.time_budget_s if math.isinf(iterations) else iterations,
                   disable=not self.progress, desc="evolution", leave=False,
                   maxinterval=float("inf"),  # no redraws between generations: _show draws
                   unit="s" if math.isinf(iterations) else "it",
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{postfix}]" if math.isinf(iterations) else None)
        generation, stop, interrupted = 0, "", False
        population = np.empty(0, dtype=np.int64)
        try:
            population = archive.score(self._initial_population(archive, sampler, rng, deadline), 0, deadline)
            if time.perf_counter() >= deadline:
                stop = "time budget reached during the initial population"
            self._show(bar, archive, population, started, generation)
            while not stop and generation < iterations:
                if time.perf_counter() >= deadline:
                    stop = f"time budget of {self.time_budget_s:g} s reached"
                    break
                generation += 1
                survivors = archive.order(population)[: self.population_size // 2]
                kids = children(archive, survivors, sampler, rng, deadline)
                if not len(kids):
                    stop = "no unscored architecture left to try (search space exhausted)"
                    break
                population = np.concatenate([survivors, score(kids, generation, deadline)])
                self._show(bar, archive, population, started, generation)
        except KeyboardInterrupt:
            # keep what was scored: the caller gets the best so far and the history
            stop, interrupted = "interrupted (Ctrl-C)", True
        finally:
            self._show(bar, archive, population, started, generation, force=True)
            bar.close()
        if not stop:
            stop = f"{iterations} iterations done"
        message = f"{stop}; {len(archive)} architectures scored in {generation} generations"
        if sampler.note:
            message += f"; {sampler.note}"
        result = archive.result(message, started)
        result.interrupted = interrupted
        return result

    # --- steps ----------------------------------------------------------------------------
    def _initial_population(self, archive: Archive, sampler: _Sampler, rng: np.random.Generator,
                            deadline: float) -> list[Any]:
        fixed = list(dict.fromkeys(self.initial_population))[: self.population_size]
        need = self.population_size - len(fixed)
        pool = _unique_samples(sampler, rng, self.pool_factor * need, set(fixed), deadline)
        if self.constraints.has_exact:
            # sample() knows neither tiles nor other input shapes: prefer members that fit
            fits = [a for a in pool if archive.exact_violation(a) == 0]
            if len(fits) >= need:
                pool = fits
        return fixed + spread_out(self.space, pool, need, rng, fixed)

    def _children(self, archive: Archive, survivors: np.ndarray, sampler: _Sampler,
                  rng: np.random.Generator, deadline: float) -> list[Any]:
        n = self.population_size - len(survivors)
        parents = [archive.archs[i] for i in survivors]
        children: list[Any] = []
        taken: set[Any] = set()
        misses = 0
        # stop after many failures in a row: the neighbourhood is used up (small spaces)
        while len(children) < n and misses < 2 * n:
            child = self._child(parents, rng)
            # walk away from already-scored ground instead of giving up on this parent
            for _ in range(self.max_retries):
                if child not in archive and child not in taken:
                    break
                child = self.space.mutate(child, rng)
            else:
                misses += 1
                continue
            if archive.exact_violation(child) > 0:
                misses += 1
                continue
            misses = 0
            taken.add(child)
            children.append(child)
        if len(children) < n:
            # mutation found too few new children (a small or crowded space): top up at random
            more = _unique_samples(sampler, rng, n - len(children), taken | archive.index.keys(), deadline)
            children += [a for a in more if archive.exact_violation(a) == 0] or more
        return children

    def _children_encoded(self, archive: EncodedArchive, survivors: np.ndarray, sampler: _Sampler,
                          rng: np.random.Generator, deadline: float) -> np.ndarray:
        """:meth:`_children` on encoding rows: the same steps, each over the whole batch."""
        space, n = self.space, self.population_size - len(survivors)
        parents = archive.encodings(survivors)
        children: list[np.ndarray] = []
        taken: set[bytes] = set()
        need, misses = n, 0
        while need > 0 and misses < 2 * n:
            # Each round costs a batch's mutation, walk and counting, so draw enough that the
            # usable children (new, as last time, and within the exact limits, as lately) cover
            # the need at once: a population pressing against max_params or max_tiles has most
            # of its children over them.
            share = max(archive.new_share * archive.fit_share, 0.02)
            draw = min(int(1.2 * need / share) + 1, 60 * need)
            child = self._child_encoded(parents, draw, rng)
            new, archive.new_share = self._walk_away(archive, child, taken, need, rng)
            child = child[new]
            if len(child) and self.constraints.has_exact:
                fits = archive.exact_violation_encoded(child) == 0
                # weighted by rows: a small top-up batch says little about the next draw
                w = len(fits) / (len(fits) + 20)
                archive.fit_share = (1 - w) * archive.fit_share + w * float(fits.mean())
                child = child[fits]
            child = child[:need]
            # a round that yields nothing counts its whole batch as failures in a row
            misses = 0 if len(child) else misses + need
            taken.update(archive.keys(child))
            children.append(child)
            need -= len(child)
        out = np.concatenate(children) if children else np.zeros((0, len(space.feature_names)))
        if need > 0:
            # mutation found too few new children (a small or crowded space): top up at random
            more = _unique_samples(sampler, rng, need, _Either(archive, set(space.decode_many(out))), deadline)
            fits = [a for a in more if archive.exact_violation(a) == 0] or more
            if fits:
                out = np.concatenate([out, space.encode_many(fits)])
        return out

    def _child_encoded(self, parents: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` children of uniformly drawn parents (rows): crossover or mutation, as :meth:`_child`."""
        child = parents[rng.integers(len(parents), size=n)]
        mutate = np.ones(n, dtype=bool)
        cross = np.flatnonzero(rng.random(n) < self.crossover_prob) if len(parents) > 1 else np.zeros(0, int)
        if len(cross):
            a, b = child[cross], parents[rng.integers(len(parents), size=len(cross))]
            c = self.space.crossover_encoded(a, b, rng)
            mutate[cross] = (c == a).all(axis=1) | (c == b).all(axis=1) | (rng.random(len(c)) < self.mutation_rate)
            child[cross] = c
        if mutate.any():  # one call for plain and crossover children
            child[mutate] = self.space.mutate_encoded(child[mutate], rng)
        return child

    def _walk_away(self, archive: EncodedArchive, child: np.ndarray, taken: set[bytes], need: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Mutate, in place, the rows already scored, taken or repeated in ``child``, up to
        ``max_retries`` times or until ``need`` rows are new. Returns the mask of new rows
        and the share of rows that were new before any walk."""
        share = 1.0
        for attempt in range(self.max_retries + 1):
            seen = np.ones(len(child), dtype=bool)
            seen[_first_new(archive.keys(child), archive.index, taken)] = False
            if attempt == 0:
                share = 1.0 - seen.mean() if len(seen) else 1.0
            if len(seen) - seen.sum() >= need or attempt == self.max_retries:
                break
            child[seen] = self.space.mutate_encoded(child[seen], rng)
        return ~seen, share

    def _child(self, parents: list[Any], rng: np.random.Generator) -> Any:
        a = pick(parents, rng)
        if len(parents) > 1 and rng.random() < self.crossover_prob:
            b = pick(parents, rng)
            child = self.space.crossover(a, b, rng)
            if child == a or child == b or rng.random() < self.mutation_rate:
                child = self.space.mutate(child, rng)
            return child
        return self.space.mutate(a, rng)

    def _show(self, bar: Any, archive: Archive, population: np.ndarray, started: float,
              generation: int, force: bool = False) -> None:
        # a generation takes milliseconds: drawing each one floods a log file with lines, so
        # the bar is drawn at most every mininterval seconds, and once more at the end
        if bar.disable or len(population) == 0:
            return
        if not force and time.time() - bar.last_print_t < bar.mininterval:
            return
        timed = math.isinf(self.max_generations)
        bar.n = min(time.perf_counter() - started, bar.total) if timed else generation
        # selection is elitist, so the population always holds the best scored so far; the
        # value shown is the objective the search maximises (see Objective), under its name
        best = archive.order(population)[0]
        bar.set_postfix({f"best {archive.objective.name}": f"{archive.col('objective')[best]:.4g}",
                         "feasible": bool(archive.col("violation")[best] == 0), "scored": len(archive)},
                        refresh=False)
        bar.refresh()
        bar.last_print_t = time.time()  # tqdm's clock
