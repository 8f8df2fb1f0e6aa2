"""Test-retest reliability of a results table: how much of a metric's spread is the networks'.

A table's metrics mix two things: real differences between networks, and measurement noise
(training seed, programming noise, a finite test set). ``retest`` trains and evaluates ``n``
of the table's networks again with another seed into a side table; ``reliability`` then
reports, per metric, the share of the variance that lies between networks:

    ICC(1,1) = (MSB - MSW) / (MSB + (k - 1) MSW)

the one-way random-effects, single-measurement intraclass correlation (Shrout & Fleiss 1979,
case 1; McGraw & Wong 1996, "ICC(1)"), with MSB and MSW the between-network and
within-network mean squares of the n x k measurements (k = 2 here). It estimates
var(network) / (var(network) + var(noise)): 1 when repeated measurements agree exactly, about
0 when a metric is pure noise. One-way (not two-way) because the two measurements are not
two fixed "raters": each is a fresh draw of the same noise. The 95 % interval is Shrout &
Fleiss's F-based one. Pearson's r between the two measurements is reported alongside; unlike
the ICC it ignores a shift between them.

Example:
    >>> import numpy as np
    >>> x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    >>> round(icc_1_1(x), 2)   # Shrout & Fleiss (1979), Table 2: ICC(1,1) = .17
    0.17
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .checks import check_int, not_allowed
from .dataset import DatasetBuilder, EvalJob, arch_seed, closing_executor, provenance_path, read_results
from .progress import progress_bar
from .evaluation import EvaluationConfig
from .hardware import AnalogHardware
from .io import read_json
from .sweep import ResultsTables
from .training import TrainingConfig

#: the metrics whose reliability is reported
METRICS = ("acc_1d", "avm", "acc_1d_std")


def _mean_squares(x: np.ndarray) -> tuple[float, float]:
    n, k = x.shape
    means = x.mean(axis=1)
    msb = k * float(((means - x.mean()) ** 2).sum()) / (n - 1)
    msw = float(((x - means[:, None]) ** 2).sum()) / (n * (k - 1))
    return msb, msw


def _check_matrix(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"measurements of shape {x.shape} are not allowed; allowed: (networks >= 2, repeats >= 2)")
    if not np.isfinite(x).all():
        raise ValueError("measurements must be finite numbers (drop networks with a failed measurement)")
    return x


def icc_1_1(x: Any) -> float:
    """ICC(1,1) of an (n networks x k measurements) array (see the module docstring).

    Example:
        >>> round(icc_1_1([[1.0, 1.1], [2.0, 2.1], [3.0, 2.9]]), 3)
        0.994
    """
    x = _check_matrix(x)
    k = x.shape[1]
    msb, msw = _mean_squares(x)
    if msb + (k - 1) * msw == 0:
        return float("nan")  # every measurement equal: no variance to share
    return float((msb - msw) / (msb + (k - 1) * msw))


def icc_1_k(x: Any) -> float:
    """ICC(1,k): the reliability of the MEAN of the k measurements of each network,
    ``(MSB - MSW) / MSB`` (Shrout & Fleiss 1979, case 1-k; the Spearman-Brown step-up of
    ICC(1,1) to k measurements). It is what a table that averages k runs per network holds.

    Example:
        >>> round(icc_1_k([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]), 2)
        0.44
    """
    x = _check_matrix(x)
    msb, msw = _mean_squares(x)
    if msb == 0:
        return float("nan")
    return float((msb - msw) / msb)


def icc_interval(x: Any, level: float = 0.95, average: bool = False) -> tuple[float, float]:
    """Shrout & Fleiss's (1979) F-based confidence interval of ICC(1,1), or with ``average``
    of ICC(1,k).

    Example:
        >>> low, high = icc_interval([[1.0, 1.1], [2.0, 2.1], [3.0, 2.9], [4.0, 4.2]])
        >>> low < icc_1_1([[1.0, 1.1], [2.0, 2.1], [3.0, 2.9], [4.0, 4.2]]) < high
        True
    """
    x = _check_matrix(x)
    n, k = x.shape
    msb, msw = _mean_squares(x)
    if msw == 0:
        return (float("nan"), float("nan"))
    f = msb / msw
    q = 1 - (1 - level) / 2
    fl = f / stats.f.ppf(q, n - 1, n * (k - 1))
    fu = f * stats.f.ppf(q, n * (k - 1), n - 1)
    if average:  # no spread between networks at all (f = 0): the interval's end is -inf
        return tuple(float(1 - 1 / v) if v > 0 else float("-inf") for v in (fl, fu))  # type: ignore[return-value]
    return (float((fl - 1) / (fl + k - 1)), float((fu - 1) / (fu + k - 1)))


def variance_components(x: Any) -> tuple[float, float]:
    """(sd between networks, sd of the noise) of an (n networks x k measurements) array, from
    the one-way mean squares: ``sqrt((MSB - MSW) / k)`` (0 when negative) and ``sqrt(MSW)``.

    Example:
        >>> between, noise = variance_components([[1.0, 1.2], [2.0, 2.2], [3.0, 3.2]])
        >>> round(between, 3), round(noise, 3)
        (0.995, 0.141)
    """
    x = _check_matrix(x)
    msb, msw = _mean_squares(x)
    return float(np.sqrt(max(msb - msw, 0.0) / x.shape[1])), float(np.sqrt(msw))


def tau_ceiling(sd_between: float, sd_noise: float, runs: Sequence[int]) -> float:
    """The Kendall tau that a perfect predictor reaches against a table's measured values: the
    expected tau between each network's true value and the mean of its ``runs[i]`` measured
    runs, when true values spread normally with ``sd_between`` and each run adds independent
    normal noise of ``sd_noise``. No surrogate can expect to rank the table better.

    Per pair of networks with k and l runs the two differences are bivariate normal with
    correlation rho = sqrt(2 sb^2 / (2 sb^2 + sn^2 (1/k + 1/l))), and their signs agree with
    probability 1/2 + asin(rho)/pi (Sheppard's formula), so the pair's expected tau is
    (2/pi) asin(rho); the result is the mean over all pairs. With one count k for every
    network it is (2/pi) asin(sqrt(ICC(1,k))).

    Example:
        >>> round(tau_ceiling(1.0, 1.0, [1] * 50), 3)   # ICC 0.5: even a perfect model scores 0.5
        0.5
        >>> round(tau_ceiling(1.0, 1.0, [2] * 50), 3)   # two runs per network raise the ceiling
        0.608
    """
    counts = Counter(int(check_int("runs", k, 1)) for k in runs)
    if sd_between < 0 or sd_noise < 0:
        raise not_allowed("sd_between, sd_noise", (sd_between, sd_noise), "standard deviations >= 0")
    if sum(counts.values()) < 2 or sd_between == 0:
        return float("nan")  # no pair, or nothing to rank
    total = weight = 0.0
    for k, l in itertools.combinations_with_replacement(sorted(counts), 2):
        pairs = counts[k] * (counts[k] - 1) / 2 if k == l else counts[k] * counts[l]
        rho = np.sqrt(2 * sd_between**2 / (2 * sd_between**2 + sd_noise**2 * (1 / k + 1 / l)))
        total += pairs * 2 / np.pi * np.arcsin(rho)
        weight += pairs
    return float(total / weight)


def tau_ceilings(tables: ResultsTables, metrics: Sequence[str] = METRICS) -> dict[str, float] | None:
    """:func:`tau_ceiling` per metric of ``tables`` (one or more results tables on the same
    networks, e.g. a table and its retest side table), with the noise estimated from the
    networks they measure twice; None when fewer than 3 networks are measured twice.

    Example:
        >>> tau_ceilings(read_tables(["t.csv", "t.retest-seed1.csv"]))["avm"]   # doctest: +SKIP
    """
    out = {}
    for m in metrics:
        pairs, runs = tables.repeats(m)
        if len(pairs) < 3:
            return None
        out[m] = tau_ceiling(*variance_components(pairs), runs)
    return out


def reliability(first: pd.DataFrame, second: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Per metric: networks measured twice (n), ICC(1,1) with its 95 % interval, ICC(1,2) (the
    reliability of the mean of the two runs, ``icc_mean``) with its interval, Pearson's r, the
    between-network and noise standard deviations (from the mean squares), and the Kendall tau
    a perfect model could expect on a table of one run per network (``tau_ceiling``) or of the
    mean of two (``tau_ceiling_mean``; :func:`tau_ceiling`).

    ``first`` and ``second`` are results tables (``read_results``) whose rows are paired by
    ``index``; a pair whose networks differ raises ValueError, and failed measurements drop out.

    Example:
        >>> reliability(read_results("t.csv"), read_results("t.retest-seed1.csv"))  # doctest: +SKIP
    """
    pairs = first.merge(second, on="index", suffixes=("_a", "_b"))
    key_a = "arch_json_a" if "arch_json_a" in pairs else "arch_a"
    key_b = "arch_json_b" if "arch_json_b" in pairs else "arch_b"
    differ = pairs[pairs[key_a] != pairs[key_b]]
    if len(differ):
        raise ValueError(f"indices {list(differ['index'][:8])} hold different networks in the two tables")
    out = []
    for m in metrics:
        x = pairs[[f"{m}_a", f"{m}_b"]].to_numpy(dtype=float)
        x = x[np.isfinite(x).all(axis=1)]
        row: dict[str, Any] = {"metric": m, "n": len(x)}
        if len(x) >= 2:
            row["icc"] = icc_1_1(x)
            row["icc_low"], row["icc_high"] = icc_interval(x)
            row["icc_mean"] = icc_1_k(x)
            row["icc_mean_low"], row["icc_mean_high"] = icc_interval(x, average=True)
            row["pearson"] = float(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) if x.std(axis=0).min() > 0 else float("nan")
            row["sd_between"], row["sd_noise"] = variance_components(x)
            # what any model could expect on a table of one run, or of the mean of two, per network
            row["tau_ceiling"] = tau_ceiling(row["sd_between"], row["sd_noise"], [1] * len(x))
            row["tau_ceiling_mean"] = tau_ceiling(row["sd_between"], row["sd_noise"], [2] * len(x))
        out.append(row)
    return pd.DataFrame(out, columns=["metric", "n", "icc", "icc_low", "icc_high", "icc_mean", "icc_mean_low",
                                      "icc_mean_high", "pearson", "sd_between", "sd_noise", "tau_ceiling",
                                      "tau_ceiling_mean"])


def retested_table(side: str | os.PathLike) -> Path | None:
    """The table that the side table ``side`` measures again (the ``retest.of`` of its run
    log), or None when ``side`` is not a retest table. A relative path recorded by the retest
    is tried as given, then beside ``side``; FileNotFoundError when neither exists.

    Example:
        >>> retested_table("runs/t.retest-seed1.csv")          # doctest: +SKIP
        PosixPath('runs/t.csv')
    """
    ppath = provenance_path(side)
    if not ppath.is_file():
        return None
    runs = read_json(ppath).get("runs", [])
    of = next((r["retest"]["of"] for r in runs if isinstance(r.get("retest"), dict) and "of" in r["retest"]), None)
    if of is None:
        return None
    # the path is as typed where the retest ran; tables and their retests usually sit side by side
    for candidate in (Path(of), Path(side).parent / Path(of).name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{side}: the table it measures again, {of}, is not found (as given, or beside it)")


@dataclasses.dataclass
class RetestResult:
    """What :func:`retest` returns: the side table's path, the paired rows and the reliability."""

    path: Path
    table: pd.DataFrame
    reliability: pd.DataFrame


def retest_path(results: str | os.PathLike, seed: int) -> Path:
    """``results.csv`` -> ``results.retest-seed<seed>.csv``."""
    p = Path(results)
    return p.with_name(f"{p.stem}.retest-seed{seed}.csv")


def retest(results: str | os.PathLike, n: int | None = 12, seed: int = 1, output: str | os.PathLike | None = None,
           space: Any = None, data_root: str | os.PathLike | None = None, device: str | None = None,
           num_threads: int | None = None, progress: bool = True, executor: Any = None) -> RetestResult:
    """Train and evaluate ``n`` of the table's networks again, with evaluation seeds from
    ``seed``, into a side table (resumable), and report their test-retest reliability.

    The networks are the first ``n`` of a ``seed``-shuffled order of the table's successful
    rows (a larger ``n`` extends a smaller one); ``n=None``: all of them, so that the table and
    the side table hold two runs of every network (``ResultsTables.averaged`` reads them as one). Everything else (dataset, subset sizes,
    hardware, training, evaluation) is the table's, read from its provenance; ``device`` and
    ``num_threads`` only change the speed. Side-table rows keep their network's index.
    ``executor`` (e.g. :class:`analognas.distributed.DaskExecutor`) runs the evaluations in
    parallel, as for a build; it is closed at the end if it was not started before.

    Example:
        >>> r = retest("runs/resnet.csv", n=12, seed=1)                    # doctest: +SKIP
        >>> r.reliability.set_index("metric")["icc"]                      # doctest: +SKIP
    """
    from search_spaces import get_space

    results = Path(results)
    if not results.is_file():
        raise not_allowed("results", str(results), "an existing results table (no such file)")
    if not provenance_path(results).is_file():
        raise not_allowed("results", str(results), f"a table with its provenance file ({provenance_path(results).name}), "
                          "which says how to measure its networks again")
    prov = read_json(provenance_path(results))
    settings = prov["settings"]
    if seed == settings["seed"]:
        raise ValueError(f"seed={seed} is not allowed; allowed: any seed but the table's own ({settings['seed']}), "
                         "which would repeat its measurements exactly")
    space = get_space(settings["space"]["name"]) if space is None else space
    if repr(space) != settings["space"]["repr"]:
        raise ValueError(f"space {space!r} is not the table's {settings['space']['repr']}; pass space=")
    training = TrainingConfig.from_dict(settings["training"])
    if device is not None or num_threads is not None:
        training = dataclasses.replace(training, device=device or training.device,
                                       num_threads=num_threads if num_threads is not None else training.num_threads)
    data = settings["dataset"]
    builder = DatasetBuilder(space, output if output is not None else retest_path(results, seed), data["name"],
                             hardware=AnalogHardware.from_dict(settings["hardware"]), training=training,
                             evaluation=EvaluationConfig.from_dict(settings["evaluation"]), seed=seed,
                             max_params=settings.get("max_params"), sampling=settings.get("sampling", "random"),
                             data_root=data_root, n_train=data["n_train"], n_test=data["n_test"])
    table = read_results(results, space)
    repeated = sorted(set(table["index"][table["index"].duplicated()]))
    if repeated:
        raise ValueError(f"{results}: indices {repeated[:8]} appear more than once, so a retest row could not be "
                         f"paired with its network; 'analognas dataset check {results}' reports it")
    n = len(table) if n is None else n
    if n > len(table):
        raise ValueError(f"n={n} is not allowed; allowed: at most the table's {len(table)} successful rows")
    order = np.random.default_rng(seed).permutation(len(table))[:n]
    chosen = table.iloc[np.sort(order)]
    with closing_executor(executor):
        with builder.open_run("retest", n, executor, extra={"retest": {"of": str(results), "n": n}}) as run:
            held = set(run.table.held)
            jobs = [EvalJob(int(i), a.to_dict(), arch_seed(seed, int(i)))
                    for i, a in zip(chosen["index"], chosen["arch"]) if int(i) not in held]
            with progress_bar(total=n, initial=n - len(jobs), disable=not progress, unit="arch",
                              desc=f"retest {builder.path.name}") as bar:
                for _ in run.evaluate(jobs, executor, bar=bar):
                    bar.update(1)
    again = read_results(builder.path, space)
    return RetestResult(builder.path, again, reliability(table, again))
