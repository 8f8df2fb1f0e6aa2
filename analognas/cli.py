"""The ``analognas`` command line: search, evaluate, dataset build, surrogate train, bench.

Every command prints one clear line for a bad option or file (exit 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from analognas.simulation import SIMULATIONS
from search_spaces import InvalidArchitectureError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}

DEFAULT_SPACE = "resnet_like"
#: used only where a surrogate records no domain (see surrogate.SurrogateDomain)
FALLBACK_MAX_PARAMS = 1_000_000
FALLBACK_INPUT_SHAPE = (3, 32, 32)
FALLBACK_NUM_CLASSES = 10
DEFAULT_EVALUATE_DATASET = "digits"
ACC_SCORE_NOTE = ("a ranking score: it orders networks, on the scale of the training table's "
                  "accuracies, and is not a predicted accuracy")
#: what an interrupted command has kept, said when Ctrl-C arrives (search says it itself)
INTERRUPTED = {
    "dataset build": "the finished rows are saved in the table; rerun the same command to resume",
    "evaluate": "nothing is kept: an evaluation is not checkpointed; rerun the command to start again",
    "search": "nothing was written (the search had not started)",
}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's stop, ``kill``), handled as Ctrl-C: what is done is kept."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum} (SIGTERM)")


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


def _count_or_all(text: str) -> int | None:
    """A positive integer, or ``all`` (None)."""
    return None if text == "all" else _positive_int(text)


def _max_avm(text: str) -> float:
    value = _number(float, -math.inf, True, "")(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"{value} is not allowed: give a positive number of accuracy points; drift does not raise the "
            "expected accuracy, so no network truly stays below 0 (predictions below 0 are noise)")
    return value


def _cv_folds(text: str) -> int:
    value = _non_negative_int(text)
    if value == 1:
        raise argparse.ArgumentTypeError("1 fold cannot cross-validate: use 0 (skip) or at least 2")
    return value


def _add_space(p: argparse.ArgumentParser, default: str | None = "resnet_like") -> None:
    from search_spaces import SPACES

    p.add_argument("--space", default=default, choices=sorted(SPACES),
                   help=f"search space (default: {default})" if default else
                   "search space (default: the surrogate's; with the shipped surrogates, resnet_like); "
                   "a --surrogate fitted for another space is refused")


def _add_hardware(p: argparse.ArgumentParser, tile_size: bool = True, title: str | None = None) -> None:
    g = p.add_argument_group(title or "analog hardware (defaults: AnalogHardware())")
    g.add_argument("--hardware", metavar="FILE",
                   help='JSON file with AnalogHardware fields, e.g. {"preset": "analognas-bench"} or '
                        '{"noise_model": "hermes", "noise_params": {"num_devices": 1}, "g_max": 10.0} '
                        "(see docs/hardware.md)")
    g.add_argument("--g-max", type=_positive_float, help="PCM maximum conductance in uS")
    g.add_argument("--dac-bits", type=_positive_int, help="input (DAC) resolution in bits")
    g.add_argument("--adc-bits", type=_positive_int, help="output (ADC) resolution in bits")
    g.add_argument("--out-noise", type=float, help="output noise std (relative)")
    g.add_argument("--weight-noise", type=float, help="weight-noise injection std during training")
    if tile_size:
        g.add_argument("--tile-size", type=_positive_int, help="crossbar tile rows/columns")
    g.add_argument("--no-drift-compensation", action="store_true",
                   help="turn global drift compensation off")


def _add_training(p: argparse.ArgumentParser, dataset_default: str | None = DEFAULT_EVALUATE_DATASET) -> None:
    from analognas.data import DATASET_NAMES

    g = p.add_argument_group("data and hardware-aware training")
    g.add_argument("--dataset", default=dataset_default, choices=list(DATASET_NAMES),
                   help=f"dataset (default: {dataset_default})" if dataset_default else
                   "dataset (default: when ARCH.json is a search result, the dataset of the surrogate "
                   f"that chose it; else {DEFAULT_EVALUATE_DATASET}, seconds on a CPU)")
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
    g.add_argument("--times", type=_positive_float, nargs="+", metavar="SECONDS",
                   help="drift times after programming at which accuracy is measured, increasing, "
                        "with 86400 (1 day) among them; avm compares the first and the last "
                        "(default: 1 3600 86400 2592000)")
    g.add_argument("--simulation", choices=list(SIMULATIONS),
                   help="how analog layers are computed: fast (default; same physics, 3-5x faster on CPU) "
                        "or aihwkit (aihwkit's own forward)")


#: the single-field hardware flags (argparse dests) and the AnalogHardware fields they set
HARDWARE_FLAGS = {"g_max": "g_max", "dac_bits": "dac_bits", "adc_bits": "adc_bits", "out_noise": "out_noise",
                  "weight_noise": "modifier_std", "tile_size": "tile_size"}


def _hardware_given(args: argparse.Namespace, tile_size: bool = True) -> bool:
    """Whether any hardware option was given (``--tile-size`` counts only when it is one)."""
    return bool(args.hardware or args.no_drift_compensation or any(
        getattr(args, flag, None) is not None for flag in HARDWARE_FLAGS if tile_size or flag != "tile_size"))


def _hardware_from_args(args: argparse.Namespace, tile_size: bool = True):
    """The AnalogHardware of ``--hardware FILE.json`` (its fields, optionally ``"preset": NAME``
    to start from a named preset) and the single-field flags, which win over the file
    (``tile_size=False``: ``--tile-size`` is not a hardware flag of this command)."""
    from analognas.hardware import AnalogHardware

    fields: dict[str, Any] = {}
    preset = None
    if args.hardware:
        from analognas.io import read_json

        data = read_json(args.hardware)
        if not isinstance(data, dict):
            raise CLIError(f"--hardware {args.hardware}: expected a JSON object of AnalogHardware "
                           f"fields (and optionally \"preset\"), got {type(data).__name__}")
        fields.update(data)
        preset = fields.pop("preset", None)
    for flag, field in HARDWARE_FLAGS.items():
        if (tile_size or flag != "tile_size") and getattr(args, flag) is not None:
            fields[field] = getattr(args, flag)
    if args.no_drift_compensation:
        fields["drift_compensation"] = False
    try:
        if preset is not None:
            return AnalogHardware.preset(preset, **fields)
        return AnalogHardware.from_dict(fields)
    except ValueError as e:
        raise CLIError(f"--hardware {args.hardware}: {e}" if args.hardware else str(e)) from None


def _configs_from_args(args: argparse.Namespace):
    """(hardware, training, evaluation) from the shared options; unset options keep defaults."""
    from analognas.evaluation import EvaluationConfig
    from analognas.training import TrainingConfig

    training_fields = {k: getattr(args, k) for k in
                       ("pretrain_epochs", "epochs", "lr", "pretrain_lr", "batch_size", "device",
                        "num_threads", "simulation")
                       if getattr(args, k) is not None}
    evaluation_fields: dict[str, Any] = {"n_reps": args.n_reps} if args.n_reps is not None else {}
    if getattr(args, "times", None) is not None:
        evaluation_fields["times"] = tuple(args.times)
    try:
        evaluation = EvaluationConfig(**evaluation_fields)
    except ValueError as e:
        raise CLIError(str(e).replace("EvaluationConfig.times", "--times")) from None
    return _hardware_from_args(args), TrainingConfig(**training_fields), evaluation


def default_surrogate_path(space_name: str) -> Path:
    """The folder of the surrogate shipped for ``space_name`` (see ``surrogate.default_surrogate_path``)."""
    from surrogate.model import default_surrogate_path as shipped

    return shipped(space_name)


def _check_output(flag_value: str, names: Sequence[str], overwrite: bool) -> Path:
    """The --output folder, checked before any work: not a file, and not holding ``names``
    from an earlier run unless ``overwrite``."""
    out = Path(flag_value)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--output {out}: is a file; give a folder")
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise CLIError(f"--output {out}: already holds {', '.join(existing)} from an earlier run; "
                       "give another folder, or add --overwrite to replace them")
    return out


def _read_arch(space, path: str) -> tuple[Any, dict[str, Any] | None]:
    """(architecture, the search result it came from or None)."""
    from analognas.io import read_json

    data = read_json(path)
    if isinstance(data, dict) and "arch" in data and isinstance(data["arch"], dict):
        return space.from_dict(data["arch"]), data  # a search result.json
    return space.from_dict(data), None


# --- commands ---------------------------------------------------------------------------
@command("sample")
def cmd_sample(args: argparse.Namespace) -> int:
    from analognas.dataset import sample_architectures
    from search_spaces import get_space
    from surrogate.domain import shape_text

    space = get_space(args.space)
    _limits_from_domain(args, _shipped_domain(space.name))
    tile_size = _tile_size(args)
    shape, classes = tuple(args.input_shape), args.num_classes
    arch = sample_architectures(space, 1, args.seed, max_params=args.max_params, input_shape=shape,
                                num_classes=classes)[0]
    print(json.dumps(arch.to_dict(), indent=2))
    # the size on stderr keeps stdout a plain architecture file (analognas sample > arch.json)
    print(f"{space.num_params(arch, shape, classes):,} parameters, "
          f"{space.num_tiles(arch, tile_size, shape, classes)} crossbar tiles ({tile_size}x"
          f"{tile_size}) for {shape_text(shape)} inputs and {classes} classes "
          f"(cap: below {args.max_params:,} parameters)", file=sys.stderr)
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


def _load_surrogate(args: argparse.Namespace):
    """(surrogate, its folder); the space is the surrogate's, and a ``--space`` that differs
    from it is refused (a surrogate only answers for the space it was fitted on)."""
    from surrogate import AnalogSurrogate
    from surrogate.model import METADATA_FILE

    path = Path(args.surrogate) if args.surrogate else default_surrogate_path(args.space or DEFAULT_SPACE)
    if not (path / METADATA_FILE).is_file():
        raise CLIError(f"--surrogate {path}: no surrogate there (expected {path / METADATA_FILE}); "
                       "train one with 'analognas surrogate train'")
    surrogate = AnalogSurrogate.load(path)
    if args.space is not None and surrogate.space.name != args.space:
        raise CLIError(f"--space {args.space}: the surrogate {path} was fitted for space "
                       f"{surrogate.space.name!r}; leave --space out to search {surrogate.space.name}, "
                       f"or give a surrogate fitted for {args.space}")
    args.space = surrogate.space.name
    _limits_from_domain(args, surrogate.domain_)
    return surrogate, path


def _surrogate_for_hardware(args: argparse.Namespace, surrogate: Any, path: Path) -> tuple[Any, dict[str, Any]]:
    """(what the search scores with, the hardware part of result.json). With a hardware option
    the surrogate is bound to that hardware (``AnalogSurrogate.for_hardware``); without one, a
    surrogate that takes hardware features is refused, naming its settings."""
    import warnings

    from surrogate.hardware import HardwareDomainWarning

    features = surrogate.hardware_features_
    if not _hardware_given(args, tile_size=False):
        if features is not None and features.names:
            raise CLIError(f"--surrogate {path} was fitted on {features.describe()} and ranks for one hardware: "
                           "give it with --hardware FILE.json or --adc-bits, --g-max, ... (fitted settings: "
                           f"{features.choices()})")
        setting = None if features is None else features.settings[0]
        return surrogate, {"setting": setting, "given": False, "seen": setting is not None, "outside": [],
                           "summary": "as fitted (one setting)" if setting else "as fitted (not recorded)"}
    hw = _hardware_from_args(args, tile_size=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HardwareDomainWarning)  # the reasons go into result.json
        try:
            scorer = surrogate.for_hardware(hw, allow_unseen=args.allow_unseen_hardware)
        except ValueError as e:
            raise CLIError(f"{e} (--allow-unseen-hardware ranks anyway, as for the fitted hardware)") from None
    shown = ", ".join(f"{f}={scorer.hardware.get(f)!r}" for f in (features.fields if features else [])) \
        or "given"
    where = "a fitted setting" if scorer.seen else "each value fitted, not this combination" if not scorer.outside \
        else "not fitted on"
    return scorer, {"setting": scorer.hardware, "given": True, "seen": scorer.seen, "outside": scorer.outside,
                    "summary": f"{shown} ({where})"}


def _shipped_domain(space_name: str):
    """The domain of the surrogate shipped for ``space_name`` (None when none is shipped)."""
    from surrogate.model import SHIPPED_SURROGATES, domain_of

    if space_name not in SHIPPED_SURROGATES:
        return None
    return domain_of(default_surrogate_path(space_name))


def _limits_from_domain(args: argparse.Namespace, domain) -> None:
    """Fill the unset --max-params, --input-shape and --num-classes from the surrogate's domain
    (what its table holds), else from the fallbacks; say where each came from."""
    args.defaults_from = {}
    if getattr(args, "max_params", None) is None and getattr(args, "cap_from_domain", False):
        if domain is not None and domain.params_max is not None:
            # limits are strict: one above the table's largest network admits it
            args.max_params = domain.params_max + 1
            args.defaults_from["max_params"] = "the surrogate's table (its largest network + 1)"
        else:
            args.max_params = FALLBACK_MAX_PARAMS
            args.defaults_from["max_params"] = "the fallback (the surrogate records no parameter range)"
    for name, fallback in (("input_shape", FALLBACK_INPUT_SHAPE), ("num_classes", FALLBACK_NUM_CLASSES)):
        if getattr(args, name, "absent") is None:
            known = None if domain is None else getattr(domain, name)
            setattr(args, name, known if known is not None else fallback)
            args.defaults_from[name] = "the surrogate's table" if known is not None else "the fallback"


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not CHANNELS,HEIGHT,WIDTH (e.g. 3,32,32)")
    return shape  # type: ignore[return-value]


def _add_limits(p: argparse.ArgumentParser, cap_from_domain: bool, avm: bool = True) -> None:
    g = p.add_argument_group("limits (parameters and tiles are exact, AVM is predicted); "
                             "unset ones come from the surrogate's training table")
    g.add_argument("--max-params", type=_positive_int, default=None,
                   help="parameter budget T_p (default: "
                        + ("one above the largest network in the surrogate's table, so the answer "
                           f"stays where the surrogate has data; {FALLBACK_MAX_PARAMS:,} when the "
                           "surrogate records no range)" if cap_from_domain else "none)"))
    if avm:
        g.add_argument("--max-avm", type=_max_avm,
                       help="budget on predicted AVM, in accuracy points; a network is feasible when its "
                            "predicted AVM is below it. It must be > 0: drift does not raise the "
                            "expected accuracy, and a prediction below 0 is the table's test noise")
        g.add_argument("--max-tiles", type=_positive_int, help="budget on crossbar tiles")
    g.add_argument("--tile-size", type=_positive_int, default=None,
                   help="crossbar rows/columns the tiles are counted with (default: the tile_size of the "
                        "hardware ranked for; AnalogHardware()'s otherwise)")
    g.add_argument("--input-shape", type=_parse_shape, default=None,
                   help="C,H,W of the task's images for parameter/tile counts (default: the surrogate's "
                        "table's, e.g. 1,28,28 for the shipped ResNet-like one; "
                        f"{','.join(map(str, FALLBACK_INPUT_SHAPE))} when unrecorded)")
    g.add_argument("--num-classes", type=_positive_int, default=None,
                   help=f"outputs (default: the surrogate's table's; {FALLBACK_NUM_CLASSES} when unrecorded)")
    p.set_defaults(cap_from_domain=cap_from_domain)
    g = p.add_argument_group("IMC cost limits (exact, from analognas.cost on a HERMES-like chip)")
    g.add_argument("--max-energy-j", type=_positive_float, help="budget on energy per inference, in joules")
    g.add_argument("--max-latency-s", type=_positive_float,
                   help="budget on latency per inference (layers one after the other), in seconds")
    g.add_argument("--max-chips", type=_positive_int, help="at most this many chips to hold every weight")
    g.add_argument("--chip", default="one-phase", choices=["one-phase", "four-phase"],
                   help="HERMES mode the costs are counted on (default one-phase)")


def _tile_size(args: argparse.Namespace, hardware: dict[str, Any] | None = None) -> int:
    """``--tile-size``, or when unset ``hardware``'s tile size, or AnalogHardware()'s."""
    from analognas.hardware import AnalogHardware

    if args.tile_size is not None:
        return args.tile_size
    return (hardware or {}).get("tile_size") or AnalogHardware().tile_size


def _constraints_from_args(args: argparse.Namespace, hardware: dict[str, Any] | None = None):
    """The search limits; an unset ``--tile-size`` is ``hardware``'s (an ``AnalogHardware.to_dict()``)
    tile size, or AnalogHardware()'s."""
    from analognas.cost import HERMES_MODES
    from analognas.search import Constraints

    return Constraints(max_params=args.max_params, max_avm=args.max_avm, max_tiles=args.max_tiles,
                       tile_size=_tile_size(args, hardware), input_shape=args.input_shape,
                       num_classes=args.num_classes,
                       max_energy_j=args.max_energy_j, max_latency_s=args.max_latency_s, max_chips=args.max_chips,
                       chip=HERMES_MODES[args.chip])


