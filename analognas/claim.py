"""AnalogNAS's claim, tested: a searched network against the standard ResNet of its size.

AnalogNAS's headline (CIFAR-10) is that searched networks are more accurate one day after
programming, and drift less over a month, than hand-designed ResNets of the same size. For
each parameter budget, :func:`run_claim`

1. searches the space with a surrogate under ``max_params = budget`` (objective acc_1d);
2. takes as reference the deepest *standard ResNet* within the budget
   (:func:`reference_resnet`: He et al.'s CIFAR ResNet-(6n+2), three stages of basic
   residual blocks widening 1, 2, 2, first kernel 3, 16 channels first, or the widest
   first convolution that fits a budget too small for 16);
3. HWA-trains and drift-evaluates both with ``n_seeds`` seeds (the same seeds for both, so the
   comparison is paired), appending each run to ``claim.csv`` the moment it ends (resumable);
4. reports acc_1d, acc_1d_std and AVM with 95 % t-intervals over the seeds, the difference
   found - reference with its Welch interval, and whether the target is met: the found
   network beats the reference by at least ``min_gain`` points of acc_1d and has a lower
   mean AVM.

With ``table_best`` (results tables, e.g. the surrogate's table and its retest side table), a
third arm trains, with the same seeds, the network measured best in those tables under each
budget (:func:`table_best`): it tells a search that misses what its own data holds from data
that holds nothing better.

Example:
    >>> result = run_claim(ClaimSettings.quick(), "runs/claim")          # doctest: +SKIP
    >>> result.verdict[["budget", "acc_1d_gain", "target_met"]]          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .checks import check_int, not_allowed
from .dataset import DataSpec, EvalContext, EvalJob, Executor, ResultsTable, closing_executor, evaluate_job
from .evaluation import EvaluationConfig
from .hardware import AnalogHardware
from .io import read_json, write_json
from .progress import progress_bar
from .training import TrainingConfig

METRICS = ("acc_1d", "acc_1d_std", "avm")
COLUMNS = ("budget", "role", "seed", "arch", "params", "tiles", "acc_1d", "acc_1d_std", "avm",
           "digital_acc", "status", "reason", "wall_time_s")
ROLES = ("found", "reference")
#: the optional third arm (``ClaimSettings.table_best``)
TABLE_BEST = "table_best"


def claim_roles(with_table_best: bool) -> tuple[str, ...]:
    """The arms trained per budget: found and reference, and the table's best when asked for."""
    return ROLES + ((TABLE_BEST,) if with_table_best else ())


def standard_resnets(space: Any, max_params: int, input_shape: tuple[int, int, int],
                     num_classes: int) -> list[tuple[str, Any, int]]:
    """Every standard CIFAR ResNet the space holds within ``max_params``: (name, arch, params),
    smallest first.

    Example:
        >>> from search_spaces import ResNetLikeSpace
        >>> [name for name, _, _ in standard_resnets(ResNetLikeSpace(), 50_000, (1, 28, 28), 10)]
        ['ResNet-8 (8 channels)', 'ResNet-8 (12 channels)', 'ResNet-14 (8 channels)']
    """
    from search_spaces.resnet import OUT_CHANNEL0, RESIDUAL_BLOCKS, MainBlock, ResNetArch

    found = []
    for c in OUT_CHANNEL0:
        for n in RESIDUAL_BLOCKS:
            arch = ResNetArch(c, 3, (MainBlock("A", n, 1, 1), MainBlock("A", n, 1, 2), MainBlock("A", n, 1, 2)))
            params = int(space.num_params(arch, input_shape, num_classes))
            if params > max_params:
                break  # deeper ones of this width are larger still
            found.append((f"ResNet-{6 * n + 2} ({c} channels)", arch, params))
    return sorted(found, key=lambda t: t[2])


#: He et al.'s CIFAR ResNets start with 16 channels
STANDARD_WIDTH = 16


