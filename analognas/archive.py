"""The search's state: every architecture scored in one search, with its predictions and exact
counts (:class:`Archive`), and the Pareto front of what was scored (:func:`pareto_front`).

:class:`EncodedArchive` is the same archive for spaces with vectorised operations on encodings
(``space.has_encoded_ops``): it stores, keys, counts and predicts whole batches of encoding
rows, and shares the scoring loop, the ordering, the history and the result with :class:`Archive`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analognas.cost import totals_encoded, totals_many
from analognas.problem import PREDICTED, Constraints, Objective, ObjectiveLike
from analognas.sampling import first_new
from analognas.search_result import SearchResult, empty_history
from search_spaces.base import SearchSpace

__all__ = ["Archive", "EncodedArchive", "pareto_front"]

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
        rows = first_new(keys, self.index)
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

    empty_history = staticmethod(empty_history)

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