def _cost_line(cost: dict[str, Any]) -> str:
    """One line of a network's IMC costs (a NetworkCost.summary())."""
    return (f"{cost['chip']}: {cost['tiles']} cores, {cost['chips']} chip(s), {cost['mvms']:,} MVMs, "
            f"{cost['energy_j'] * 1e6:.3g} µJ and {cost['latency_s'] * 1e3:.3g} ms per inference "
            f"(pipelined: one every {cost['pipeline_interval_s'] * 1e6:.3g} µs)")


SEARCH_OUTPUTS = ("result.json", "history.csv", "pareto.png")


@command("search")
def cmd_search(args: argparse.Namespace) -> int:
    from analognas.plots import plot_pareto
    from analognas.search import EvolutionarySearch, Objective
    from surrogate.domain import shape_text

    out = _check_output(args.output, SEARCH_OUTPUTS, args.overwrite)
    surrogate, path = _load_surrogate(args)
    space, domain = surrogate.space, surrogate.domain_
    scorer, hardware = _surrogate_for_hardware(args, surrogate, path)
    constraints = _constraints_from_args(args, hardware["setting"])
    if domain is not None and domain.params_max is not None and args.max_params > domain.params_max + 1:
        print(f"note: --max-params {args.max_params:,} reaches beyond the surrogate's table (its largest "
              f"network has {domain.params_max:,} parameters): predictions up there are extrapolation",
              file=sys.stderr)
    search = EvolutionarySearch(space, scorer, constraints, objective=args.objective,
                                population_size=args.population, iterations=args.iterations,
                                time_budget_s=args.time_budget, seed=args.seed,
                                progress=not args.no_progress)
    result = search.run()
    if result.best is None:
        why = "it was interrupted" if result.interrupted else f"--time-budget {args.time_budget:g} s ran out"
        raise CLIError(f"no architecture was scored before {why} (the first population takes about a "
                       "second): nothing was written; give a larger --time-budget")
    pred = result.best_prediction
    outside = domain.outside(pred["params"], constraints.input_shape) if domain is not None else []
    outside += hardware["outside"]
    objective = Objective(args.objective)
    from analognas.cost import network_cost

    cost = network_cost(space, result.best, constraints.chip, constraints.input_shape,
                        constraints.num_classes).summary()
    summary = {
        "arch": result.best.to_dict(),
        "space": space.name,
        # acc_1d_score orders networks; it is not a predicted accuracy (see "notes")
        "predicted": {"acc_1d_score": pred["acc_1d"], "acc_1d_std": pred["acc_1d_std"], "avm": pred["avm"]},
        "objective": {"name": objective.name, "computes": objective.formula, "value": pred["objective"]},
        "params": int(pred["params"]),
        "tiles": int(pred["tiles"]),
        "cost": cost,
        "feasible": bool(result.feasible),
        "message": result.message,
        "interrupted": result.interrupted,
        "constraints": dataclasses.asdict(constraints),
        "defaults_from": args.defaults_from,
        "seed": args.seed,
        "surrogate": {"path": str(path), "domain": None if domain is None else domain.to_dict()},
        "hardware": hardware,
        "inside_domain": not outside,
        "outside_domain": outside,
        # predicted better than every measured network: the likeliest place for the model to be wrong
        "above_table_score": bool(domain is not None and domain.above_table(pred["acc_1d"])),
        "notes": {"acc_1d_score": ACC_SCORE_NOTE, "avm": "predicted accuracy points lost between 1 s and 1 month after "
                  "programming; feasible means below max_avm"},
        "n_scored": result.n_scored,
        "elapsed_s": round(result.elapsed_s, 3),
    }
    from analognas.io import atomic_write_text, write_json

    # the same name as in result.json: the column holds ranking scores, not accuracies
    history = result.history.rename(columns={"acc_1d": "acc_1d_score"})
    atomic_write_text(out / "history.csv", history.assign(
        arch=[json.dumps(a.to_dict(), sort_keys=True) for a in history["arch"]]).to_csv(index=False))
    plot_pareto(result, out / "pareto.png")
    write_json(out / "result.json", summary)  # last: a result.json comes with its history
    status = "best feasible" if result.feasible else "NO FEASIBLE architecture; least infeasible"
    print(f"{status} ({result.n_scored:,} scored in {result.elapsed_s:.1f} s): {json.dumps(summary['arch'])}")
    print(f"  stopped: {result.message}")
    print(f"  predicted: acc_1d ranking score {pred['acc_1d']:.3f} ({ACC_SCORE_NOTE}), "
          f"acc_1d_std {pred['acc_1d_std']:.3f}, AVM {pred['avm']:.3f} points")
    print(f"  objective {objective.name} = {pred['objective']:.4g} ({objective.formula})")
    print(f"  parameters {summary['params']:,}, crossbar tiles {summary['tiles']} "
          f"({constraints.tile_size}x{constraints.tile_size}), for {shape_text(constraints.input_shape)} inputs "
          f"and {constraints.num_classes} classes")
    print(f"  surrogate {path}: " + ("no domain recorded" if domain is None else
                                     f"fitted on {domain.describe()}; {domain.describe_quality()}"))
    print(f"  ranked for hardware {hardware['summary']}")
    print("  inside the surrogate's domain" if not outside else
          "  OUTSIDE the surrogate's domain (its predictions here are extrapolation): " + "; ".join(outside))
    if summary["above_table_score"]:
        print(f"  note: its acc_1d ranking score ({pred['acc_1d']:.3f}) is above that of every network the surrogate "
              f"was fitted on (at most {domain.acc_1d_score_max:.3f}): predicted better than anything measured, "
              "where the surrogate extrapolates; measure it with 'analognas evaluate'")
    print(f"  {_cost_line(cost)}")
    written = f"{out / 'result.json'}, {out / 'history.csv'}, {out / 'pareto.png'}"
    if result.interrupted:
        print(f"analognas search: interrupted; saved the {result.n_scored:,} architectures scored so far "
              f"and the best of them: {written}. A search does not resume: rerun it (with --overwrite "
              "or another --output) to search again", file=sys.stderr)
        return 130
    print(f"  wrote {written}")
    return 0