def reference_resnet(space: Any, max_params: int, input_shape: tuple[int, int, int],
                     num_classes: int) -> tuple[str, Any, int]:
    """The reference network of a budget: He et al.'s CIFAR ResNet (16 channels first) of the
    largest depth within ``max_params``; when not even ResNet-8 with 16 channels fits, the
    widest width at which one fits, again at the largest depth.

    Why not simply the standard ResNet with the most parameters: within 300k that is a
    74-layer ResNet with 8 channels, a network nobody would pick by hand.

    Example:
        >>> from search_spaces import ResNetLikeSpace
        >>> reference_resnet(ResNetLikeSpace(), 300_000, (3, 32, 32), 10)[0]
        'ResNet-20 (16 channels)'
        >>> reference_resnet(ResNetLikeSpace(), 50_000, (1, 28, 28), 10)[0]
        'ResNet-8 (12 channels)'
    """
    nets = standard_resnets(space, max_params, input_shape, num_classes)
    if not nets:
        raise ValueError(f"budget={max_params} is not allowed; allowed: at least the smallest standard "
                         f"ResNet's {standard_resnets(space, 10**12, input_shape, num_classes)[0][2]} parameters")
    widths = {arch.out_channel0 for _, arch, _ in nets}
    width = STANDARD_WIDTH if STANDARD_WIDTH in widths else max(widths)
    return max((n for n in nets if n[1].out_channel0 == width), key=lambda n: n[2])


def table_best(paths: Sequence[str | os.PathLike], budgets: Sequence[int], space: Any,
               input_shape: tuple[int, int, int] | None = None) -> dict[int, dict[str, Any]]:
    """Per budget, the network measured best (highest acc_1d, the mean over its runs) among the
    successful rows of results tables with at most that many parameters: ``arch`` (the space's
    architecture), ``acc_1d`` (that mean), ``runs`` and ``params``.

    The mean, not the best single run: with one run per network the maximum of a noisy table
    is biased upwards, and the claim trains the network again anyway. ``input_shape``, when
    given, must be the tables' (their parameter counts are for it). The tables are read once.

    Example:
        >>> best = table_best(["t.csv", "t.retest-seed1.csv"], [25_000], ResNetLikeSpace())   # doctest: +SKIP
        >>> best[25_000]["acc_1d"], best[25_000]["runs"]                                      # doctest: +SKIP
        (76.2, 2)
    """
    from .sweep import read_tables

    names = [str(p) for p in paths]
    for name in names:
        if not Path(name).is_file():
            raise not_allowed("table_best", name, "paths of existing results tables")
    tables = read_tables(names, space).averaged()
    shape = tables.task.get("input_shape")
    if input_shape is not None and shape is not None and tuple(shape) != tuple(input_shape):
        raise not_allowed("table_best", names, f"tables measured on the claim's input shape {tuple(input_shape)} "
                                               f"(these: {tuple(shape)})")
    params = pd.to_numeric(tables.frame["params"], errors="coerce")
    acc = pd.to_numeric(tables.frame["acc_1d"], errors="coerce")
    measured = np.isfinite(acc)
    bests = {}
    for budget in budgets:
        under = acc[measured & (params <= budget)]
        if under.empty:
            raise not_allowed("table_best", names, f"tables with a measured network of at most {budget:,} parameters")
        best = tables.frame.loc[under.idxmax()]
        bests[budget] = {"arch": best["arch"], "acc_1d": float(best["acc_1d"]), "runs": int(best["runs"]),
                         "params": int(best["params"])}
    return bests


