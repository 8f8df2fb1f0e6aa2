"""The ``analognas`` command line: search, evaluate, dataset build, surrogate train, bench.

Every command prints one clear line for a bad option or file (exit 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from search_spaces import InvalidArchitectureError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def command(name: str) -> Callable:
    """Register ``func`` as the handler of the (sub)command ``name``."""

    def wrap(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = func
        return func

    return wrap


# --- shared option groups ---------------------------------------------------------------
def _number(kind: type, minimum: float, inclusive: bool, what: str) -> Callable[[str], Any]:
    """An argparse type converting to ``kind`` and checking the lower bound."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"{value} must be {what}")
        return value

    return convert


_positive_int = _number(int, 1, True, "a positive integer")
_non_negative_int = _number(int, 0, True, "zero or a positive integer")
_positive_float = _number(float, 0.0, False, "a positive number")


def _cv_folds(text: str) -> int:
    value = _non_negative_int(text)
    if value == 1:
        raise argparse.ArgumentTypeError("1 fold cannot cross-validate: use 0 (skip) or at least 2")
    return value


def _add_space(p: argparse.ArgumentParser, default: str = "resnet_like") -> None:
    from search_spaces import SPACES

    p.add_argument("--space", default=default, choices=sorted(SPACES),
                   help=f"search space (default: {default})")