@command("evaluate")
def cmd_evaluate(args: argparse.Namespace) -> int:
    from analognas.cost import HERMES_MODES, network_cost
    from analognas.data import DATASET_SHAPES
    from analognas.evaluation import evaluate_architecture
    from analognas.io import write_json
    from search_spaces import get_space

    out = _check_output(args.output, ["evaluation.json"], args.overwrite)
    space = get_space(args.space)
    arch, searched = _read_arch(space, args.arch)
    if args.dataset is None:
        args.dataset = _dataset_of(searched) or DEFAULT_EVALUATE_DATASET
    hardware, training, evaluation = _configs_from_args(args)
    ranked_for = _hardware_of(searched)
    if ranked_for is not None and not _hardware_given(args):
        from analognas.hardware import AnalogHardware

        try:
            hardware = AnalogHardware.from_dict(ranked_for)
        except ValueError as e:
            raise CLIError(f"{args.arch}: field 'hardware.setting': {e}") from None
        default = AnalogHardware().to_dict()
        changed = ", ".join(f"{k}={v!r}" for k, v in hardware.to_dict().items() if default.get(k) != v)
        print(f"hardware: the setting {args.arch} was ranked for ({changed or 'AnalogHardware() defaults'}); "
              "give --hardware or a hardware flag for another", file=sys.stderr)
    try:
        training.check_device()  # before any work
    except RuntimeError as e:
        raise CLIError(f"--device {training.device}: {e}") from None
    result = evaluate_architecture(space, arch, args.dataset, hardware=hardware, training=training,
                                   evaluation=evaluation, seed=args.seed, data_root=args.data_root,
                                   n_train=args.n_train, n_test=args.n_test,
                                   progress=not args.no_progress)
    chance = 100.0 / FALLBACK_NUM_CLASSES  # every named dataset has 10 classes
    near_chance = result.status == "ok" and result.acc_1d is not None and result.acc_1d < 1.5 * chance
    report = {
        "arch": arch.to_dict(), "space": space.name, "dataset": args.dataset,
        "acc_1d": result.acc_1d, "acc_1d_std": result.acc_1d_std, "avm": result.avm,
        "acc_by_time": {str(int(t)): {"mean": m, "std": sd} for t, (m, sd) in result.acc_by_time.items()},
        "params": result.params, "tiles": result.tiles, "status": result.status,
        "reason": result.reason, "digital_acc": result.digital_acc, "near_chance": near_chance,
        "wall_time_s": result.wall_time_s, "seed": args.seed,
        "hardware": hardware.to_dict(), "training": training.to_dict(), "evaluation": evaluation.to_dict(),
        "cost": {mode: network_cost(space, arch, chip, *DATASET_SHAPES[args.dataset]).summary()
                 for mode, chip in HERMES_MODES.items()},
    }
    path = write_json(out / "evaluation.json", report)
    if result.status != "ok":
        print(f"evaluation failed: {result.reason} (wrote {path})")
        return 1
    digital = ("no digital pre-training" if result.digital_acc is None
               else f"digital {result.digital_acc:.2f} %")
    print(f"acc_1d {result.acc_1d:.2f} % ± {result.acc_1d_std:.2f}, AVM {result.avm:.2f} points, "
          f"{digital}, {result.params:,} parameters, {result.tiles} tiles, on {args.dataset}, "
          f"{result.wall_time_s:.1f} s (wrote {path})")
    for cost in report["cost"].values():
        print(f"  {_cost_line(cost)}")
    if near_chance and result.digital_acc is not None and result.digital_acc >= 3 * chance:
        print(f"warning: acc_1d {result.acc_1d:.1f} % is near chance ({chance:.0f} %) although the digital "
              f"network reached {result.digital_acc:.1f} %: it collapses on the analog hardware (noise through a "
              "deep stack, or its ranges); a shallower or residual network, more analog epochs (--epochs) or "
              "less noisy hardware may hold it", file=sys.stderr)
    elif near_chance:
        print(f"warning: acc_1d {result.acc_1d:.1f} % is near chance ({chance:.0f} %): the network has "
              "not learned the task; train longer (--pretrain-epochs, --epochs), on more images "
              "(--n-train), or pick a smaller network", file=sys.stderr)
    return 0