def default_budgets(params_max: int | None, step: int = 5_000) -> tuple[int, int]:
    """Two parameter budgets inside a surrogate's table: its largest network rounded up to
    ``step``, and half of that, so both searches answer where the surrogate has data
    (``(100_000, 300_000)`` when the table's range is not recorded).

    Example:
        >>> default_budgets(48_574)
        (25000, 50000)
    """
    if params_max is None:
        return (100_000, 300_000)
    top = step * math.ceil(params_max / step)
    return (top // 2, top)


@dataclasses.dataclass(frozen=True)
class ClaimSettings:
    """What :func:`run_claim` measures, and how.

    ``budgets``: parameter budgets (None: :func:`default_budgets` of the surrogate's table,
    set by :func:`run_claim`); ``n_seeds``: training seeds per network; ``surrogate``:
    folder of the surrogate the search uses (None: the shipped ResNet-like one);
    ``iterations`` / ``population_size``: of the evolutionary search; ``table_best``: results
    tables whose best measured network under each budget is trained as a third arm (empty:
    none); the rest: the data and the fidelity (use the results table's, so that the claim is
    tested where the surrogate was fitted).
    """

    budgets: tuple[int, ...] | None = None
    n_seeds: int = 5
    surrogate: str | None = None
    iterations: int = 100
    population_size: int = 200
    search_seed: int = 0
    dataset: str = "fashion-mnist"
    n_train: int | None = None
    n_test: int | None = None
    hardware: AnalogHardware = dataclasses.field(default_factory=AnalogHardware)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    min_gain: float = 1.0
    table_best: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # the settings go to JSON as they are, so numpy scalars stay refused
        if self.budgets is not None and not self.budgets:
            raise not_allowed("budgets", self.budgets, "one or more positive integers, or None (from the surrogate)")
        for i, budget in enumerate(self.budgets or ()):
            check_int(f"budgets[{i}]", budget, 1, numpy=False)
        check_int("n_seeds", self.n_seeds, 2, what="an integer >= 2 (an interval needs 2)", numpy=False)
        if isinstance(self.table_best, (str, os.PathLike)):
            raise not_allowed("table_best", self.table_best, "a tuple of results tables' paths")
        object.__setattr__(self, "table_best", tuple(str(p) for p in self.table_best))

    @property
    def roles(self) -> tuple[str, ...]:
        """The arms trained per budget."""
        return claim_roles(bool(self.table_best))

    @classmethod
    def quick(cls) -> "ClaimSettings":
        """Minutes on a laptop CPU: digits, 2 budgets, 2 seeds, 1+1 epochs. Checks the
        machinery, not the claim."""
        return cls(budgets=(20_000, 45_000), n_seeds=2, iterations=5, population_size=30, dataset="digits",
                   n_train=300, n_test=200, training=TrainingConfig(pretrain_epochs=1, epochs=1, num_threads=1),
                   evaluation=EvaluationConfig(n_reps=2))

    @classmethod
    def like(cls, results: str | os.PathLike, **kwargs: Any) -> "ClaimSettings":
        """Settings at the fidelity of a results table (its dataset, subset sizes, hardware,
        training and evaluation, from its provenance), so that the claim is tested where the
        surrogate was fitted; ``kwargs`` set the other fields."""
        from .dataset import provenance_path

        s = read_json(provenance_path(results))["settings"]
        return cls(dataset=s["dataset"]["name"], n_train=s["dataset"]["n_train"], n_test=s["dataset"]["n_test"],
                   hardware=AnalogHardware.from_dict(s["hardware"]), training=TrainingConfig.from_dict(s["training"]),
                   evaluation=EvaluationConfig.from_dict(s["evaluation"]), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(budgets=None if self.budgets is None else list(self.budgets), table_best=list(self.table_best),
                 hardware=self.hardware.to_dict(), training=self.training.to_dict(),
                 evaluation=self.evaluation.to_dict())
        return d


@dataclasses.dataclass
class ClaimResult:
    """``runs``: one row per training run; ``summary``: mean and 95 % interval per budget,
    role and metric; ``verdict``: per budget, the gains and whether the target is met."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    verdict: pd.DataFrame
    networks: dict[str, Any]


def _interval(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (float(np.mean(x)) if len(x) else math.nan, math.nan, math.nan)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean difference a - b with its 95 % Welch interval."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        return (math.nan, math.nan, math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    d = float(a.mean() - b.mean())
    if va + vb == 0:
        return (d, d, d)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.975, dof) * math.sqrt(va + vb)
    return (d, d - half, d + half)


def summarize_claim(runs: pd.DataFrame, min_gain: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, verdict) of the claim's runs (see :class:`ClaimResult`)."""
    ok = runs[runs["status"] == "ok"]
    roles = claim_roles(bool((runs["role"] == TABLE_BEST).any()))
    rows, verdict = [], []
    for budget in sorted(set(runs["budget"])):
        by_role = {r: ok[(ok["budget"] == budget) & (ok["role"] == r)] for r in roles}
        for role, df in by_role.items():
            row: dict[str, Any] = {"budget": budget, "role": role, "n": len(df),
                                   "params": int(df["params"].iloc[0]) if len(df) else -1}
            for m in METRICS:
                row[m], row[f"{m}_low"], row[f"{m}_high"] = _interval(df[m].to_numpy(dtype=float))
            rows.append(row)
        f, r = (by_role[k] for k in ROLES)
        gain = _welch(f["acc_1d"].to_numpy(dtype=float), r["acc_1d"].to_numpy(dtype=float))
        avm = _welch(f["avm"].to_numpy(dtype=float), r["avm"].to_numpy(dtype=float))
        row = {"budget": budget, "acc_1d_gain": gain[0], "acc_1d_gain_low": gain[1], "acc_1d_gain_high": gain[2],
               "avm_change": avm[0], "avm_change_low": avm[1], "avm_change_high": avm[2],
               "target_met": bool(gain[0] >= min_gain and avm[0] < 0)}
        if TABLE_BEST in by_role:  # the table's best against the reference, beside the verdict
            best = _welch(by_role[TABLE_BEST]["acc_1d"].to_numpy(dtype=float), r["acc_1d"].to_numpy(dtype=float))
            row.update(table_best_gain=best[0], table_best_gain_low=best[1], table_best_gain_high=best[2])
        verdict.append(row)
    return pd.DataFrame(rows), pd.DataFrame(verdict)


def _search(space: Any, surrogate: Any, budget: int, settings: ClaimSettings, input_shape: tuple[int, int, int],
            num_classes: int) -> Any:
    from .search import Constraints, EvolutionarySearch

    constraints = Constraints(max_params=budget, input_shape=tuple(input_shape), num_classes=num_classes)
    return EvolutionarySearch(space, surrogate, constraints, objective="acc_1d", population_size=settings.population_size,
                              iterations=settings.iterations, seed=settings.search_seed, progress=False).run()


def run_claim(settings: ClaimSettings, output: str | os.PathLike, progress: bool = True,
              data_root: str | os.PathLike | None = None, executor: Executor | None = None) -> ClaimResult:
    """Search, train both networks per budget with every seed, and summarise (resumable:
    rerunning with the same settings continues ``output/claim.csv``).

    Writes ``output/claim.json`` (settings, networks), ``claim.csv`` (one row per training
    run), ``summary.csv``, ``verdict.csv`` and ``claim.png``. Unset budgets are
    :func:`default_budgets` of the surrogate's table. ``executor`` (e.g.
    :class:`analognas.distributed.DaskExecutor`) runs the trainings in parallel, as for a
    build (same rows as here: each is seeded by its training seed); it is closed at the end if
    it was not started before. A training that fails is a ``status="failed"`` row.

    Example:
        >>> r = run_claim(ClaimSettings.like("T.csv"), "claim")                 # doctest: +SKIP
        >>> r.verdict[["budget", "acc_1d_gain", "target_met"]]                  # doctest: +SKIP
    """
    from search_spaces import get_space
    from surrogate.model import default_surrogate_path, domain_of

    from .data import load_dataset

    surrogate_path = settings.surrogate or default_surrogate_path("resnet_like")
    if settings.budgets is None:
        domain = domain_of(surrogate_path)
        settings = dataclasses.replace(settings, budgets=default_budgets(None if domain is None else domain.params_max))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    space = get_space("resnet_like")
    data = load_dataset(settings.dataset, n_train=settings.n_train, n_test=settings.n_test, root=data_root, seed=0)
    meta_path = out / "claim.json"
    meta = read_json(meta_path) if meta_path.exists() else {"settings": settings.to_dict(), "networks": {}}
    meta["settings"].setdefault("table_best", [])  # folders made before the third arm existed
    if meta["settings"] != json.loads(json.dumps(settings.to_dict())):
        diff = sorted(k for k, v in settings.to_dict().items() if json.loads(json.dumps(v)) != meta["settings"].get(k))
        raise ValueError(f"{meta_path} was made with other settings ({', '.join(diff)}); use another output folder")
    surrogate = None
    pending = [b for b in settings.budgets if str(b) not in meta["networks"]]
    # the tables' best first: a wrong table fails before minutes of search
    bests = table_best(settings.table_best, pending, space, data.input_shape) if settings.table_best and pending else {}
    for budget in pending:
        key = str(budget)
        if surrogate is None:
            from surrogate import AnalogSurrogate

            surrogate = AnalogSurrogate.load(surrogate_path, space=space)
        found = _search(space, surrogate, budget, settings, data.input_shape, data.num_classes)
        name, ref, _ = reference_resnet(space, budget, data.input_shape, data.num_classes)
        domain = surrogate.domain_
        meta["networks"][key] = {"found": found.best.to_dict(), "reference": ref.to_dict(), "reference_name": name,
                                 "search_feasible": bool(found.feasible),
                                 "found_acc_1d_score": float(found.best_prediction["acc_1d"]),
                                 "found_above_table_score": bool(domain is not None
                                                                 and domain.above_table(found.best_prediction["acc_1d"])),
                                 # does the surrogate order the pair as the trainings below will?
                                 "reference_acc_1d_score": float(surrogate.predict([ref])["acc_1d"].iloc[0]),
                                 # which surrogate found it: a later refit of the same folder would find another
                                 "surrogate": {"path": str(surrogate_path),
                                               "domain": None if domain is None else domain.to_dict()}}
        if budget in bests:
            measured = dict(bests[budget])
            arch = space.validate(measured.pop("arch"))
            meta["networks"][key].update(table_best=arch.to_dict(), table_best_measured=measured,
                                         table_best_acc_1d_score=float(surrogate.predict([arch])["acc_1d"].iloc[0]))
        write_json(meta_path, meta)

    table = ResultsTable(out / "claim.csv", COLUMNS)
    done = table.read()
    have = set() if done.empty else set(zip(done["budget"], done["role"], done["seed"]))
    todo = [(b, role, s) for b in settings.budgets for role in settings.roles for s in range(settings.n_seeds)
            if (b, role, s) not in have]
    ctx = EvalContext(space, settings.hardware, settings.training, settings.evaluation, seed=settings.search_seed)
    # a job per training run, seeded by its training seed; the index finds its run again
    jobs = [EvalJob(i, meta["networks"][str(b)][role], s) for i, (b, role, s) in enumerate(todo)]
    if executor is None:
        rows = (evaluate_job(ctx, job, data) for job in jobs)
    else:
        spec = DataSpec(settings.dataset, settings.n_train, settings.n_test,
                        None if data_root is None else str(data_root))
        rows = executor.run(ctx, jobs, spec)
    with closing_executor(executor), progress_bar(total=len(jobs), disable=not progress, desc="claim runs",
                                                  unit="run") as bar:
        for row in rows:
            budget, role, seed = todo[row["index"]]
            table.append({"budget": budget, "role": role, "seed": seed,
                          **{c: row[c] for c in COLUMNS if c not in ("budget", "role", "seed")}})
            bar.update(1)
    runs = table.read()
    summary, verdict = summarize_claim(runs, settings.min_gain)
    summary.to_csv(out / "summary.csv", index=False)
    verdict.to_csv(out / "verdict.csv", index=False)
    plot_claim(summary, out / "claim.png")
    return ClaimResult(runs, summary, verdict, meta["networks"])


#: colour and legend of each arm
PLOT_STYLE = {"found": ("tab:blue", "found by the search"), "reference": ("tab:gray", "standard ResNet, same budget"),
              TABLE_BEST: ("tab:orange", "best measured in the table")}


def plot_claim(summary: pd.DataFrame, path: str | os.PathLike) -> Path:
    """acc_1d and AVM (means with 95 % intervals) of the found and reference networks (and the
    table's best, when trained) per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    budgets = sorted(set(summary["budget"]))
    x = np.arange(len(budgets))
    roles = [r for r in PLOT_STYLE if r in set(summary["role"])]
    for ax, m, label in ((axes[0], "acc_1d", "acc_1d: accuracy after 1 day (%)"),
                         (axes[1], "avm", "AVM: points lost, 1 s to 1 month")):
        for j, role in enumerate(roles):
            s = summary[summary["role"] == role].set_index("budget").reindex(budgets)
            err = np.vstack([s[m] - s[f"{m}_low"], s[f"{m}_high"] - s[m]])
            color, text = PLOT_STYLE[role]
            ax.errorbar(x + (j - (len(roles) - 1) / 2) * 0.2, s[m], yerr=np.nan_to_num(err), fmt="o", capsize=4,
                        color=color, label=text)
        ax.set_xticks(x, [f"{b:,}" for b in budgets])
        ax.set_xlabel("parameter budget")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)