def _add_hardware(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("analog hardware (defaults: AnalogHardware())")
    g.add_argument("--hardware", metavar="FILE", help="JSON file with AnalogHardware fields")
    g.add_argument("--g-max", type=_positive_float, help="PCM maximum conductance in uS")
    g.add_argument("--dac-bits", type=_positive_int, help="input (DAC) resolution in bits")
    g.add_argument("--adc-bits", type=_positive_int, help="output (ADC) resolution in bits")
    g.add_argument("--out-noise", type=float, help="output noise std (relative)")
    g.add_argument("--weight-noise", type=float, help="weight-noise injection std during training")
    g.add_argument("--tile-size", type=_positive_int, help="crossbar tile rows/columns")
    g.add_argument("--no-drift-compensation", action="store_true",
                   help="turn global drift compensation off")


def _add_training(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and hardware-aware training")
    g.add_argument("--dataset", default="digits", choices=["digits", "fashion-mnist", "cifar10"],
                   help="dataset (default: digits)")
    g.add_argument("--data-root", help="folder holding the dataset files")
    g.add_argument("--n-train", type=_positive_int, help="training images (subset)")
    g.add_argument("--n-test", type=_positive_int, help="test images (subset)")
    g.add_argument("--pretrain-epochs", type=_non_negative_int, help="digital pre-training epochs")
    g.add_argument("--epochs", type=_non_negative_int, help="analog (HWA) training epochs")
    g.add_argument("--lr", type=_positive_float, help="analog learning rate")
    g.add_argument("--pretrain-lr", type=_positive_float, help="digital pre-training learning rate")
    g.add_argument("--batch-size", type=_positive_int, help="training batch size")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default: cpu)")
    g.add_argument("--num-threads", type=_positive_int, help="torch CPU threads (default: torch's)")
    g.add_argument("--n-reps", type=_positive_int, help="programming repetitions in drift evaluation")


def _hardware_from_args(args: argparse.Namespace):
    from analognas.hardware import AnalogHardware

    fields: dict[str, Any] = {}
    if args.hardware:
        from analognas.io import read_json

        fields.update(read_json(args.hardware))
    flag_to_field = {"g_max": "g_max", "dac_bits": "dac_bits", "adc_bits": "adc_bits",
                     "out_noise": "out_noise", "weight_noise": "modifier_std",
                     "tile_size": "tile_size"}
    for flag, field in flag_to_field.items():
        if getattr(args, flag) is not None:
            fields[field] = getattr(args, flag)
    if args.no_drift_compensation:
        fields["drift_compensation"] = False
    return AnalogHardware.from_dict(fields) if fields else AnalogHardware()


def _configs_from_args(args: argparse.Namespace):
    """(hardware, training, evaluation) from the shared options; unset options keep defaults."""
    from analognas.evaluation import EvaluationConfig
    from analognas.training import TrainingConfig

    training_fields = {k: getattr(args, k) for k in
                       ("pretrain_epochs", "epochs", "lr", "pretrain_lr", "batch_size", "device",
                        "num_threads")
                       if getattr(args, k) is not None}
    evaluation_fields = {"n_reps": args.n_reps} if args.n_reps is not None else {}
    return (_hardware_from_args(args), TrainingConfig(**training_fields),
            EvaluationConfig(**evaluation_fields))


def _read_arch(space, path: str):
    from analognas.io import read_json

    data = read_json(path)
    if isinstance(data, dict) and "arch" in data and isinstance(data["arch"], dict):
        data = data["arch"]  # accept a search result.json as well
    return space.from_dict(data)


# --- commands ---------------------------------------------------------------------------
@command("sample")
def cmd_sample(args: argparse.Namespace) -> int:
    from search_spaces import get_space

    space = get_space(args.space)
    arch = space.sample(args.seed, max_params=args.max_params)
    print(json.dumps(arch.to_dict(), indent=2))
    return 0


@command("bench params")
def cmd_bench_params(args: argparse.Namespace) -> int:
    from search_spaces import get_space

    space = get_space(args.space)
    archs = space.sample_many(args.n, args.seed)
    start = time.perf_counter()
    total = sum(space.num_params(a) for a in archs)
    elapsed = time.perf_counter() - start
    print(f"num_params for {args.n} {space.name} architectures: {elapsed:.3f} s "
          f"({args.n / elapsed:,.0f} per second; median params "
          f"{sorted(space.num_params(a) for a in archs)[args.n // 2]:,}; checksum {total})")
    return 0



DEFAULT_SURROGATES = {"resnet_like": "resnet_like/surrogate", "nb201": "nb201/surrogate"}


def default_surrogate_path(space_name: str) -> Path:
    """The folder of the surrogate shipped inside the package for ``space_name``."""
    from importlib.resources import files

    return Path(str(files("analognas") / "data" / DEFAULT_SURROGATES[space_name]))


def _load_surrogate(args: argparse.Namespace):
    from search_spaces import get_space
    from surrogate import AnalogSurrogate

    path = Path(args.surrogate) if args.surrogate else default_surrogate_path(args.space)
    if not (path / "metadata.json").is_file():
        raise CLIError(f"--surrogate {path}: no surrogate there (expected {path}/metadata.json); "
                       "train one with 'analognas surrogate train'")
    space = None if args.surrogate else get_space(args.space)
    return AnalogSurrogate.load(path, space=space), path


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not CHANNELS,HEIGHT,WIDTH (e.g. 3,32,32)")
    return shape  # type: ignore[return-value]


def _add_limits(p: argparse.ArgumentParser, max_params: int | None) -> None:
    g = p.add_argument_group("limits (parameters and tiles are exact, AVM is predicted)")
    g.add_argument("--max-params", type=_positive_int, default=max_params,
                   help=f"parameter budget T_p (default {max_params or 'none'})")
    g.add_argument("--max-avm", type=float, help="budget on predicted AVM, in accuracy points")
    g.add_argument("--max-tiles", type=_positive_int, help="budget on crossbar tiles")
    g.add_argument("--tile-size", type=_positive_int, default=512, help="crossbar size (default 512)")
    g.add_argument("--input-shape", type=_parse_shape, default=(3, 32, 32),
                   help="C,H,W of the task's images for parameter/tile counts (default 3,32,32)")
    g.add_argument("--num-classes", type=_positive_int, default=10)
    g = p.add_argument_group("IMC cost limits (exact, from analognas.cost on a HERMES-like chip)")
    g.add_argument("--max-energy-j", type=_positive_float, help="budget on energy per inference, in joules")
    g.add_argument("--max-latency-s", type=_positive_float,
                   help="budget on latency per inference (layers one after the other), in seconds")
    g.add_argument("--max-chips", type=_positive_int, help="at most this many chips to hold every weight")
    g.add_argument("--chip", default="one-phase", choices=["one-phase", "four-phase"],
                   help="HERMES mode the costs are counted on (default one-phase)")


def _constraints_from_args(args: argparse.Namespace):
    from analognas.cost import HERMES_MODES
    from analognas.search import Constraints

    return Constraints(max_params=args.max_params, max_avm=args.max_avm, max_tiles=args.max_tiles,
                       tile_size=args.tile_size, input_shape=args.input_shape, num_classes=args.num_classes,
                       max_energy_j=args.max_energy_j, max_latency_s=args.max_latency_s, max_chips=args.max_chips,
                       chip=HERMES_MODES[args.chip])


def _cost_line(cost: dict[str, Any]) -> str:
    """One line of a network's IMC costs (a NetworkCost.summary())."""
    return (f"{cost['chip']}: {cost['tiles']} cores, {cost['chips']} chip(s), {cost['mvms']:,} MVMs, "
            f"{cost['energy_j'] * 1e6:.3g} µJ and {cost['latency_s'] * 1e3:.3g} ms per inference "
            f"(pipelined: one every {cost['pipeline_interval_s'] * 1e6:.3g} µs)")


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from analognas.plots import plot_pareto
    from analognas.search import EvolutionarySearch
    from analognas.io import write_json

    surrogate, path = _load_surrogate(args)
    space = surrogate.space
    constraints = _constraints_from_args(args)
    search = EvolutionarySearch(space, surrogate, constraints, objective=args.objective,
                                population_size=args.population, iterations=args.iterations,
                                time_budget_s=args.time_budget, seed=args.seed,
                                progress=not args.no_progress)
    result = search.run()
    out = Path(args.output)
    pred = result.best_prediction
    from analognas.cost import network_cost

    cost = network_cost(space, result.best, constraints.chip, constraints.input_shape,
                        constraints.num_classes).summary()
    summary = {
        "arch": result.best.to_dict(),
        "space": space.name,
        "predicted": {k: float(pred[k]) for k in ("acc_1d", "acc_1d_std", "avm")},
        "params": int(pred["params"]),
        "tiles": int(pred["tiles"]),
        "cost": cost,
        "feasible": bool(result.feasible),
        "message": result.message,
        "constraints": dataclasses.asdict(constraints),
        "objective": args.objective,
        "seed": args.seed,
        "surrogate": str(path),
        "n_scored": result.n_scored,
        "elapsed_s": round(result.elapsed_s, 3),
    }
    write_json(out / "result.json", summary)
    from analognas.io import atomic_write_text

    atomic_write_text(out / "history.csv", result.history.assign(
        arch=[json.dumps(a.to_dict(), sort_keys=True) for a in result.history["arch"]]).to_csv(index=False))
    plot_pareto(result, out / "pareto.png")
    status = "best feasible" if result.feasible else "NO FEASIBLE architecture; least infeasible"
    print(f"{status} ({result.n_scored:,} scored in {result.elapsed_s:.1f} s): "
          f"{json.dumps(summary['arch'])}")
    print(f"  predicted acc_1d score {pred['acc_1d']:.3f} (a ranking score: higher is better), "
          f"acc_1d_std {pred['acc_1d_std']:.3f}, AVM {pred['avm']:.3f}")
    print(f"  parameters {summary['params']:,}, crossbar tiles {summary['tiles']} "
          f"({args.tile_size}x{args.tile_size})")
    print(f"  {_cost_line(cost)}")
    print(f"  wrote {out / 'result.json'}, {out / 'history.csv'}, {out / 'pareto.png'}")
    return 0


@command("evaluate")
def cmd_evaluate(args: argparse.Namespace) -> int:
    from analognas.cost import HERMES_MODES, network_cost
    from analognas.data import DATASET_SHAPES
    from analognas.evaluation import evaluate_architecture
    from analognas.io import write_json
    from search_spaces import get_space

    space = get_space(args.space)
    arch = _read_arch(space, args.arch)
    hardware, training, evaluation = _configs_from_args(args)
    result = evaluate_architecture(space, arch, args.dataset, hardware=hardware, training=training,
                                   evaluation=evaluation, seed=args.seed, data_root=args.data_root,
                                   n_train=args.n_train, n_test=args.n_test)
    report = {
        "arch": arch.to_dict(), "space": space.name, "dataset": args.dataset,
        "acc_1d": result.acc_1d, "acc_1d_std": result.acc_1d_std, "avm": result.avm,
        "acc_by_time": {str(int(t)): {"mean": m, "std": sd} for t, (m, sd) in result.acc_by_time.items()},
        "params": result.params, "tiles": result.tiles, "status": result.status,
        "reason": result.reason, "digital_acc": result.digital_acc,
        "wall_time_s": result.wall_time_s, "seed": args.seed,
        "hardware": hardware.to_dict(), "training": training.to_dict(), "evaluation": evaluation.to_dict(),
        "cost": {mode: network_cost(space, arch, chip, *DATASET_SHAPES[args.dataset]).summary()
                 for mode, chip in HERMES_MODES.items()},
    }
    path = write_json(Path(args.output) / "evaluation.json", report)
    if result.status != "ok":
        print(f"evaluation failed: {result.reason} (wrote {path})")
        return 1
    print(f"acc_1d {result.acc_1d:.2f} % ± {result.acc_1d_std:.2f}, AVM {result.avm:.2f} points, "
          f"digital {result.digital_acc:.2f} %, {result.params:,} parameters, {result.tiles} tiles, "
          f"{result.wall_time_s:.1f} s (wrote {path})")
    for cost in report["cost"].values():
        print(f"  {_cost_line(cost)}")
    return 0


@command("dataset build")
def cmd_dataset_build(args: argparse.Namespace) -> int:
    from analognas.dataset import build_dataset
    from search_spaces import get_space

    executor = None
    if args.workers or args.scheduler:
        from analognas.distributed import DaskExecutor

        executor = DaskExecutor(address=args.scheduler, n_workers=args.workers)
    hardware, training, evaluation = _configs_from_args(args)
    table = build_dataset(get_space(args.space), args.output, args.n_archs, dataset=args.dataset,
                          hardware=hardware, training=training, evaluation=evaluation,
                          seed=args.seed, max_params=args.max_params, sampling=args.sampling,
                          data_root=args.data_root, n_train=args.n_train, n_test=args.n_test,
                          progress=not args.no_progress, executor=executor)
    ok = int((table["status"] == "ok").sum()) if len(table) else 0
    print(f"{args.output}: {len(table)} architectures ({ok} ok, {len(table) - ok} failed)")
    return 0


@command("surrogate train")
def cmd_surrogate_train(args: argparse.Namespace) -> int:
    from analognas.dataset import read_results
    from search_spaces import get_space
    from surrogate import AnalogSurrogate
    from surrogate.model import MODEL_FILES

    space = get_space(args.space)
    table = read_results(args.results, space)
    if len(table) < 10:
        raise CLIError(f"--results {args.results}: {len(table)} successful rows; at least 10 are needed")
    params = None if args.trees is None else {key: {"n_estimators": args.trees} for key in MODEL_FILES}
    model = AnalogSurrogate(space, params=params, seed=args.seed)
    if args.tune:
        model.tune(list(table["arch"]), table, n_trials=args.tune, seed=args.seed)
    archs = list(table["arch"])
    if args.cv:
        # before fitting: what the saved model's setting achieves on networks it has not seen
        taus = model.cross_validate(archs, table, cv=args.cv, seed=args.seed)
        print(f"{args.cv}-fold cross-validated Kendall tau: "
              + ", ".join(f"{t} {v:.3f}" for t, v in taus.items()))
    model.fit(archs, table)
    model.save(args.output)
    print(f"surrogate for {space.name} fitted on {len(table)} architectures -> {args.output}")
    return 0


@command("bench surrogate")
def cmd_bench_surrogate(args: argparse.Namespace) -> int:
    from analognas.io import write_json
    from surrogate.benchmark import benchmark_surrogate, format_summary, summarize

    df = benchmark_surrogate(train_sizes=args.sizes, seeds=args.seeds, tune=args.tune,
                             progress=not args.no_progress)
    summary = summarize(df)
    print(format_summary(summary, ["kendall_tau", "spearman"]))
    if args.json:
        write_json(args.json, {"runs": df.to_dict(orient="records"),
                               "summary": summary.to_dict(orient="records")})
        print(f"wrote {args.json}")
    return 0


@command("bench search")
def cmd_bench_search(args: argparse.Namespace) -> int:
    from analognas.io import write_json
    from analognas.search_bench import benchmark_search, summarize_search
    from surrogate import load_analognas_bench

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = benchmark_search(seeds=seeds, queries=args.queries, max_avm=args.max_avm,
                               methods=args.methods, progress=not args.no_progress)
    print(summarize_search(results, load_analognas_bench(), max_avm=args.max_avm).to_string())
    if args.json:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0


@command("bench throughput")
def cmd_bench_throughput(args: argparse.Namespace) -> int:
    from analognas.search_bench import measure_throughput

    surrogate, path = _load_surrogate(args)
    constraints = _constraints_from_args(args)
    rates = [measure_throughput(surrogate.space, surrogate, seconds=args.seconds, seed=args.seed,
                                constraints=constraints) for _ in range(args.repeats)]
    runs = "" if len(rates) == 1 else f"median of {len(rates)} runs: " + " / ".join(f"{r:,.0f}" for r in rates) + "; "
    limits = ", ".join(f"{k} {v}" for k, v in (("max_params", args.max_params), ("max_tiles", args.max_tiles),
                                                ("max_avm", args.max_avm), ("max_energy_j", args.max_energy_j),
                                                ("max_latency_s", args.max_latency_s), ("max_chips", args.max_chips))
                       if v is not None) or "no limits"
    print(f"{surrogate.space.name}: {statistics.median(rates):,.0f} candidates scored per second "
          f"({runs}{limits}; surrogate {path}, {args.seconds:g} s)")
    return 0


@command("bench cost")
def cmd_bench_cost(args: argparse.Namespace) -> int:
    from analognas.cost_bench import check_against_aihwkit, cost_table, markdown_table
    from analognas.io import write_json
    from search_spaces import REFERENCE_NETWORKS, ResNetLikeSpace, get_space

    networks: dict[str, Any] = {name: (ResNetLikeSpace(), REFERENCE_NETWORKS[name]) for name in ("resnet20", "resnet32")}
    for path in args.arch or []:
        space = get_space(args.space)
        networks[path] = (space, _read_arch(space, path))
    table = cost_table(networks, input_shape=args.input_shape, num_classes=args.num_classes)
    print(markdown_table(table))
    report: dict[str, Any] = {"table": table.to_dict(orient="records")}
    if args.check_aihwkit:
        report["aihwkit_check"] = []
        for name in ("resnet_like", "nb201"):
            check = check_against_aihwkit(get_space(name), args.check_aihwkit, args.max_params, args.seed,
                                          input_shape=args.input_shape, num_classes=args.num_classes,
                                          progress=not args.no_progress)
            report["aihwkit_check"].append(check)
            print(f"aihwkit analog_summary vs the cost model, {name}: {check['networks']} networks "
                  f"(seed {args.seed}, max_params {args.max_params}), {check['layers']:,} analog layers "
                  f"({check['split_layers']:,} over several 256x256 tiles): {len(check['mismatches'])} differ")
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")
    return 0


@command("bench train")
def cmd_bench_train(args: argparse.Namespace) -> int:
    from analognas.train_bench import benchmark_training
    from analognas.training import num_threads

    with num_threads(args.num_threads):
        df = benchmark_training(networks=args.networks, device=args.device, batch_size=args.batch_size,
                                steps=args.steps, warmup=args.warmup, eval_images=args.eval_images,
                                n_reps=args.n_reps, verbose=not args.no_progress)
    if args.no_progress:  # verbose mode has printed the table already
        print(df.to_string(index=False))
    if args.json:
        from analognas.io import write_json

        write_json(args.json, df.to_dict(orient="records"))
    return 0


# --- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analognas",
        description="Hardware-aware neural architecture search for analog in-memory computing.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("sample", help="print a random architecture as JSON")
    _add_space(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-params", type=_positive_int, help="parameter cap")

    p = sub.add_parser("search", help="constrained evolutionary search against a surrogate",
                       description="Search the space with the shipped (or a given) surrogate and "
                                   "write result.json, history.csv and pareto.png.")
    _add_space(p)
    p.add_argument("--surrogate", metavar="DIR", help="surrogate folder (default: the shipped one)")
    _add_limits(p, max_params=1_000_000)
    p.add_argument("--objective", default="acc_1d/std", choices=["acc_1d/std", "acc_1d"])
    p.add_argument("--population", type=_positive_int, default=200, help="population size (default 200)")
    p.add_argument("--iterations", type=_positive_int, default=100, help="generations (default 100)")
    p.add_argument("--time-budget", type=_positive_float, default=60.0,
                   help="wall-clock budget in seconds (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="analognas-search", help="output folder (default analognas-search)")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("evaluate", help="HWA-train and drift-evaluate one architecture",
                       description="Train ARCH.json hardware-aware and write DIR/evaluation.json.")
    p.add_argument("arch", metavar="ARCH.json", help="architecture as JSON (or a search result.json)")
    _add_space(p)
    _add_training(p)
    _add_hardware(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="analognas-evaluation", help="output folder")

    dataset = sub.add_parser("dataset", help="results tables").add_subparsers(
        dest="dataset_command", metavar="ACTION", required=True)
    p = dataset.add_parser("build", help="evaluate sampled architectures into a table (resumable)",
                           description="Rerun the same command to resume an interrupted build.")
    _add_space(p)
    p.add_argument("--output", required=True, help="results table (CSV)")
    p.add_argument("--n-archs", type=_positive_int, required=True, help="architectures to evaluate")
    p.add_argument("--max-params", type=_positive_int, help="parameter cap for sampling")
    p.add_argument("--sampling", default="random", choices=["random", "lhs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=_positive_int, help="local Dask workers (parallel build)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--no-progress", action="store_true")
    _add_training(p)
    _add_hardware(p)

    surrogate = sub.add_parser("surrogate", help="surrogate models").add_subparsers(
        dest="surrogate_command", metavar="ACTION", required=True)
    p = surrogate.add_parser("train", help="fit the XGBoost surrogate on a results table")
    _add_space(p)
    p.add_argument("--results", required=True, help="results table written by 'dataset build'")
    p.add_argument("--output", required=True, help="folder for the surrogate")
    p.add_argument("--tune", type=_non_negative_int, default=0, help="Optuna trials (default 0: none)")
    p.add_argument("--trees", type=_positive_int, default=None,
                   help="boosting rounds of every model (default: the surrogate's, 400); fewer trees "
                        "predict faster, which the search's throughput feels")
    p.add_argument("--cv", type=_cv_folds, default=5,
                   help="folds of the cross-validated Kendall tau printed first (default 5; 0: skip)")
    p.add_argument("--seed", type=int, default=0)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench", metavar="BENCH", required=True)
    p = bench.add_parser("params", help="time num_params over many architectures")
    _add_space(p)
    p.add_argument("--n", type=_positive_int, default=10_000, help="architectures (default 10000)")
    p.add_argument("--seed", type=int, default=0)

    p = bench.add_parser("surrogate", help="surrogate ranking quality on AnalogNAS-Bench")
    p.add_argument("--sizes", type=_positive_int, nargs="+", default=[50, 100, 200, 500, 1000])
    p.add_argument("--seeds", type=_positive_int, default=5)
    p.add_argument("--tune", action="store_true", help="tune hyperparameters with Optuna")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")

    p = bench.add_parser("search", help="search strategies on AnalogNAS-Bench (NB201, table oracle)")
    p.add_argument("--seeds", type=_positive_int, default=20, help="how many seeds to run")
    p.add_argument("--first-seed", type=_non_negative_int, default=0,
                   help="the seeds are FIRST_SEED, FIRST_SEED+1, ... (another set of seeds checks "
                        "that a figure is not one set's luck)")
    p.add_argument("--queries", type=_positive_int, default=100)
    p.add_argument("--max-avm", type=float, default=1.0)
    p.add_argument("--methods", nargs="+", default=["evolution", "random", "nsga2"],
                   choices=["evolution", "random", "nsga2"])
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")

    p = bench.add_parser("throughput", help="candidates scored per second by the search")
    _add_space(p)
    p.add_argument("--surrogate", metavar="DIR")
    p.add_argument("--seconds", type=_positive_float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=_positive_int, default=1,
                   help="runs to make; with more than one, each rate and their median are printed "
                        "(a shared machine's speed drifts between runs)")
    _add_limits(p, max_params=None)

    p = bench.add_parser("cost", help="IMC cost (tiles, MVMs, energy, latency) of reference networks on HERMES",
                         description="Print the cost table of ResNet-20, ResNet-32 and ARCH.json files under "
                                     "both HERMES modes; with --check-aihwkit N, compare tiles and reuse factors "
                                     "with aihwkit's analog_summary on N random networks of each space.")
    p.add_argument("--arch", nargs="+", metavar="ARCH.json", help="more networks (JSON or a search result.json)")
    _add_space(p)
    p.add_argument("--input-shape", type=_parse_shape, default=(3, 32, 32), help="C,H,W (default 3,32,32)")
    p.add_argument("--num-classes", type=_positive_int, default=10)
    p.add_argument("--check-aihwkit", type=_non_negative_int, default=0, metavar="N",
                   help="random networks per space to check against aihwkit (default 0: none)")
    p.add_argument("--max-params", type=_positive_int, default=500_000, help="their parameter cap (default 500000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")

    p = bench.add_parser("train", help="digital vs analog training step and drift-evaluation times")
    p.add_argument("--networks", nargs="+", default=["resnet20", "resnet32"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--steps", type=_positive_int, default=5, help="timed training steps")
    p.add_argument("--warmup", type=_non_negative_int, default=2, help="untimed training steps first")
    p.add_argument("--eval-images", type=_positive_int, default=1000)
    p.add_argument("--n-reps", type=_positive_int, default=2)
    p.add_argument("--num-threads", type=_positive_int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")
    return parser


def _handler_name(args: argparse.Namespace) -> str:
    for sub_attr in ("bench", "dataset_command", "surrogate_command"):
        if getattr(args, sub_attr, None):
            return f"{args.command} {getattr(args, sub_attr)}"
    return args.command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``analognas`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[_handler_name(args)](args)
    except KeyboardInterrupt:
        print("analognas: interrupted; finished work is saved, rerun the command to resume",
              file=sys.stderr)
        return 130
    except (CLIError, InvalidArchitectureError, ValueError, FileNotFoundError, ImportError,
            NotADirectoryError, PermissionError) as e:
        if os.environ.get("ANALOGNAS_DEBUG"):
            raise  # full traceback for developers
        print(f"analognas {_handler_name(args)}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