def _hardware_of(searched: dict[str, Any] | None) -> dict[str, Any] | None:
    """The hardware a searched architecture was ranked for (``AnalogHardware.to_dict()``, from its
    result.json; None when it records none)."""
    hardware = searched.get("hardware") if searched else None
    setting = hardware.get("setting") if isinstance(hardware, dict) else None
    return setting if isinstance(setting, dict) else None


def _dataset_of(searched: dict[str, Any] | None) -> str | None:
    """The dataset of the surrogate that chose a searched architecture (from its result.json)."""
    from analognas.data import DATASET_NAMES

    surrogate = searched.get("surrogate") if searched else None
    domain = surrogate.get("domain") if isinstance(surrogate, dict) else None
    name = domain.get("dataset") if isinstance(domain, dict) else None
    return name if name in DATASET_NAMES else None


@command("dataset build")
def cmd_dataset_build(args: argparse.Namespace) -> int:
    from analognas.dataset import build_dataset
    from search_spaces import get_space

    executor = _executor(args)
    hardware, training, evaluation = _configs_from_args(args)
    table = build_dataset(get_space(args.space), args.output, args.n_archs, dataset=args.dataset,
                          hardware=hardware, training=training, evaluation=evaluation,
                          seed=args.seed, max_params=args.max_params, sampling=args.sampling,
                          data_root=args.data_root, n_train=args.n_train, n_test=args.n_test,
                          progress=not args.no_progress, executor=executor)
    ok = int((table["status"] == "ok").sum()) if len(table) else 0
    print(f"{args.output}: {len(table)} architectures ({ok} ok, {len(table) - ok} failed)")
    return 0


