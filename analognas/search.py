"""Constrained evolutionary search against a surrogate, within a time budget: the strategies.

The problem: maximise an objective of the surrogate's predicted metrics (by default
acc_1d / acc_1d_std, see :class:`Objective`) subject to

- parameter count ``< max_params``   (exact, from the search space),
- crossbar tiles ``< max_tiles``     (exact, from the search space),
- predicted AVM ``< max_avm``        (from the surrogate),
- energy and latency per inference ``< max_energy_j``, ``< max_latency_s``, and chips needed
  ``<= max_chips``, on ``chip``      (exact, from :mod:`analognas.cost`).

The search *strategy* (this module's :class:`EvolutionarySearch`, and the baselines in
``analognas.baselines``) is separate from the search *state* (:class:`~analognas.archive.Archive`:
every scored architecture, the memory that keeps any from being scored twice, and the history),
in the way Optuna separates samplers from studies. The limits and the objective are in
:mod:`analognas.problem`, the result in :mod:`analognas.search_result`, the sampling in
:mod:`analognas.sampling`; the names this module held before it was split still import from here.

Children are made on two paths: on architecture objects (``_children``), which any space
supports, and on batches of encoding rows (``_children_encoded``) for spaces with vectorised
operations. Both stay: NB201 and user spaces have no encoded operations, and on the ResNet-like
space the object path scores 3x fewer candidates per CPU second (5,500 against 16,500).

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

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from analognas.progress import progress_bar

from analognas.archive import Archive, EncodedArchive, pareto_front
from analognas.checks import check_bool, check_int, check_number
from analognas.problem import PREDICTED, Constraints, Objective, ObjectiveLike
from analognas.sampling import Sampler, first_new, spread_out, unique_samples
from analognas.search_result import SearchResult
from search_spaces.base import SearchSpace, Seed, as_rng, pick

__all__ = [
    "PREDICTED", "DEFAULT_ITERATIONS", "Constraints", "ObjectiveLike", "Objective", "SearchResult", "pareto_front",
    "Archive", "EncodedArchive", "spread_out", "SearchStrategy", "EvolutionarySearch",
]

#: generations of an evolutionary search given neither ``iterations`` nor a time budget
DEFAULT_ITERATIONS = 100


class _Either:
    """``x in _Either(a, b)``: x is in a or in b (without building their union)."""

    def __init__(self, *containers: Any) -> None:
        self.containers = containers

    def __contains__(self, x: Any) -> bool:
        return any(x in c for c in self.containers)


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
        sampler = Sampler(self.space, self.constraints.max_params)
        iterations = self.max_generations
        # with a budget, the bar counts seconds: the budget is what ends the run; tqdm puts
        # the ", " before a postfix itself
        bar = progress_bar(total=self.time_budget_s if math.isinf(iterations) else iterations,
                   disable=not self.progress, desc="evolution", leave=False,
                   maxinterval=float("inf"),  # no redraws between generations: _show draws
                   unit="s" if math.isinf(iterations) else "it",
                   bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s{postfix}" if math.isinf(iterations) else None)
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
    def _initial_population(self, archive: Archive, sampler: Sampler, rng: np.random.Generator,
                            deadline: float) -> list[Any]:
        fixed = list(dict.fromkeys(self.initial_population))[: self.population_size]
        need = self.population_size - len(fixed)
        pool = unique_samples(sampler, rng, self.pool_factor * need, set(fixed), deadline)
        if self.constraints.has_exact:
            # sample() knows neither tiles nor other input shapes: prefer members that fit
            fits = [a for a in pool if archive.exact_violation(a) == 0]
            if len(fits) >= need:
                pool = fits
        return fixed + spread_out(self.space, pool, need, rng, fixed)

    def _children(self, archive: Archive, survivors: np.ndarray, sampler: Sampler,
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
            more = unique_samples(sampler, rng, n - len(children), taken | archive.index.keys(), deadline)
            children += [a for a in more if archive.exact_violation(a) == 0] or more
        return children

    def _children_encoded(self, archive: EncodedArchive, survivors: np.ndarray, sampler: Sampler,
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
            more = unique_samples(sampler, rng, need, _Either(archive, set(space.decode_many(out))), deadline)
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
            seen[first_new(archive.keys(child), archive.index, taken)] = False
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
                         "feasible": "yes" if archive.col("violation")[best] == 0 else "no", "scored": len(archive)},
                        refresh=False)
        bar.refresh()
        bar.last_print_t = time.time()  # tqdm's clock
