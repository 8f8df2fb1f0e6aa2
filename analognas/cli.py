"""The ``analognas`` command line: search, evaluate, dataset build, surrogate train, bench.

Every command prints one clear line for a bad option or file (exit 2) instead of a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
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
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be zero or a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be a positive number")
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
    g.add_argument("--batch-size", type=_positive_int, help="training batch size")
    g.add_argument("--device", help="cpu, cuda or cuda:N (default: cpu)")
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
                       ("pretrain_epochs", "epochs", "lr", "batch_size", "device")
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

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench", metavar="BENCH", required=True)
    p = bench.add_parser("params", help="time num_params over many architectures")
    _add_space(p)
    p.add_argument("--n", type=_positive_int, default=10_000, help="architectures (default 10000)")
    p.add_argument("--seed", type=int, default=0)
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