def _executor(args: argparse.Namespace) -> Any:
    """A Dask executor for --workers / --scheduler, or None (evaluate here, one at a time)."""
    if not (args.workers or args.scheduler):
        return None
    from analognas.distributed import DaskExecutor

    return DaskExecutor(address=args.scheduler, n_workers=args.workers)


def _add_executor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=_positive_int, help="local Dask workers (parallel evaluations)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")


def _tau_table(rows: dict[str, tuple[dict[str, float], dict[str, float] | None]], with_sd: bool) -> str:
    """Lines of a tau table: a header of metrics, then per row its mean (and ``± sd`` where the
    row has one) per metric."""
    width = 16 if with_sd else 12
    metrics = list(next(iter(rows.values()))[0])
    lines = [f"  {'':32s}" + "".join(f"{t:>{width}s}" for t in metrics)]
    for name, (mean, sd) in rows.items():
        cells = (f"{mean[t]:.3f}" + ((f" ± {sd[t]:.3f}" if sd else " " * 8) if with_sd else "") for t in metrics)
        lines.append(f"  {name:32s}" + "".join(f"{c:>{width}s}" for c in cells))
    return "\n".join(lines)


@command("surrogate train")
def cmd_surrogate_train(args: argparse.Namespace) -> int:
    from analognas.sweep import read_tables
    from search_spaces import get_space
    from surrogate import AnalogSurrogate
    from surrogate.model import MODEL_FILES

    space = get_space(args.space)
    runs = read_tables(args.results, space)
    tables = runs.averaged()
    results = ", ".join(tables.paths)
    repeated = int((tables.frame["runs"] > 1).sum())
    if repeated:
        print(f"{repeated} networks measured in more than one run on the same hardware: the surrogate fits, "
              "and is scored on, the mean of their runs")
    if len(tables.frame) < 10:
        raise CLIError(f"--results {results}: {len(tables.frame)} successful rows; at least 10 are needed")
    table, archs, hardware = tables.frame, tables.archs, tables.row_hardware
    params = None if args.trees is None else {key: {"n_estimators": args.trees} for key in MODEL_FILES}
    model = AnalogSurrogate(space, params=params, seed=args.seed)
    if args.tune:
        model.tune(archs, table, n_trials=args.tune, seed=args.seed, hardware=hardware)
    taus = taus_sd = baseline = ceiling = None
    if args.cv:
        from analognas.reliability import tau_ceilings
        from surrogate.folds import plain_xgboost_taus, repeated_taus

        # before fitting: what the saved model's setting achieves on networks it has not seen
        with_sd = args.cv_repeats > 1
        seeds = range(args.seed, args.seed + args.cv_repeats)
        taus, taus_sd = repeated_taus(
            lambda s: model.cross_validate(archs, table, cv=args.cv, seed=s, hardware=hardware), seeds)
        baseline, baseline_sd = repeated_taus(
            lambda s: plain_xgboost_taus(space, archs, table, cv=args.cv, seed=s), seeds)
        several = len(set(tables.hardware_keys)) > 1
        splits = (f"; mean and sd over {args.cv_repeats} fold splits, seeds {seeds.start}-{seeds.stop - 1}"
                  if with_sd else "")
        print(f"{args.cv}-fold cross-validated Kendall tau (identical networks share a fold{splits}"
              + ("; over the rows of all tables, so it also scores the order across hardware):" if several else "):"))
        rows = {"this surrogate": (taus, taus_sd),
                "plain XGBoost, raw encoding" + (" only" if several else ""): (baseline, baseline_sd)}
        ceiling = tau_ceilings(runs, tuple(taus)) if repeated else None
        if ceiling is not None:
            rows["ceiling: a perfect model"] = (ceiling, None)
        print(_tau_table(rows, with_sd=with_sd))
        if ceiling is not None:
            print("  (the ceiling: what ranking each network's true value would score against these values, "
                  f"given the noise between the runs of the {repeated} networks measured twice)")
    model.fit(archs, table, hardware=hardware)
    several_splits = bool(args.cv) and args.cv_repeats > 1  # one split has no sd to record
    model.domain_ = dataclasses.replace(model.domain_, table=results, n_averaged=repeated or None,
                                        cv_kendall_tau=taus, cv_folds=args.cv or None,
                                        cv_repeats=args.cv_repeats if several_splits else None,
                                        cv_kendall_tau_sd=taus_sd if several_splits else None,
                                        cv_baseline_kendall_tau=baseline, cv_tau_ceiling=ceiling,
                                        **tables.task)
    model.save(args.output)
    print(f"surrogate for {space.name} fitted on {model.domain_.describe()} -> {args.output}")
    if model.hardware_features_ is not None and model.hardware_features_.names:
        print(f"  hardware features: {', '.join(model.hardware_features_.names)}; rank for one with "
              f"'analognas search --surrogate {args.output} --hardware FILE.json'")
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


