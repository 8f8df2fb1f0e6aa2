"""Baselines for the constrained search, with the interface of ``EvolutionarySearch``.

- :class:`RandomSearch`: distinct random architectures (below ``max_params``), scored in batches.
- :class:`NSGA2Search`: Optuna's NSGA-II sampler over the same space and constraints. Each
  architecture is a define-by-run mapping of trial parameters (:func:`suggest_architecture`);
  the two objectives are the search objective (maximised) and the predicted AVM (minimised);
  the constraints reach Optuna as one aggregated violation (``Trial.set_constraint`` on
  Optuna >= 5, the sampler's ``constraints_func`` before).

Both return a :class:`~analognas.search_result.SearchResult` and score every architecture at most
once (they share :class:`~analognas.archive.Archive` with the evolutionary search).

Example:
    >>> result = RandomSearch(space, surrogate, Constraints(max_avm=1.0), n_samples=5000).run()  # doctest: +SKIP
    >>> result = NSGA2Search(space, surrogate, Constraints(max_avm=1.0), n_trials=2000).run()    # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from .progress import progress_bar

from search_spaces.base import SearchSpace, Seed, as_rng

from .archive import Archive
from .checks import check_int
from .problem import Constraints, ObjectiveLike
from .sampling import Sampler, unique_samples
from .search import SearchStrategy
from .search_result import SearchResult

Suggest = Callable[[Any, SearchSpace], Any]


class RandomSearch(SearchStrategy):
    """Score ``n_samples`` distinct random architectures; keep the best feasible one.

    Samples come from ``space.sample(rng, max_params=...)``; those whose tiles break
    ``max_tiles`` are still scored (and ranked as infeasible). Stops early at the time budget
    (checked before each batch) or when the space has no unscored architecture left.

    Example:
        >>> RandomSearch(space, surrogate, n_samples=1000, progress=False).run().n_scored  # doctest: +SKIP
        1000
    """

    def __init__(
        self,
        space: SearchSpace,
        surrogate: Any,
        constraints: Constraints | None = None,
        objective: ObjectiveLike = "acc_1d/std",
        n_samples: int = 10_000,
        time_budget_s: float | None = None,
        seed: Seed = 0,
        batch_size: int = 1000,
        progress: bool = True,
    ) -> None:
        super().__init__(space, surrogate, constraints, objective, time_budget_s, seed, progress)
        self.n_samples = check_int("n_samples", n_samples, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)

    def run(self) -> SearchResult:
        started, deadline, archive = self._start(self.batch_size)
        rng = as_rng(self.seed)
        sampler = Sampler(self.space, self.constraints.max_params)
        stop = ""
        with progress_bar(total=self.n_samples, disable=not self.progress, desc="random", leave=False) as bar:
            while len(archive) < self.n_samples:
                if time.perf_counter() >= deadline:
                    stop = f"time budget of {self.time_budget_s} s reached"
                    break
                want = min(self.batch_size, self.n_samples - len(archive))
                batch = unique_samples(sampler, rng, want, archive.index, deadline)
                if not batch:
                    stop = "no unscored architecture left to sample (search space exhausted)"
                    break
                bar.update(len(archive.score(batch, 0, deadline)))
        message = f"{stop or f'{self.n_samples} samples done'}; {len(archive)} architectures scored"
        if sampler.note:
            message += f"; {sampler.note}"
        return archive.result(message, started)


# --------------------------------------------------------------------------------------------
# NSGA-II
# --------------------------------------------------------------------------------------------
def suggest_architecture(trial: Any, space: SearchSpace) -> Any:
    """Define-by-run mapping from an Optuna trial to an architecture of ``space``.

    NB201: one categorical operation per edge. ResNet-like: stem channels and kernel, the
    number of main blocks, and the four fields of all five block slots (always suggested, so
    the search space Optuna sees is fixed and NSGA-II evolves every field; slots past the
    block count are ignored). Other spaces: pass your own ``suggest`` to :class:`NSGA2Search`.

    Example:
        >>> study = optuna.create_study()                                   # doctest: +SKIP
        >>> suggest_architecture(study.ask(), NB201Space())                 # doctest: +SKIP
        NB201Arch(ops=(3, 0, 4, 1, 1, 2))
    """
    if space.name == "nb201":
        from search_spaces.nb201 import EDGES, OP_NAMES

        ops = [trial.suggest_categorical(f"edge{s}{d}", list(range(len(OP_NAMES)))) for s, d in EDGES]
        return space.from_dict({"ops": ops})
    if space.name == "resnet_like":
        from search_spaces import resnet as r

        n_blocks = trial.suggest_int("n_blocks", 1, r.MAX_MAIN_BLOCKS)
        blocks = []
        for i in range(r.MAX_MAIN_BLOCKS):
            block = {
                "block_type": trial.suggest_categorical(f"block{i + 1}_type", list(r.BLOCK_TYPES)),
                "residual_blocks": trial.suggest_int(f"block{i + 1}_residual_blocks",
                                                     r.RESIDUAL_BLOCKS[0], r.RESIDUAL_BLOCKS[-1]),
                "branches": trial.suggest_int(f"block{i + 1}_branches", r.BRANCHES[0], r.BRANCHES[-1]),
                "widen": trial.suggest_int(f"block{i + 1}_widen", r.WIDEN[0], r.WIDEN[-1]),
            }
            if i < n_blocks:
                blocks.append(block)
        return space.from_dict({
            "out_channel0": trial.suggest_categorical("out_channel0", list(r.OUT_CHANNEL0)),
            "kernel0": trial.suggest_categorical("kernel0", list(r.KERNEL0)),
            "blocks": blocks,
        })
    raise TypeError(
        f"no trial-to-architecture mapping for the {type(space).__name__} space; "
        "pass suggest=f(trial, space) to NSGA2Search"
    )


class NSGA2Search(SearchStrategy):
    """Optuna's NSGA-II over the space, scoring each generation with the surrogate in one batch.

    Objectives: the search objective (maximised) and predicted AVM (minimised); the
    constraints go to Optuna as one constraint value, the violation of
    :class:`Constraints` (feasible exactly when it is 0). The sampler may propose an
    architecture twice: the repeat is told its known values and is not scored again.
    ``n_trials`` counts distinct scored architectures (at most ``20 * n_trials`` trials are
    asked, so a small space cannot loop forever).

    Example:
        >>> NSGA2Search(space, surrogate, Constraints(max_avm=1.0), n_trials=500).run().feasible  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        surrogate: Any,
        constraints: Constraints | None = None,
        objective: ObjectiveLike = "acc_1d/std",
        n_trials: int = 2000,
        population_size: int = 50,
        time_budget_s: float | None = None,
        seed: int = 0,
        suggest: Suggest | None = None,
        progress: bool = True,
    ) -> None:
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31 - 1))
        super().__init__(space, surrogate, constraints, objective, time_budget_s, seed, progress)
        self.n_trials = check_int("n_trials", n_trials, 1)
        self.population_size = check_int("population_size", population_size, 2)
        self.suggest = suggest or suggest_architecture

    def run(self) -> SearchResult:
        import optuna

        started, deadline, archive = self._start(self.population_size)

        # Optuna 5 takes constraints per trial (Trial.set_constraint) and deprecates the
        # sampler's constraints_func; older versions have only the latter.
        per_trial = hasattr(optuna.trial.Trial, "set_constraint")
        kwargs: dict[str, Any] = {}
        if not per_trial:
            kwargs["constraints_func"] = lambda trial: [trial.user_attrs["violation"]]
        sampler = optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=self.seed,
                                                **kwargs)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one log line per trial drowns the bar
        stop = ""
        asked = generation = 0
        try:
            study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
            with progress_bar(total=self.n_trials, disable=not self.progress, desc="nsga2", leave=False) as bar:
                while len(archive) < self.n_trials:
                    if time.perf_counter() >= deadline:
                        stop = f"time budget of {self.time_budget_s} s reached"
                        break
                    if asked >= 20 * self.n_trials:
                        stop = f"{asked} trials asked, mostly repeats (search space exhausted?)"
                        break
                    # one generation: ask, score the new architectures together, tell
                    room = self.n_trials - len(archive)
                    trials, archs, new = [], [], set()
                    while len(trials) < self.population_size and len(new) < room:
                        trial = study.ask()
                        arch = self.suggest(trial, self.space)
                        trials.append(trial)
                        archs.append(arch)
                        if arch not in archive:
                            new.add(arch)
                    asked += len(trials)
                    before = len(archive)
                    archive.score(archs, generation, deadline)
                    generation += 1
                    bar.update(len(archive) - before)
                    for trial, arch in zip(trials, archs):
                        self._tell(study, trial, archive, arch)
        finally:
            optuna.logging.set_verbosity(verbosity)
        message = f"{stop or f'{self.n_trials} trials done'}; {len(archive)} architectures scored " \
                  f"in {asked} trials"
        return archive.result(message, started)

    @staticmethod
    def _tell(study: Any, trial: Any, archive: Archive, arch: Any) -> None:
        import optuna

        i = archive.index.get(arch)
        if i is None:  # left unscored at the deadline
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        violation = float(archive.col("violation")[i])
        # Optuna needs finite values: NaN or infinite predictions become very bad finite ones
        violation = violation if math.isfinite(violation) else 1e300
        if hasattr(trial, "set_constraint"):
            trial.set_constraint("violation", violation)
        else:
            trial.set_user_attr("violation", violation)
        objective = float(np.nan_to_num(archive.col("objective")[i], neginf=-1e300, posinf=1e300))
        avm = float(np.nan_to_num(archive.col("avm")[i], nan=1e300, posinf=1e300, neginf=-1e300))
        study.tell(trial, [objective, avm])
