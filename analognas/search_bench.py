"""Search strategies measured on AnalogNAS-Bench, and the search's throughput.

The benchmark (``benchmark_search``): NB201 space, the bench table as oracle; each method
spends ``queries`` true evaluations (distinct architectures) per seed and reports the true
acc_1d of the best *feasible* architecture it evaluated, feasible meaning true AVM < max_avm.

- ``evolution``: :class:`~analognas.loop.SurrogateAssistedSearch` (``surrogate.AnalogSurrogate``
  refitted every round, :class:`~analognas.search.EvolutionarySearch` against it).
- ``random``: ``queries`` distinct random architectures.
- ``nsga2``: Optuna's NSGA-II directly on the oracle (no surrogate), ``queries`` distinct
  architectures (repeats proposed by the sampler are answered from memory, not re-evaluated),
  maximising acc_1d and minimising AVM with AVM < max_avm as its constraint.

Example:
    >>> results = benchmark_search(seeds=2, queries=100, progress=False)   # doctest: +SKIP
    >>> summarize_search(results, load_analognas_bench())                 # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from .progress import progress_bar

from search_spaces import NB201Space
from search_spaces.base import SearchSpace

from .baselines import NSGA2Search, RandomSearch
from .loop import OracleScorer, SurrogateAssistedSearch, table_oracle
from .search import Constraints, EvolutionarySearch, SearchResult

METHODS = ("evolution", "random", "nsga2")


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"seeds={seeds!r} must be a positive number of seeds or a list of seeds")
        return list(range(int(seeds)))
    return [int(s) for s in seeds]


def _entry(seed: int, arch: Any, acc: float | None) -> dict[str, Any]:
    return {"seed": seed, "arch": None if arch is None else [int(o) for o in arch.ops],
            "acc_1d": None if acc is None else float(acc)}


def run_method(method: str, seed: int, table: pd.DataFrame, queries: int = 100, max_avm: float = 1.0,
               **kwargs: Any) -> dict[str, Any]:
    """One seed of one method on the bench: ``{"seed", "arch", "acc_1d"}`` of the best feasible
    evaluated architecture (arch and acc_1d are None when none was feasible).

    ``kwargs`` go to the method's class (e.g. ``n_initial`` for evolution).
    """
    space = NB201Space()
    oracle = table_oracle(table)
    constraints = Constraints(max_avm=max_avm)
    if method == "evolution":
        loop = SurrogateAssistedSearch(space, oracle, constraints=constraints, objective="acc_1d",
                                       n_queries=queries, seed=seed, progress=False, **kwargs)
        result = loop.run()
        ok, arch, acc = result.feasible, result.best, result.best_metrics["acc_1d"]
    elif method in ("random", "nsga2"):
        if method == "random":
            search = RandomSearch(space, OracleScorer(oracle), constraints, objective="acc_1d",
                                  n_samples=queries, seed=seed, batch_size=queries, progress=False, **kwargs)
        else:
            kwargs.setdefault("population_size", 20)
            search = NSGA2Search(space, OracleScorer(oracle), constraints, objective="acc_1d",
                                 n_trials=queries, seed=seed, progress=False, **kwargs)
        res: SearchResult = search.run()
        if res.n_scored != queries:
            raise RuntimeError(f"{method} spent {res.n_scored} evaluations instead of {queries}: {res.message}")
        ok, arch, acc = res.feasible, res.best, res.best_prediction["acc_1d"]
    else:
        raise ValueError(f"method={method!r} is not allowed; use one of {list(METHODS)}")
    return _entry(seed, arch, acc) if ok else _entry(seed, None, None)


def benchmark_search(
    seeds: int | Iterable[int] = 20,
    queries: int = 100,
    max_avm: float = 1.0,
    methods: Sequence[str] = METHODS,
    progress: bool = True,
    table: pd.DataFrame | None = None,
    method_kwargs: dict[str, dict[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run each method for each seed; JSON-ready results.

    Returns ``{"evolution": [{"seed": 0, "arch": [6 ints], "acc_1d": 90.1}, ...], "random":
    [...], "nsga2": [...]}`` (only the requested methods, in order). ``table`` defaults to
    ``surrogate.load_analognas_bench()``; ``method_kwargs[method]`` goes to that method's
    class (e.g. ``{"evolution": {"n_initial": 20}}``).

    Example:
        >>> benchmark_search(seeds=1, methods=("random",), progress=False)  # doctest: +SKIP
        {'random': [{'seed': 0, 'arch': [...], 'acc_1d': ...}]}
    """
    unknown = [m for m in [*methods, *(method_kwargs or {})] if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; allowed: {list(METHODS)}")
    if table is None:
        from surrogate import load_analognas_bench

        table = load_analognas_bench()
    seed_list = _seed_list(seeds)
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    with progress_bar(total=len(methods) * len(seed_list), disable=not progress, desc="benchmark") as bar:
        for method in methods:
            for seed in seed_list:
                bar.set_postfix(method=method, seed=seed, refresh=False)
                kwargs = (method_kwargs or {}).get(method, {})
                results[method].append(run_method(method, seed, table, queries, max_avm, **kwargs))
                bar.update(1)
    return results


def summarize_search(results: dict[str, list[dict[str, Any]]], table: pd.DataFrame,
                     max_avm: float = 1.0) -> pd.DataFrame:
    """One row per method: seeds, found (seeds with a feasible result), mean, std, min, max of
    the true acc_1d, the mean regret against the best feasible cell of ``table``, and ``sem``,
    the standard error of that mean (std / sqrt(found)): how far the mean of another set of
    seeds may fall, which says whether two methods or a method and a target differ.

    Every reported architecture is checked against ``table``: it must be feasible there and
    its acc_1d must match, or ValueError. Seeds without a feasible result are left out of
    the statistics (and counted in ``seeds - found``).

    Example:
        >>> summarize_search({"random": [{"seed": 0, "arch": [2, 2, 0, 4, 2, 1], "acc_1d": 90.53}]},
        ...                  load_analognas_bench())                             # doctest: +SKIP
    """
    ops = {tuple(a.ops): i for i, a in enumerate(table["arch"])}
    acc = table["acc_1d"].to_numpy(dtype=float)
    avm = table["avm"].to_numpy(dtype=float)
    feasible = avm < max_avm
    if not feasible.any():
        raise ValueError(f"no cell of the table has avm < {max_avm}")
    top = float(acc[feasible].max())
    rows = []
    for method, entries in results.items():
        found = []
        for e in entries:
            if e["arch"] is None:
                continue
            i = ops.get(tuple(e["arch"]))
            if i is None:
                raise ValueError(f"{method} seed {e['seed']}: {e['arch']} is not a cell of the table")
            if not feasible[i]:
                raise ValueError(f"{method} seed {e['seed']}: {e['arch']} has avm {avm[i]} >= {max_avm}")
            if abs(acc[i] - e["acc_1d"]) > 1e-6:
                raise ValueError(f"{method} seed {e['seed']}: acc_1d {e['acc_1d']} but the table says {acc[i]}")
            found.append(acc[i])
        a = np.array(found)
        rows.append({
            "method": method, "seeds": len(entries), "found": len(a),
            "mean": a.mean() if len(a) else np.nan, "std": a.std(ddof=1) if len(a) > 1 else np.nan,
            "min": a.min() if len(a) else np.nan, "max": a.max() if len(a) else np.nan,
            "regret": top - a.mean() if len(a) else np.nan,
            "sem": a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.nan,
            "hit_best": int((a >= top).sum()),
        })
    out = pd.DataFrame(rows).set_index("method")
    out.attrs["best_feasible"] = top
    out.attrs["n_feasible"] = int(feasible.sum())
    return out


def measure_throughput(space: SearchSpace, surrogate: Any, seconds: float = 5.0, seed: int = 0,
                       constraints: Constraints | None = None, **search_kwargs: Any) -> float:
    """Candidates scored per second by :class:`EvolutionarySearch` against ``surrogate``
    (fitted) over a ``seconds`` budget, initial population included (the result's history
    table, built only when read, is not).

    Example:
        >>> measure_throughput(ResNetLikeSpace(), fitted_surrogate, seconds=5)  # doctest: +SKIP
    """
    kwargs = {"iterations": 10**9, "progress": False, **search_kwargs}
    search = EvolutionarySearch(space, surrogate, constraints, time_budget_s=seconds, seed=seed, **kwargs)
    started = time.perf_counter()
    result = search.run()
    return result.n_scored / (time.perf_counter() - started)
