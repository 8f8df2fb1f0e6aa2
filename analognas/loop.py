"""Surrogate-assisted search: spend a budget of true evaluations where the surrogate points.

An *oracle* gives the true metrics of architectures: ``oracle(archs) -> DataFrame`` with the
columns acc_1d, acc_1d_std and avm, one row per architecture in order. It can train and
evaluate networks, or look them up in a table (:func:`table_oracle`).

The loop: evaluate ``n_initial`` architectures that cover the space; then, round after round,
fit a fresh surrogate on everything evaluated so far, run the evolutionary search against it
(seeded with the best evaluated architectures), and evaluate the ``batch_per_round``
never-evaluated candidates it scored with the highest *constrained expected improvement*
(see :meth:`SurrogateAssistedSearch.acquisition`); until ``n_queries`` evaluations have been
spent. No architecture is evaluated twice, and while others are left none that builds the
same network as an evaluated one (``space.canonical``: e.g. an NB201 cell with dead edges).

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
from scipy.special import ndtr
from .progress import progress_bar

from search_spaces.base import SearchSpace, Seed, as_rng

from .archive import Archive
from .checks import check_int, check_number
from .problem import PREDICTED, Constraints, ObjectiveLike, robust_scale
from .sampling import Sampler, spread_out, unique_samples
from .search import EvolutionarySearch

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


class OracleScorer:
    """An oracle in a surrogate's clothes (``predict = oracle``), so that any search strategy
    can spend true evaluations directly, e.g. a baseline without a surrogate.

    Example:
        >>> RandomSearch(space, OracleScorer(table_oracle(bench)), n_samples=100).run()  # doctest: +SKIP
    """

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle

    def predict(self, archs: Sequence[Any]) -> pd.DataFrame:
        return self.oracle(list(archs))


def default_surrogate_factory(space: SearchSpace, seed: int) -> Any:
    """A fresh, unfitted ``surrogate.AnalogSurrogate`` (imported here, only when needed).

    One XGBoost thread: the loop's tables are small (tens to hundreds of rows), where more
    threads cost more than they bring (5x slower fits measured on 2 busy cores). AVM is
    modelled as a share of the 1-day error (``avm_per_error``): on AnalogNAS-Bench that put
    more feasible top cells among the candidates the loop ranks first.
    """
    from surrogate import AnalogSurrogate

    return AnalogSurrogate(space, params={"avm_per_error": True}, seed=seed, n_jobs=1)


def true_objective(objective: ObjectiveLike, table: pd.DataFrame) -> np.ndarray:
    """The objective on *true* metrics, where acc_1d is an accuracy (not a ranking score).

    ``"acc_1d"`` is the accuracy; ``"acc_1d/std"`` the paper's accuracy / spread (spreads
    floored at 0.1 points: a measured spread can be 0, a predicted one tiny); a callable
    gets ``table``.
    """
    if callable(objective):
        return np.asarray(objective(table), dtype=float).reshape(-1)
    acc = table["acc_1d"].to_numpy(dtype=float)
    if objective == "acc_1d":
        return acc
    if objective == "acc_1d/std":
        return acc / np.maximum(table["acc_1d_std"].to_numpy(dtype=float), 0.1)
    raise ValueError(f"objective={objective!r} is not allowed; use 'acc_1d', 'acc_1d/std' or a callable")


@dataclasses.dataclass
class LoopResult:
    """What :class:`SurrogateAssistedSearch` returns.

    Attributes:
        queried: one row per true evaluation, in order: round (0 for the initial ones), arch,
            true acc_1d, acc_1d_std, avm, exact params and tiles, feasible, violation,
            objective (true), and for rounds >= 1 what the surrogate predicted for it
            (pred_objective, pred_avm; NaN for the initial ones).
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


@dataclasses.dataclass
class _LoopState:
    """Everything one run has learnt: evaluated architectures, their true metrics, and what
    the surrogate of the round predicted for them (for its out-of-sample errors)."""

    archs: list[Any] = dataclasses.field(default_factory=list)
    rows: list[pd.DataFrame] = dataclasses.field(default_factory=list)
    counts: dict[Any, tuple[int, int]] = dataclasses.field(default_factory=dict)
    canonical: set[Any] = dataclasses.field(default_factory=set)  # of the evaluated networks

    def __contains__(self, arch: Any) -> bool:
        return arch in self.counts


