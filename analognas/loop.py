"""Surrogate-assisted search: spend a budget of true evaluations where the surrogate points.

An *oracle* gives the true metrics of architectures: ``oracle(archs) -> DataFrame`` with the
columns acc_1d, acc_1d_std and avm, one row per architecture in order. It can train and
evaluate networks, or look them up in a table (:func:`table_oracle`).

The loop: evaluate ``n_initial`` architectures that cover the space; then, round after round,
fit a fresh surrogate on everything evaluated so far, run the evolutionary search against it
(seeded with the best evaluated architectures), and evaluate the ``batch_per_round`` most
promising candidates it scored that were never evaluated; until ``n_queries`` evaluations
have been spent. No architecture is evaluated twice.

Example:
    >>> from search_spaces import NB201Space
    >>> from surrogate import load_analognas_bench
    >>> bench = load_analognas_bench()                                    # doctest: +SKIP
    >>> loop = SurrogateAssistedSearch(NB201Space(), table_oracle(bench),
    ...                                constraints=Constraints(max_avm=1.0), n_queries=100)  # doctest: +SKIP
    >>> result = loop.run(); result.best, result.best_metrics["acc_1d"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from search_spaces.base import SearchSpace, Seed, as_rng

from .search import (
    PREDICTED,
    Constraints,
    EvolutionarySearch,
    ObjectiveLike,
    _check_positive_int,
    _Sampler,
    _unique_samples,
    spread_out,
)

Oracle = Callable[[Sequence[Any]], pd.DataFrame]
SurrogateFactory = Callable[[SearchSpace, int], Any]


def table_oracle(table: pd.DataFrame, columns: Sequence[str] = PREDICTED) -> Oracle:
    """An oracle that looks architectures up in ``table`` (a column ``arch`` plus ``columns``).

    Example:
        >>> oracle = table_oracle(load_analognas_bench())           # doctest: +SKIP
        >>> oracle([NB201Arch((2, 2, 0, 4, 2, 1))])["acc_1d"].item()  # doctest: +SKIP
        90.53
    """
    missing = [c for c in ("arch", *columns) if c not in table.columns]
    if missing:
        raise ValueError(f"table has no column(s) {missing}; it needs 'arch' and {list(columns)}")
    values = table[list(columns)].to_numpy(dtype=float)
    row_of = {a: i for i, a in enumerate(table["arch"])}
    columns = list(columns)

    def oracle(archs: Sequence[Any]) -> pd.DataFrame:
        rows = []
        for a in archs:
            if a not in row_of:
                raise KeyError(f"architecture {a!r} is not in the oracle's table")
            rows.append(row_of[a])
        return pd.DataFrame(values[rows], columns=columns)

    return oracle


def default_surrogate_factory(space: SearchSpace, seed: int) -> Any:
    """A fresh, unfitted ``surrogate.AnalogSurrogate`` (imported here, only when needed)."""
    from surrogate import AnalogSurrogate

    return AnalogSurrogate(space, seed=seed)


def true_objective(objective: ObjectiveLike, table: pd.DataFrame) -> np.ndarray:
    """The objective on *true* metrics, where acc_1d is an accuracy (not a ranking score).

    ``"acc_1d"`` is the accuracy; ``"acc_1d/std"`` the paper's accuracy / spread (spreads
    floored at 0.01 points, since a measured spread can be 0); a callable gets ``table``.
    """
    if callable(objective):
        return np.asarray(objective(table), dtype=float).reshape(-1)
    acc = table["acc_1d"].to_numpy(dtype=float)
    if objective == "acc_1d":
        return acc
    if objective == "acc_1d/std":
        return acc / np.maximum(table["acc_1d_std"].to_numpy(dtype=float), 0.01)
    raise ValueError(f"objective={objective!r} is not allowed; use 'acc_1d', 'acc_1d/std' or a callable")


@dataclasses.dataclass
class LoopResult:
    """What :class:`SurrogateAssistedSearch` returns.

    Attributes:
        queried: one row per true evaluation, in order: round (0 for the initial ones), arch,
            true acc_1d, acc_1d_std, avm, exact params and tiles, feasible, objective.
        best: the best feasible evaluated architecture (least infeasible when none is).
        best_metrics: its row of ``queried`` as a dict (without arch).
        feasible: whether ``best`` satisfies every constraint (with its true AVM).
        message: how the loop ended.
        elapsed_s: wall-clock seconds.
    """

    queried: pd.DataFrame
    best: Any
    best_metrics: dict[str, Any]
    feasible: bool
    message: str
    elapsed_s: float = 0.0


class SurrogateAssistedSearch:
    """Spend ``n_queries`` true evaluations, guided by a surrogate refitted every round.

    Args:
        space: the search space.
        oracle: ``oracle(archs) -> DataFrame[acc_1d, acc_1d_std, avm]`` (true metrics).
        surrogate_factory: ``factory(space, seed)`` returning a fresh object with
            ``fit(archs, table)`` and ``predict(archs)``; default ``surrogate.AnalogSurrogate``.
        constraints: the limits; AVM is checked with the surrogate during the search and with
            the oracle's true AVM for the result.
        objective: what to maximise (see ``analognas.search.Objective``); on true metrics it is
            read as in :func:`true_objective`.
        n_initial: first evaluations, spread over the space before any surrogate exists.
        n_queries: total true evaluations (the initial ones included).
        batch_per_round: evaluations per round, after which the surrogate is refitted.
        search_kwargs: extra arguments of :class:`EvolutionarySearch` (population_size,
            iterations, time_budget_s, ...).
        avm_margin: the search treats predicted AVM up to ``max_avm + avm_margin`` as
            feasible, and candidates are picked in order of objective *and* predicted
            feasibility (see :meth:`pick`): the true optimum often lies just under the limit,
            where a surrogate fitted on a few points cannot tell the two sides apart.
        n_seed_archs: best evaluated architectures that seed each search's population.
        seed: seeds everything (sampling, surrogates, searches).
        progress: show a progress bar over true evaluations.
    """

    def __init__(
        self,
        space: SearchSpace,
        oracle: Oracle,
        surrogate_factory: SurrogateFactory | None = None,
        constraints: Constraints | None = None,
        objective: ObjectiveLike = "acc_1d",
        n_initial: int = 20,
        n_queries: int = 100,
        batch_per_round: int = 10,
        search_kwargs: dict[str, Any] | None = None,
        avm_margin: float = 0.5,
        n_seed_archs: int = 20,
        diversity: int = 1,
        seed: Seed = 0,
        progress: bool = True,
    ) -> None:
        self.space = space
        self.oracle = oracle
        self.surrogate_factory = surrogate_factory or default_surrogate_factory
        self.constraints = constraints if constraints is not None else Constraints()
        self.objective = objective
        self.n_queries = _check_positive_int("n_queries", n_queries)
        self.n_initial = _check_positive_int("n_initial", n_initial, 2)
        if self.n_initial > self.n_queries:
            raise ValueError(f"n_initial={n_initial} must not exceed n_queries={n_queries}")
        self.batch_per_round = _check_positive_int("batch_per_round", batch_per_round)
        self.search_kwargs = dict(search_kwargs or {})
        for key in ("space", "surrogate", "constraints", "seed", "initial_population"):
            if key in self.search_kwargs:
                raise ValueError(f"search_kwargs may not set {key!r}: the loop sets it")
        if not (isinstance(avm_margin, (int, float)) and avm_margin >= 0 and math.isfinite(avm_margin)):
            raise ValueError(f"avm_margin={avm_margin!r} must be a non-negative number")
        self.avm_margin = float(avm_margin)
        self.n_seed_archs = _check_positive_int("n_seed_archs", n_seed_archs, 0)
        self.diversity = _check_positive_int("diversity", diversity)
        self.seed = seed
        self.progress = progress

    # --- the loop -------------------------------------------------------------------------
    def run(self) -> LoopResult:
        """Evaluate ``n_queries`` architectures; return them and the best feasible one."""
        started = time.perf_counter()
        rng = as_rng(self.seed)
        archs: list[Any] = []
        rows: list[pd.DataFrame] = []
        message = ""
        bar = tqdm(total=self.n_queries, disable=not self.progress, desc="true evaluations", leave=False)
        try:
            first = self._initial(rng)
            self._evaluate(first, 0, archs, rows, bar)
            round_ = 0
            while len(archs) < self.n_queries:
                round_ += 1
                table = pd.concat(rows, ignore_index=True)
                picks = self.propose(archs, table, min(self.batch_per_round, self.n_queries - len(archs)),
                                     int(rng.integers(2**31 - 1)))
                if not picks:
                    message = "no unevaluated architecture left to propose; "
                    break
                self._evaluate(picks, round_, archs, rows, bar)
        finally:
            bar.close()
        queried = self._table(archs, rows)
        return self._result(queried, message + f"{len(queried)} true evaluations", started)

    def _initial(self, rng: np.random.Generator) -> list[Any]:
        sampler = _Sampler(self.space, self.constraints.max_params)
        pool = _unique_samples(sampler, rng, 10 * self.n_initial, set(), math.inf)
        return spread_out(self.space, pool, self.n_initial, rng)

    def _evaluate(self, picks: list[Any], round_: int, archs: list[Any], rows: list[pd.DataFrame],
                  bar: Any) -> None:
        known = set(archs)
        if any(a in known for a in picks) or len(set(picks)) != len(picks):
            raise AssertionError("an architecture was about to be evaluated twice")
        got = self.oracle(picks)
        missing = [c for c in PREDICTED if c not in got.columns]
        if missing or len(got) != len(picks):
            raise ValueError(f"oracle must return {len(picks)} rows with columns {list(PREDICTED)}; "
                             f"got {len(got)} rows, missing {missing}")
        got = got[list(PREDICTED)].reset_index(drop=True).astype(float)
        got.insert(0, "round", round_)
        archs.extend(picks)
        rows.append(got)
        bar.update(len(picks))
        best = self._table(archs, rows)
        feasible = best[best["feasible"]]
        if len(feasible) and not bar.disable:
            bar.set_postfix(best=f"{feasible['objective'].max():.4g}", refresh=False)

    def propose(self, archs: list[Any], table: pd.DataFrame, n: int, seed: int) -> list[Any]:
        """Fit a surrogate on the evaluated ``archs`` / ``table``, search against it and pick
        ``n`` unevaluated candidates (see :meth:`pick`)."""
        surrogate = self.surrogate_factory(self.space, seed)
        surrogate.fit(list(archs), table[list(PREDICTED)].reset_index(drop=True))
        c = self.constraints
        relaxed = c if c.max_avm is None else dataclasses.replace(c, max_avm=c.max_avm + self.avm_margin)
        kwargs = {"objective": self.objective, "progress": False, **self.search_kwargs}
        search = EvolutionarySearch(self.space, surrogate, relaxed, seed=seed,
                                    initial_population=self._seed_archs(archs, table), **kwargs)
        history = search.run().history
        return self.pick(history, set(archs), n)

    def _seed_archs(self, archs: list[Any], table: pd.DataFrame) -> list[Any]:
        """The best evaluated architectures (feasible first): the search starts next to them."""
        if self.n_seed_archs == 0:
            return []
        queried = self._table(archs, [table])
        order = np.lexsort((-queried["objective"].to_numpy(), ~queried["feasible"].to_numpy()))
        return [archs[i] for i in order[: self.n_seed_archs]]

    def pick(self, history: pd.DataFrame, evaluated: set[Any], n: int) -> list[Any]:
        """The ``n`` best unevaluated candidates of a search's history.

        Candidates predicted feasible come first (by objective), then those within
        ``avm_margin`` of the AVM limit (by objective), then the rest (by violation).
        """
        fresh = history[~history["arch"].isin(evaluated)] if len(history) else history
        if len(fresh) == 0:
            return []
        c = self.constraints
        avm = fresh["avm"].to_numpy(dtype=float)
        strict = fresh["feasible"].to_numpy() & (np.isnan(avm) | (c.max_avm is None) | (avm < (c.max_avm if c.max_avm is not None else np.inf)))
        tier = np.where(strict, 0, np.where(fresh["feasible"].to_numpy(), 1, 2))
        key = np.where(tier < 2, -fresh["objective"].to_numpy(dtype=float), fresh["violation"].to_numpy(dtype=float))
        order = np.lexsort((key, tier))
        ranked = list(fresh["arch"].iloc[order[: max(n, self.diversity * n)]])
        if self.diversity <= 1 or len(ranked) <= n:
            return ranked[:n]
        # the best candidate, then the rest of the top ``diversity * n`` spread over the space
        rest = spread_out(self.space, ranked[1:], n - 1, np.random.default_rng(0), fixed=ranked[:1])
        return ranked[:1] + rest

    # --- results --------------------------------------------------------------------------
    def _table(self, archs: list[Any], rows: list[pd.DataFrame]) -> pd.DataFrame:
        got = pd.concat(rows, ignore_index=True)
        c = self.constraints
        counts = np.array([[self.space.num_params(a, c.input_shape, c.num_classes),
                            self.space.num_tiles(a, c.tile_size, c.input_shape, c.num_classes)]
                           for a in archs], dtype=np.int64).reshape(-1, 2)
        df = pd.DataFrame({"round": got["round"].to_numpy(), "arch": pd.Series(archs, dtype=object)})
        for col in PREDICTED:
            df[col] = got[col].to_numpy()
        df["params"], df["tiles"] = counts[:, 0], counts[:, 1]
        violation = c.violation(counts[:, 0], counts[:, 1], got["avm"].to_numpy())
        df["feasible"] = violation == 0
        df["violation"] = violation
        df["objective"] = true_objective(self.objective, df)
        return df

    def _result(self, queried: pd.DataFrame, message: str, started: float) -> LoopResult:
        feasible = queried["feasible"].to_numpy()
        key = np.where(feasible, -queried["objective"].to_numpy(), queried["violation"].to_numpy())
        best = int(np.lexsort((key, ~feasible))[0])
        row = queried.iloc[best]
        ok = bool(row["feasible"])
        if not ok:
            message += "; no evaluated architecture is feasible: returning the least infeasible"
        metrics = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.drop("arch").items()}
        return LoopResult(queried, row["arch"], metrics, ok, message, time.perf_counter() - started)