@command("bench chip")
def cmd_bench_chip(args: argparse.Namespace) -> int:
    from analognas.chip_bench import benchmark_chip, format_chip_bench
    from analognas.io import write_json
    from analognas.sweep import read_tables
    from surrogate.model import MODEL_FILES

    tables = read_tables(args.tables)
    params = {key: {"n_estimators": args.trees} for key in MODEL_FILES}
    bench = benchmark_chip(tables, cv=args.cv, seed=args.seed, params=params, progress=not args.no_progress)
    print(f"{len(tables.paths)} tables, {len(tables.frame)} rows, {len(bench.labels)} hardware settings; "
          f"{args.cv} network folds (a network's rows share one), {args.trees} trees per model, seed {args.seed}")
    print(format_chip_bench(bench))
    if args.json:
        write_json(args.json, {"tables": tables.paths, "cv": args.cv, "trees": args.trees, "seed": args.seed,
                               **{k: getattr(bench, k).to_dict(orient="records")
                                  for k in ("networks", "settings", "summary")}})
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
        networks[path] = (space, _read_arch(space, path)[0])
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
                                n_reps=args.n_reps, simulations=args.simulations,
                                record_images=args.record_images,
                                record_pretrain_epochs=args.record_pretrain_epochs,
                                record_epochs=args.record_epochs, repeats=args.repeats,
                                verbose=not args.no_progress)
    if args.no_progress:  # verbose mode has printed the table already
        print(df.to_string(index=False))
    if args.json:
        from analognas.io import write_json

        write_json(args.json, df.to_dict(orient="records"))
    return 0


@command("dataset check")
def cmd_dataset_check(args: argparse.Namespace) -> int:
    from analognas.provenance import check_provenance

    report = check_provenance(args.results)
    print(report.format())
    _print_retest_reliability(args.results)
    return 0 if report.consistent else 1