class SurrogateAssistedSearch:
    """Spend ``n_queries`` true evaluations, guided by a surrogate refitted every round.

    Args:
        space: the search space.
        oracle: ``oracle(archs) -> DataFrame[acc_1d, acc_1d_std, avm]`` (true metrics).
        surrogate_factory: ``factory(space, seed)`` returning a fresh object with
            ``fit(archs, table)`` and ``predict(archs)``; default ``surrogate.AnalogSurrogate``.
            Its acc_1d should read like an accuracy (AnalogSurrogate maps its ranking score
            onto the training labels' scale), since the loop compares it with true values.
        constraints: the limits; AVM is checked with the surrogate during the search and with
            the oracle's true AVM for the result.
        objective: what to maximise: ``"acc_1d"``, ``"acc_1d/std"`` or ``f(df) -> values``;
            on true and on predicted metrics alike it is read as in :func:`true_objective`.
        n_initial: first evaluations, spread over the space before any surrogate exists.
        n_queries: total true evaluations (the initial ones included).
        batch_per_round: evaluations per round, after which the surrogate is refitted.
        search_kwargs: extra arguments of :class:`EvolutionarySearch` (population_size,
            iterations, time_budget_s, ...).
        avm_margin: the search treats predicted AVM up to ``max_avm + avm_margin`` as
            feasible, so that its history also holds candidates near the limit, where a
            surrogate fitted on a few points cannot tell the two sides apart; ``None``: twice
            the surrogate's AVM error (see :meth:`acquisition`).
        n_seed_archs: best evaluated architectures that seed each search's population.
        bootstrap: fit each round's surrogate on a bootstrap resample of the evaluations, so
            that successive rounds see the data through slightly different models (a cheap
            Thompson-sampling flavour of exploration).
        min_feasible_prob: candidates whose chance of meeting ``max_avm`` (see
            :meth:`feasible_probability`) is below this come after all others (on the bench,
            0.5 found better cells than 0 or 0.8); 0 leaves the trade-off to the acquisition.
        local_fraction: share of each round's picks taken from one- and two-step mutations
            of the ``n_local_parents`` best evaluated architectures (``n_local_mutations``
            tries each), the rest from the search's history.
        seed: seeds everything (sampling, surrogates, searches).
        progress: show a progress bar over true evaluations.

    Example:
        >>> loop = SurrogateAssistedSearch(NB201Space(), table_oracle(bench), n_queries=100,
        ...                                constraints=Constraints(max_avm=1.0))  # doctest: +SKIP
        >>> loop.run().best_metrics["acc_1d"]                                 # doctest: +SKIP
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
        batch_per_round: int = 5,
        search_kwargs: dict[str, Any] | None = None,
        avm_margin: float | None = None,
        n_seed_archs: int = 20,
        bootstrap: bool = True,
        min_feasible_prob: float = 0.5,
        local_fraction: float = 0.5,
        n_local_parents: int = 5,
        n_local_mutations: int = 60,
        seed: Seed = 0,
        progress: bool = True,
    ) -> None:
        self.space = space
        self.oracle = oracle
        self.surrogate_factory = surrogate_factory or default_surrogate_factory
        self.constraints = constraints if constraints is not None else Constraints()
        if self.constraints.has_cost:  # not silently ignored: the loop checks parameters, tiles and AVM only
            raise ValueError("constraints.max_energy_j, max_latency_s and max_chips are not supported by the "
                             "surrogate-assisted loop yet; allowed: None (use EvolutionarySearch for cost limits)")
        if not callable(objective) and objective not in ("acc_1d", "acc_1d/std"):
            raise ValueError(f"objective={objective!r} is not allowed; use 'acc_1d', 'acc_1d/std' or a callable")
        self.objective = objective
        self.n_queries = check_int("n_queries", n_queries, 1)
        # 1 is allowed for a run with known evaluations; run() checks that 2 exist before a fit
        self.n_initial = check_int("n_initial", n_initial, 1)
        if self.n_initial > self.n_queries:
            raise ValueError(f"n_initial={n_initial} must not exceed n_queries={n_queries}")
        self.batch_per_round = check_int("batch_per_round", batch_per_round, 1)
        self.search_kwargs = dict(search_kwargs or {})
        for key in ("space", "surrogate", "constraints", "seed", "initial_population"):
            if key in self.search_kwargs:
                raise ValueError(f"search_kwargs may not set {key!r}: the loop sets it")
        self.avm_margin = check_number("avm_margin", avm_margin, ge=0, none_ok=True, numpy=False)
        self.n_seed_archs = check_int("n_seed_archs", n_seed_archs, 0)
        self.bootstrap = bool(bootstrap)
        self.min_feasible_prob = check_number("min_feasible_prob", min_feasible_prob, ge=0, le=1, numpy=False)
        self.local_fraction = check_number("local_fraction", local_fraction, ge=0, le=1, numpy=False)
        self.n_local_parents = check_int("n_local_parents", n_local_parents, 1)
        self.n_local_mutations = check_int("n_local_mutations", n_local_mutations, 1)
        self.seed = seed
        self.progress = progress

    # --- the loop -------------------------------------------------------------------------
    def run(self, known: pd.DataFrame | None = None) -> LoopResult:
        """Evaluate ``n_queries`` architectures; return them and the best feasible one.

        ``known``: earlier true evaluations (columns arch, acc_1d, acc_1d_std, avm; NaN for
        failed ones), e.g. the rows of a results table. The surrogates learn from them, the
        loop never evaluates them again, and they do not count against ``n_queries``; they
        appear in ``queried`` with round -1, and count towards ``n_initial``.
        """
        started = time.perf_counter()
        rng = as_rng(self.seed)
        state = _LoopState()
        if known is not None and len(known):
            self._add_known(state, known)
        n_known = len(state.archs)
        n_init = min(max(self.n_initial - n_known, 0), self.n_queries)
        if n_known + n_init < 2:
            raise ValueError(f"n_initial={self.n_initial} with {n_known} known evaluation(s): the first "
                             "surrogate needs at least 2 evaluated architectures")
        message = ""
        with progress_bar(total=self.n_queries, disable=not self.progress, desc="true evaluations",
                          leave=False) as bar:
            if n_init:
                self._evaluate(state, self._initial(rng, n_init, state), None, 0, bar)
            round_ = 0
            while len(state.archs) - n_known < self.n_queries:
                round_ += 1
                n = min(self.batch_per_round, self.n_queries - (len(state.archs) - n_known))
                picks, predicted = self.propose(state, n, int(rng.integers(2**31 - 1)))
                if not picks:
                    message = "no unevaluated architecture left to propose; "
                    break
                self._evaluate(state, picks, predicted, round_, bar)
        queried = self._table(state)
        return self._result(queried, message + f"{len(queried) - n_known} true evaluations", started)

    def summary(self, known: pd.DataFrame) -> LoopResult:
        """The :class:`LoopResult` of ``known`` evaluations alone (nothing is evaluated)."""
        state = _LoopState()
        self._add_known(state, known)
        return self._result(self._table(state), "0 true evaluations", time.perf_counter())

    def _add_known(self, state: _LoopState, known: pd.DataFrame) -> None:
        missing = [c for c in ("arch", *PREDICTED) if c not in known.columns]
        if missing:
            raise ValueError(f"known evaluations need the columns arch, {', '.join(PREDICTED)}; missing {missing}")
        known = known.drop_duplicates("arch").reset_index(drop=True)
        got = known[list(PREDICTED)].astype(float)
        got.insert(0, "round", -1)
        got["pred_objective"] = np.nan
        got["pred_avm"] = np.nan
        self._record(state, list(known["arch"]), got)

    def _initial(self, rng: np.random.Generator, n: int | None = None, state: _LoopState | None = None) -> list[Any]:
        n = self.n_initial if n is None else n
        sampler = Sampler(self.space, self.constraints.max_params)
        taken = state.archs if state is not None else []
        pool = unique_samples(sampler, rng, 10 * n, set(taken), math.inf)
        return spread_out(self.space, pool, n, rng, fixed=taken)

    def _evaluate(self, state: _LoopState, picks: list[Any], predicted: pd.DataFrame | None,
                  round_: int, bar: Any) -> None:
        if any(a in state for a in picks) or len(set(picks)) != len(picks):
            raise AssertionError("an architecture was about to be evaluated twice")
        got = self.oracle(picks)
        missing = [c for c in PREDICTED if c not in got.columns]
        if missing or len(got) != len(picks):
            raise ValueError(f"oracle must return {len(picks)} rows with columns {list(PREDICTED)}; "
                             f"got {len(got)} rows, missing {missing}")
        got = got[list(PREDICTED)].reset_index(drop=True).astype(float)
        got.insert(0, "round", round_)
        got["pred_objective"] = np.nan if predicted is None else predicted["objective"].to_numpy()
        got["pred_avm"] = np.nan if predicted is None else predicted["avm"].to_numpy()
        self._record(state, picks, got)
        bar.update(len(picks))
        if not bar.disable:
            queried = self._table(state)
            feasible = queried[queried["feasible"]]
            if len(feasible):
                bar.set_postfix(best=f"{feasible['objective'].max():.4g}", refresh=False)

    def _record(self, state: _LoopState, archs: list[Any], got: pd.DataFrame) -> None:
        c = self.constraints
        for a in archs:
            state.counts[a] = (int(self.space.num_params(a, c.input_shape, c.num_classes)),
                               int(self.space.num_tiles(a, c.tile_size, c.input_shape, c.num_classes)))
        state.archs.extend(archs)
        state.canonical.update(self.space.canonical(a) for a in archs)
        state.rows.append(got)

    def propose(self, state: _LoopState, n: int, seed: int) -> tuple[list[Any], pd.DataFrame]:
        """Fit a surrogate on what ``state`` evaluated, search against it, and return the ``n``
        unevaluated candidates of the search's history with the highest :meth:`acquisition`
        (and their predictions)."""
        queried = self._table(state)
        surrogate = self.surrogate_factory(self.space, seed)
        # failed trainings have no metrics to learn from (fitting on them only warns each round)
        measured = np.flatnonzero(np.isfinite(queried[list(PREDICTED)].to_numpy(dtype=float)).all(axis=1))
        rows = measured
        if self.bootstrap:
            rows = np.sort(np.random.default_rng(seed).choice(measured, len(measured)))
        surrogate.fit([state.archs[i] for i in rows], queried[list(PREDICTED)].iloc[rows].reset_index(drop=True))
        errors = self.errors(queried)
        c = self.constraints
        relaxed = c
        if c.max_avm is not None:
            bias, scale = errors["avm"]
            margin = max(0.0, 2.0 * scale - bias) if self.avm_margin is None else self.avm_margin
            relaxed = dataclasses.replace(c, max_avm=c.max_avm + margin)
        kwargs = {"objective": self.objective, "progress": False, **self.search_kwargs}
        search = EvolutionarySearch(self.space, surrogate, relaxed, seed=seed,
                                    initial_population=self._seed_archs(state, queried), **kwargs)
        history = search.run().history
        fresh = history[~history["arch"].map(state.__contains__)].reset_index(drop=True)
        n_local = int(round(self.local_fraction * n))
        local = self._neighbours(state, queried, surrogate, relaxed, seed) if n_local else fresh.iloc[0:0]
        picks: list[Any] = []
        chosen: list[pd.DataFrame] = []
        for cands, k in ((local, n_local), (fresh, n)):
            cands = cands[~cands["arch"].isin(set(picks))].reset_index(drop=True)
            k = min(k, n - len(picks))
            if k <= 0 or len(cands) == 0:
                continue
            order = self._distinct_networks(self._rank(state, cands, queried, errors), cands["arch"], picks, k)
            picks += list(cands["arch"].iloc[order])
            chosen.append(cands.iloc[order])
        if not picks:
            return [], fresh.iloc[0:0]
        return picks, pd.concat(chosen, ignore_index=True)

    def _distinct_networks(self, order: np.ndarray, archs: pd.Series, picked: list[Any], k: int) -> np.ndarray:
        """The first ``k`` of ``order``, skipping candidates that build the same network as one
        picked before them in this batch (taken only when nothing else is left)."""
        taken = {self.space.canonical(a) for a in picked}
        first, later = [], []
        for i in order:
            c = self.space.canonical(archs.iloc[i])
            (later if c in taken else first).append(i)
            taken.add(c)
            if len(first) == k:
                break
        return np.array((first + later)[:k], dtype=np.int64)

    def _rank(self, state: _LoopState, cands: pd.DataFrame, queried: pd.DataFrame,
              errors: dict[str, tuple[float, float]]) -> np.ndarray:
        """Candidate order, best first: those that fit the exact limits, are new networks (not
        another encoding of an evaluated one) and likely feasible first; then by acquisition."""
        cands["objective"] = true_objective(self.objective, cands)
        acq = self.acquisition(cands, queried, errors)
        unlikely = self.feasible_probability(cands, errors) < self.min_feasible_prob
        # exact limits are certain: candidates that break them come last, least broken first
        exact = self.constraints.violation(cands["params"].to_numpy(dtype=float),
                                           cands["tiles"].to_numpy(dtype=float, na_value=np.nan))
        # another encoding of an evaluated network would mostly measure that network again
        repeat = np.array([self.space.canonical(a) in state.canonical for a in cands["arch"]], dtype=bool)
        return np.lexsort((-cands["objective"].to_numpy(), -acq, unlikely, repeat, exact))

    def _neighbours(self, state: _LoopState, queried: pd.DataFrame, surrogate: Any,
                    constraints: Constraints, seed: int) -> pd.DataFrame:
        """Unevaluated one- and two-step mutations of the best evaluated architectures, scored."""
        rng = np.random.default_rng(seed + 1)
        found: dict[Any, None] = {}
        for parent in self._seed_archs(state, queried)[: self.n_local_parents]:
            for _ in range(self.n_local_mutations):
                child = self.space.mutate(parent, rng)
                if rng.random() < 0.5:
                    child = self.space.mutate(child, rng)
                if child not in state:
                    found[child] = None
        archive = Archive(self.space, surrogate, constraints, self.objective)
        archive.score(list(found), generation=0)
        return archive.history()

    def acquisition(self, candidates: pd.DataFrame, queried: pd.DataFrame,
                    errors: dict[str, tuple[float, float]]) -> np.ndarray:
        """Constrained expected improvement: ``EI(objective) * P(avm < max_avm)``.

        The predicted objective and AVM, corrected by the surrogate's typical bias, are treated
        as normal with its typical error (both from :meth:`errors`).
        ``EI = s * (z Phi(z) + phi(z))`` with ``z = (mu - best) / s``, where best is the best
        true objective of a feasible evaluated architecture (the worst evaluated one while
        none is feasible). Unlike "feasible first, then by objective", a candidate that is
        surely feasible but surely poor scores low, so the loop does not get stuck on, e.g.,
        disconnected cells that never drift.
        """
        bias, scale = errors["objective"]
        mu = candidates["objective"].to_numpy(dtype=float) + bias
        feasible = queried["feasible"].to_numpy()
        objective = queried["objective"].to_numpy(dtype=float)
        best = objective[feasible].max() if feasible.any() else objective.min()
        z = (mu - best) / scale
        ei = scale * (z * ndtr(z) + np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi))
        return np.nan_to_num(ei * self.feasible_probability(candidates, errors), nan=-np.inf)

    def feasible_probability(self, candidates: pd.DataFrame, errors: dict[str, tuple[float, float]]) -> np.ndarray:
        """P(true AVM < max_avm) of each candidate, its predicted AVM corrected by the
        surrogate's typical bias and treated as normal with its typical error (1 without an
        AVM limit)."""
        if self.constraints.max_avm is None:
            return np.ones(len(candidates))
        bias, scale = errors["avm"]
        avm = candidates["avm"].to_numpy(dtype=float) + bias
        return np.nan_to_num(ndtr((self.constraints.max_avm - avm) / scale), nan=0.0)

    def errors(self, queried: pd.DataFrame) -> dict[str, tuple[float, float]]:
        """The surrogate's typical (bias, error) on the objective and on AVM.

        From its *out-of-sample* residuals: what each round's surrogate predicted for the
        architectures it picked, against their true values, once at least five are known.
        The bias is their median (picks are chosen for high predicted objective and low
        predicted AVM, so their predictions lean the hopeful way); the error their robust
        spread (median absolute deviation), since a few networks that fail to train give
        huge residuals that a root mean square would let swamp the rest. Before that: no
        bias and half the robust spread of the initial true values.
        """
        out = {}
        for true, pred in (("objective", "pred_objective"), ("avm", "pred_avm")):
            seen = queried[pred].notna().to_numpy()
            resid = (queried[true] - queried[pred]).to_numpy(dtype=float)[seen]
            resid = resid[np.isfinite(resid)]
            if len(resid) >= 5:
                bias = float(np.median(resid))
                scale = 1.4826 * float(np.median(np.abs(resid - bias)))
            else:
                values = queried[true].to_numpy(dtype=float)
                bias, scale = 0.0, 0.5 * robust_scale(values[np.isfinite(values)])
            out[true] = (bias, max(scale, 1e-6))
        return out

    def _seed_archs(self, state: _LoopState, queried: pd.DataFrame) -> list[Any]:
        """The best evaluated architectures (feasible first): the search starts next to them."""
        if self.n_seed_archs == 0:
            return []
        order = np.lexsort((-queried["objective"].to_numpy(), ~queried["feasible"].to_numpy()))
        return [state.archs[i] for i in order[: self.n_seed_archs]]

    # --- results --------------------------------------------------------------------------
    def _table(self, state: _LoopState) -> pd.DataFrame:
        got = pd.concat(state.rows, ignore_index=True)
        c = self.constraints
        counts = np.array([state.counts[a] for a in state.archs], dtype=np.int64).reshape(-1, 2)
        df = pd.DataFrame({"round": got["round"].to_numpy(), "arch": pd.Series(state.archs, dtype=object)})
        for col in PREDICTED:
            df[col] = got[col].to_numpy()
        df["params"], df["tiles"] = counts[:, 0], counts[:, 1]
        violation = c.violation(counts[:, 0], counts[:, 1], got["avm"].to_numpy())
        df["feasible"] = violation == 0
        df["violation"] = violation
        df["objective"] = true_objective(self.objective, df)
        df["pred_objective"] = got["pred_objective"].to_numpy()
        df["pred_avm"] = got["pred_avm"].to_numpy()
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


# --- the loop on a results table, with a training oracle -----------------------------------
def grow_table(builder: Any, budget: int, constraints: Constraints | None = None,
               objective: ObjectiveLike = "acc_1d", n_initial: int = 10, batch_per_round: int = 2,
               search_kwargs: dict[str, Any] | None = None, surrogate_factory: SurrogateFactory | None = None,
               seed: int = 0, progress: bool = True) -> LoopResult:
    """Spend ``budget`` real HWA evaluations where the surrogate points, into a results table.

    ``builder`` (an :class:`analognas.dataset.DatasetBuilder`) names the table, the data and
    the training / evaluation settings. Every row the table holds is a known evaluation the
    surrogate learns from; each new architecture is trained and drift-evaluated with
    ``evaluate_architecture`` and appended to the table (with its run id and provenance) the
    moment it is done; the surrogate is refitted every ``batch_per_round`` evaluations.
    ``budget`` counts the rows that *all* loop runs on this table added, so rerunning the same
    call after an interruption spends only what is left (0 left: nothing is evaluated).

    Example:
        >>> from analognas.dataset import DatasetBuilder
        >>> b = DatasetBuilder("resnet_like", "runs/grow.csv", "digits", max_params=20_000)   # doctest: +SKIP
        >>> result = grow_table(b, budget=20, constraints=Constraints(max_params=20_000))    # doctest: +SKIP
        >>> result.best_metrics["acc_1d"]                                                    # doctest: +SKIP
    """
    from .dataset import read_results

    check_int("budget", budget, 1)
    data = builder.data()
    constraints = dataclasses.replace(constraints if constraints is not None else Constraints(),
                                      input_shape=tuple(data.input_shape), num_classes=data.num_classes)
    settings = {"budget": budget, "objective": objective if isinstance(objective, str) else repr(objective),
                "constraints": dataclasses.asdict(constraints), "n_initial": n_initial,
                "batch_per_round": batch_per_round, "seed": seed}
    with builder.open_run("loop", extra={"loop": settings}) as run:
        spent = run.rows_of("loop")
        known = read_results(builder.path, builder.space, include_failed=True) if not run.done.empty else None
        remaining = budget - spent
        # the rounds of a resumed loop differ from an uninterrupted one, but follow from (seed, spent)
        loop_seed = int(np.random.SeedSequence([seed, spent]).generate_state(1)[0])
        loop = SurrogateAssistedSearch(
            builder.space, _training_oracle(run), surrogate_factory, constraints, objective,
            n_initial=max(1, min(n_initial, remaining)), n_queries=max(remaining, 1),
            batch_per_round=batch_per_round, search_kwargs=search_kwargs, seed=loop_seed, progress=progress)
        if remaining <= 0:
            result = loop.summary(known)
            result.message = f"the budget of {budget} loop evaluations is spent ({spent} in the table)"
            return result
        result = loop.run(known)
        result.message += f" ({spent + run.new_rows} of the budget of {budget} spent)"
        return result


def _training_oracle(run: Any) -> Oracle:
    """An oracle that trains and evaluates each architecture into the open table run, one at a
    time, so that an interruption loses at most the one in progress."""

    def oracle(archs: Sequence[Any]) -> pd.DataFrame:
        from .dataset import LOOP_INDEX_START

        rows = [run.evaluate_archs([a], start=LOOP_INDEX_START)[0] for a in archs]
        return pd.DataFrame([{k: float(r[k]) for k in PREDICTED} for r in rows], columns=list(PREDICTED))

    return oracle