def _print_reliability(rel: Any) -> None:
    print("test-retest reliability, ICC(1,1) = share of variance between networks in one run; "
          "icc_mean = ICC(1,2), that of the mean of both runs; tau_ceiling(_mean) = the Kendall tau a perfect "
          "model could expect against one run (the mean of both) per network:")
    print(rel.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _print_retest_reliability(path: str) -> None:
    """For a retest side table: the reliability of the networks it holds so far (read only)."""
    from analognas.dataset import read_results
    from analognas.reliability import reliability, retested_table

    # the check's verdict is the run log's: a table that cannot be paired is a note, not an error
    try:
        of = retested_table(path)
        if of is None:
            return
        rel = reliability(read_results(of), read_results(path))
    except (FileNotFoundError, ValueError) as e:
        print(f"  note: {e}; no reliability reported")
        return
    print(f"{path} measures networks of {of} again; so far:")
    _print_reliability(rel)


def _builder_from_args(args: argparse.Namespace, path: str):
    """A DatasetBuilder for ``path`` from the shared table, training and hardware options."""
    from analognas.dataset import DatasetBuilder
    from search_spaces import get_space

    hardware, training, evaluation = _configs_from_args(args)
    return DatasetBuilder(get_space(args.space), path, args.dataset, hardware=hardware, training=training,
                          evaluation=evaluation, seed=args.seed, max_params=args.max_params,
                          sampling=args.sampling, data_root=args.data_root, n_train=args.n_train,
                          n_test=args.n_test)


@command("loop")
def cmd_loop(args: argparse.Namespace) -> int:
    from analognas.dataset import read_results
    from analognas.loop import grow_table
    from analognas.search import Constraints

    builder = _builder_from_args(args, args.results)
    constraints = Constraints(max_params=args.max_params, max_avm=args.max_avm, max_tiles=args.max_tiles,
                              tile_size=builder.hardware.tile_size)
    result = grow_table(builder, args.budget, constraints, objective=args.objective, n_initial=args.n_initial,
                        batch_per_round=args.batch, seed=args.seed, progress=not args.no_progress,
                        search_kwargs={"population_size": args.population, "iterations": args.iterations})
    m = result.best_metrics
    n_rows = len(read_results(args.results, builder.space, include_failed=True))
    print(f"{args.results}: {result.message}; the table holds {n_rows} rows")
    status = "best feasible" if result.feasible else "NO FEASIBLE row; least infeasible"
    print(f"  {status} (measured): {json.dumps(result.best.to_dict())}")
    print(f"  acc_1d {m['acc_1d']:.2f} % ± {m['acc_1d_std']:.2f}, AVM {m['avm']:.2f} points, "
          f"{m['params']:,} parameters, {m['tiles']} tiles")
    return 0


@command("dataset retest")
def cmd_dataset_retest(args: argparse.Namespace) -> int:
    from analognas.reliability import retest

    result = retest(args.results, n=args.n, seed=args.seed, output=args.output, data_root=args.data_root,
                    device=args.device, num_threads=args.num_threads, progress=not args.no_progress,
                    executor=_executor(args))
    print(f"{result.path}: {len(result.table)} networks of {args.results} measured again (seed {args.seed})")
    _print_reliability(result.reliability)
    return 0


@command("bench claim")
def cmd_bench_claim(args: argparse.Namespace) -> int:
    from analognas.claim import ClaimSettings, run_claim

    search = {"iterations": args.iterations, "population_size": args.population}
    search = {k: v for k, v in search.items() if v is not None}
    if args.seeds is not None:
        search["n_seeds"] = args.seeds
    if args.budgets:
        search["budgets"] = tuple(args.budgets)
    if args.surrogate:
        search["surrogate"] = args.surrogate
    if args.table_best:
        search["table_best"] = tuple(args.table_best)
    if args.quick:
        settings = dataclasses.replace(ClaimSettings.quick(), **search)
    elif args.like:
        settings = ClaimSettings.like(args.like, **search)
    else:
        hardware, training, evaluation = _configs_from_args(args)
        settings = ClaimSettings(dataset=args.dataset, n_train=args.n_train, n_test=args.n_test, hardware=hardware,
                                 training=training, evaluation=evaluation, **search)
    result = run_claim(settings, args.output, progress=not args.no_progress, data_root=args.data_root,
                       executor=_executor(args))
    for budget, nets in result.networks.items():
        sur = nets.get("surrogate") or {}
        domain = sur.get("domain") or {}
        print(f"budget {int(budget):,}: found by the surrogate in {sur.get('path', '(not recorded)')}"
              + (f", fitted on {domain['n_rows']} networks of {domain['table']}" if domain.get("n_rows") else "")
              + f"; reference {nets['reference_name']}"
              + (f"; surrogate's acc_1d score: found {nets['found_acc_1d_score']:.1f}, reference "
                 f"{nets['reference_acc_1d_score']:.1f}" if "reference_acc_1d_score" in nets else "")
              + (f", table's best {nets['table_best_acc_1d_score']:.1f} (measured "
                 f"{nets['table_best_measured']['acc_1d']:.1f} % acc_1d, mean of "
                 f"{nets['table_best_measured']['runs']} run(s))" if "table_best" in nets else ""))
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(result.verdict.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    met = int(result.verdict["target_met"].sum())
    print(f"target (>= {settings.min_gain:g} points of acc_1d and a lower AVM) met at {met} of "
          f"{len(result.verdict)} budgets; wrote {args.output}/claim.csv, summary.csv, verdict.csv, claim.png"
          + (" (--quick: checks the machinery, not the claim)" if args.quick else ""))
    return 0


def add_claim_command(bench: Any) -> None:
    """Parser of ``bench claim``."""
    p = bench.add_parser(
        "claim", help="searched network vs the standard ResNet of its size, several training seeds",
        description="For each parameter budget: search with the surrogate, take the deepest standard "
                    "ResNet within the budget, HWA-train and drift-evaluate both with every seed, and "
                    "report acc_1d, acc_1d_std and AVM with 95 % intervals (resumable).")
    p.add_argument("--quick", action="store_true", help="digits, 2 budgets, 2 seeds, 1+1 epochs (minutes)")
    p.add_argument("--like", metavar="TABLE.csv", help="the data and fidelity of this results table")
    p.add_argument("--budgets", type=_positive_int, nargs="+", help="parameter budgets (default: the surrogate's largest network rounded up to 5,000, and "
                        "half of that)")
    p.add_argument("--seeds", type=_positive_int, help="training seeds per network (default 5)")
    p.add_argument("--surrogate", metavar="DIR", help="surrogate folder (default: the shipped ResNet-like one)")
    p.add_argument("--table-best", nargs="+", metavar="TABLE.csv",
                   help="also train the network measured best (mean over its runs) in these results tables "
                        "under each budget, e.g. the surrogate's table and its retest side tables")
    p.add_argument("--iterations", type=_positive_int, help="search generations (default 100)")
    p.add_argument("--population", type=_positive_int, help="search population (default 200)")
    p.add_argument("--output", default="analognas-claim", help="output folder (default analognas-claim)")
    _add_executor(p)
    p.add_argument("--no-progress", action="store_true")
    _add_training(p)
    _add_hardware(p)


def add_table_commands(sub: Any, dataset: Any) -> None:
    """Parsers of the commands that check and grow results tables (``dataset check``, ...)."""
    p = dataset.add_parser("check", help="check that a results table and its run log add up",
                           description="Report bad rows, repeated indices or networks, and rows or "
                                       "runs that the provenance file does not account for; for a "
                                       "retest side table, also the test-retest reliability of the "
                                       "networks it holds so far. Exit 0: consistent; 1: problems found.")
    p.add_argument("results", metavar="TABLE.csv", help="results table")

    p = dataset.add_parser(
        "retest", help="measure N table networks again with another seed; report test-retest reliability",
        description="Train and drift-evaluate N networks of the table again, with evaluation seeds from "
                    "--seed and the table's own settings, into a side table (resumable), and print per "
                    "metric the ICC(1,1): the share of the variance that lies between networks.")
    p.add_argument("--results", required=True, metavar="TABLE.csv", help="results table")
    p.add_argument("--n", type=_count_or_all, default=12,
                   help="networks to measure again, or 'all': every successful row, so that the table and its "
                        "side table become two runs of each network (default 12)")
    p.add_argument("--seed", type=_non_negative_int, default=1, help="retest seed, not the table's (default 1)")
    p.add_argument("--output", metavar="SIDE.csv", help="side table (default TABLE.retest-seedSEED.csv)")
    p.add_argument("--data-root", help="folder holding the dataset files")
    p.add_argument("--device", help="cpu, cuda or cuda:N (speed only)")
    p.add_argument("--num-threads", type=_positive_int, help="torch CPU threads (speed only)")
    _add_executor(p)
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "loop", help="grow a results table where the surrogate points (real HWA evaluations)",
        description="Spend --budget real HWA trainings and drift evaluations on the architectures a "
                    "surrogate, refitted on the table after every --batch of them, expects to be best; "
                    "each is appended to the table (with its run in the provenance file) as soon as it "
                    "is done. The budget counts every loop row of the table: rerun the same command "
                    "after an interruption to spend what is left. The table's settings (dataset, "
                    "training, hardware, seed, --max-params, --sampling) must match an existing table's.")
    _add_space(p)
    p.add_argument("--results", required=True, metavar="TABLE.csv", help="results table to grow (created if missing)")
    p.add_argument("--budget", type=_positive_int, required=True, help="real evaluations the loop spends in all")
    p.add_argument("--objective", default="acc_1d", choices=["acc_1d", "acc_1d/std"])
    p.add_argument("--max-params", type=_positive_int, help="parameter limit (exact; also the table's sampling cap)")
    p.add_argument("--max-avm", type=float, help="AVM limit in accuracy points (measured)")
    p.add_argument("--max-tiles", type=_positive_int, help="crossbar tile limit (exact)")
    p.add_argument("--n-initial", type=_positive_int, default=10,
                   help="evaluated rows before the first surrogate; a table holding fewer gets spread-out "
                        "samples first (default 10)")
    p.add_argument("--batch", type=_positive_int, default=2, help="evaluations between refits (default 2)")
    p.add_argument("--population", type=_positive_int, default=100, help="search population (default 100)")
    p.add_argument("--iterations", type=_positive_int, default=30, help="search generations per round (default 30)")
    p.add_argument("--sampling", default="random", choices=["random", "lhs"],
                   help="the table's sampling setting (for an existing table: its own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    _add_training(p)
    _add_hardware(p)


# --- parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analognas",
        description="Hardware-aware neural architecture search for analog in-memory computing.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("sample", help="print a random architecture as JSON (its size on stderr)",
                       description="Print a seeded random architecture as JSON on stdout, and its "
                                   "parameters and tiles on stderr.")
    _add_space(p)
    p.add_argument("--seed", type=_non_negative_int, default=0)
    _add_limits(p, cap_from_domain=True, avm=False)

    p = sub.add_parser("search", help="constrained evolutionary search against a surrogate",
                       description="Search the space with the shipped (or a given) surrogate and "
                                   "write result.json, history.csv and pareto.png. The run ends when "
                                   "--time-budget is spent (or --iterations generations are done, if "
                                   "given, whichever comes first), or when the space is exhausted. "
                                   "Ctrl-C ends it early and saves what was scored.")
    _add_space(p, default=None)
    p.add_argument("--surrogate", metavar="DIR", help="surrogate folder (default: the shipped one)")
    _add_limits(p, cap_from_domain=True)
    from analognas.search import Objective

    p.add_argument("--objective", default="acc_1d/std", choices=list(Objective.NAMES),
                   help="what the search maximises (default acc_1d/std): "
                        + "; ".join(f"{k}: {v}" for k, v in Objective.FORMULAS.items()))
    p.add_argument("--population", type=_positive_int, default=200, help="population size (default 200)")
    p.add_argument("--iterations", type=_positive_int, default=None,
                   help="stop after this many generations (default: none; the time budget ends the run)")
    p.add_argument("--time-budget", type=_positive_float, default=60.0,
                   help="wall-clock budget in seconds (default 60): the run uses all of it unless "
                        "--iterations ends it first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="analognas-search", help="output folder (default analognas-search)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier search in --output (default: refuse)")
    p.add_argument("--no-progress", action="store_true")
    _add_hardware(p, tile_size=False, title=(
        "hardware to rank for (default: the surrogate's own; needed when it was fitted on several; "
        "--tile-size above is the tile limit's, not a hardware field)"))
    p.add_argument("--allow-unseen-hardware", action="store_true",
                   help="rank for hardware that differs from the surrogate's in a field it never saw vary "
                        "(default: refuse; the ranking is then the fitted hardware's)")

    p = sub.add_parser("evaluate", help="HWA-train and drift-evaluate one architecture",
                       description="Train ARCH.json hardware-aware and write DIR/evaluation.json. "
                                   "An interrupted evaluation keeps nothing (it is not checkpointed).")
    p.add_argument("arch", metavar="ARCH.json", help="architecture as JSON (or a search result.json)")
    _add_space(p)
    _add_training(p, dataset_default=None)
    _add_hardware(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="analognas-evaluation", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier evaluation.json in --output (default: refuse)")

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
    _add_executor(p)
    p.add_argument("--no-progress", action="store_true")
    _add_training(p)
    _add_hardware(p)
    add_table_commands(sub, dataset)

    surrogate = sub.add_parser("surrogate", help="surrogate models").add_subparsers(
        dest="surrogate_command", metavar="ACTION", required=True)
    p = surrogate.add_parser("train", help="fit the XGBoost surrogate on a results table")
    _add_space(p)
    p.add_argument("--results", required=True, nargs="+", metavar="TABLE.csv",
                   help="results table(s) written by 'dataset build'; several tables (each with its provenance) "
                        "may differ only in their hardware, whose differing fields become features")
    p.add_argument("--output", required=True, help="folder for the surrogate")
    p.add_argument("--tune", type=_non_negative_int, default=0, help="Optuna trials (default 0: none)")
    p.add_argument("--trees", type=_positive_int, default=None,
                   help="boosting rounds of every model (default: the surrogate's, 400); fewer trees "
                        "predict faster, which the search's throughput feels")
    p.add_argument("--cv", type=_cv_folds, default=5,
                   help="folds of the cross-validated Kendall tau printed first (default 5; 0: skip)")
    p.add_argument("--cv-repeats", type=_positive_int, default=1,
                   help="fold splits (seeds SEED, SEED+1, ...) the tau is averaged over, with its sd "
                        "(default 1; one split's tau moves with the luck of its folds)")
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

    p = bench.add_parser("chip", help="how well the surrogate ranks for hardware held out of training",
                         description="On a sweep of results tables that differ only in their hardware "
                                     "(see docs/chip.md): for each setting, fit the surrogate with and without "
                                     "hardware features on the other settings and score its ranking of that "
                                     "setting's networks (networks unseen too, grouped folds).")
    p.add_argument("--tables", nargs="+", required=True, metavar="TABLE.csv",
                   help="results tables, one per hardware setting, each with its provenance")
    p.add_argument("--cv", type=_number(int, 2, True, "an integer >= 2"), default=5,
                   help="network folds (default 5)")
    p.add_argument("--trees", type=_positive_int, default=100, help="boosting rounds of every model (default 100)")
    p.add_argument("--seed", type=int, default=0)
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
    _add_space(p, default=None)
    p.add_argument("--surrogate", metavar="DIR")
    p.add_argument("--seconds", type=_positive_float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=_positive_int, default=1,
                   help="runs to make; with more than one, each rate and their median are printed "
                        "(a shared machine's speed drifts between runs)")
    _add_limits(p, cap_from_domain=False)

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

    p = bench.add_parser("train", help="digital vs analog (aihwkit and fast simulation) forward, step, "
                                       "drift-evaluation and whole-record times",
                         description="Times digital and analog forward passes and training steps, one "
                                     "drift-evaluation point, the full drift evaluation and a whole HWA record, "
                                     "for aihwkit's own forward and the fast simulation, alternating in one run.")
    p.add_argument("--networks", nargs="+", default=["resnet20", "table-median"],
                   help="resnet20/32/56 (3x32x32 inputs) or table-median (the shipped table's median network)")
    p.add_argument("--simulations", nargs="+", default=["aihwkit", "fast"], choices=["aihwkit", "fast"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_positive_int, default=128)
    p.add_argument("--steps", type=_positive_int, default=5, help="timed calls per measurement")
    p.add_argument("--warmup", type=_non_negative_int, default=2, help="untimed calls first")
    p.add_argument("--eval-images", type=_positive_int, default=1000)
    p.add_argument("--n-reps", type=_positive_int, default=10, help="programmings in the drift evaluation")
    p.add_argument("--record-images", type=_non_negative_int, default=1000,
                   help="training images of a record (0: time no record)")
    p.add_argument("--record-pretrain-epochs", type=_non_negative_int, default=1)
    p.add_argument("--record-epochs", type=_non_negative_int, default=1)
    p.add_argument("--repeats", type=_positive_int, default=1, help="rounds; figures are medians")
    p.add_argument("--num-threads", type=_positive_int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--no-progress", action="store_true")
    add_claim_command(bench)
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
    name = _handler_name(args)
    # a background job ignores Ctrl-C's SIGINT, so SIGTERM is how it is stopped: the same clean exit
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main_thread else None
    try:
        code = COMMANDS[name](args)
        sys.stdout.flush()  # here, so that a closed pipe is caught below
        return code
    except KeyboardInterrupt as e:
        how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
        print(f"analognas {name}: {how}; {INTERRUPTED.get(name, 'nothing was written')}", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except BrokenPipeError:
        # the reader went away (analognas sample | head -1): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (CLIError, InvalidArchitectureError, ValueError, FileNotFoundError, ImportError,
            NotADirectoryError, PermissionError, FileExistsError) as e:
        if os.environ.get("ANALOGNAS_DEBUG"):
            raise  # full traceback for developers
        print(f"analognas {name}: error: {e}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
