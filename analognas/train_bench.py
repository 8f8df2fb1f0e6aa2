"""Benchmark of hardware-aware training and drift evaluation speed (``analognas bench train``).

For each network and each way of simulating the analog layers (``simulations``: aihwkit's own
forward and this package's fast path, :mod:`analognas.simulation`), measured in one run with
the simulations alternating, on synthetic random data (timing does not depend on the values):

- ``digital_fwd_ms`` / ``analog_fwd_ms`` / ``fwd_ratio``: one inference forward pass (no
  gradient, evaluation mode: what the drift evaluation runs) of the digital network and of its
  aihwkit conversion ``to_analog(model, hardware)``;
- ``digital_step_ms`` / ``analog_step_ms`` / ``step_ratio``: one training step (forward, loss,
  backward, update: torch SGD for the digital network, ``AnalogSGD`` with weight-noise
  injection, clipping and remapping for the analog one);
- ``eval_point_s``: one programming + drift to one day + a forward pass over ``eval_images``
  images (one point of the drift evaluation);
- ``eval_full_s``: the drift evaluation of ``evaluation.drift_accuracies`` (``n_reps``
  programmings x ``len(times)`` drift times over ``eval_images`` images);
- ``record_wall_s`` / ``record_cpu_s``: a whole HWA record as ``evaluate_architecture`` makes
  it (``record_pretrain_epochs`` digital and ``record_epochs`` analog epochs over
  ``record_images`` training images, then that drift evaluation), in wall-clock and in CPU
  seconds of the process (all threads).

Networks: the names of ``search_spaces.REFERENCE_NETWORKS`` (on 3x32x32 inputs) and
``"table-median"``, the network of median parameter count in the shipped ResNet-like table
(on its 1x28x28 inputs). Times are medians over ``repeats`` rounds; within a round each
measurement is taken for every simulation in turn, so a machine that slows down mid-run
slows both. On CUDA the device is synchronised around every timed region.

Example:
    >>> df = benchmark_training(("resnet20",), batch_size=8, steps=1, warmup=0, eval_images=16,
    ...                         n_reps=1, record_images=8, verbose=False)   # doctest: +SKIP
    >>> sorted(set(df["simulation"]))                                       # doctest: +SKIP
    ['aihwkit', 'fast']
"""

from __future__ import annotations

import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from . import hardware as hw
from .checks import check_int
from .data import DatasetBundle
from .evaluation import DEFAULT_TIMES, ONE_DAY, EvaluationConfig, drift_accuracies
from .hardware import AnalogHardware, to_analog
from .simulation import SIMULATIONS, fast_simulation
from .training import TrainingConfig, keep_freed_memory, train_hwa

COLUMNS = ["network", "input_shape", "simulation", "device", "threads", "batch_size", "params",
           "digital_fwd_ms", "analog_fwd_ms", "fwd_ratio", "digital_step_ms", "analog_step_ms", "step_ratio",
           "eval_images", "eval_point_s", "n_reps", "n_times", "eval_full_s",
           "record_images", "record_wall_s", "record_cpu_s"]

TABLE_MEDIAN = "table-median"
REFERENCE_INPUT = (3, 32, 32)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(call: Callable[[], Any], device: torch.device, repeat: int = 1) -> float:
    """Mean wall-clock seconds of ``call`` over ``repeat`` calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    _sync(device)
    return (time.perf_counter() - start) / repeat


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _forward(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def forward() -> None:
        with torch.no_grad():
            model(x)

    return forward


def table_median_network(table: str | Path | None = None) -> tuple[Any, tuple[int, int, int]]:
    """The architecture of median parameter count in a ResNet-like results table (default: the
    shipped one), and the input shape the table was measured on (from its provenance).

    Example:
        >>> arch, shape = table_median_network()
        >>> shape
        (1, 28, 28)
    """
    from search_spaces import ResNetLikeSpace

    path = Path(table) if table is not None else Path(__file__).parent / "data" / "resnet_like" / "results.csv"
    df = pd.read_csv(path)
    df = df[df["status"] == "ok"].sort_values(["params", "index"])
    row = df.iloc[(len(df) - 1) // 2]
    shape = (1, 28, 28)
    provenance = path.with_name(path.stem + ".provenance.json")
    if provenance.exists():
        settings = json.loads(provenance.read_text()).get("settings", {})
        shape = tuple(settings.get("dataset", {}).get("input_shape", shape))
    return ResNetLikeSpace().validate(json.loads(row["arch"])), shape


def _network(name: str) -> tuple[Any, tuple[int, int, int]]:
    from search_spaces import REFERENCE_NETWORKS

    if name == TABLE_MEDIAN:
        return table_median_network()
    return REFERENCE_NETWORKS[name], REFERENCE_INPUT


def _synthetic(n: int, shape: Sequence[int], classes: int, gen: torch.Generator) -> TensorDataset:
    return TensorDataset(torch.randn(n, *shape, generator=gen), torch.randint(0, classes, (n,), generator=gen))


def benchmark_training(
    networks: Sequence[str] = ("resnet20", TABLE_MEDIAN),
    device: str = "cpu",
    batch_size: int = 128,
    steps: int = 5,
    warmup: int = 2,
    eval_images: int = 1000,
    n_reps: int = 10,
    times: Sequence[float] = DEFAULT_TIMES,
    hardware: AnalogHardware | None = None,
    num_classes: int = 10,
    eval_batch_size: int | None = None,
    simulations: Sequence[str] = SIMULATIONS,
    record_images: int = 1000,
    record_pretrain_epochs: int = 1,
    record_epochs: int = 1,
    repeats: int = 1,
    seed: int = 0,
    verbose: bool = True,
) -> pd.DataFrame:
    """Time digital vs analog forward passes, training steps, drift evaluation and whole
    records; one row per network and simulation.

    Args:
        networks: names in ``search_spaces.REFERENCE_NETWORKS`` or ``"table-median"``.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size, steps, warmup: training / forward batch and timed / untimed calls.
        eval_images, n_reps, times, eval_batch_size: the drift evaluation that is timed
            (``eval_batch_size`` None: as ``EvaluationConfig``, 64 on CPU).
        hardware: the analog hardware (default ``AnalogHardware()``).
        simulations: ``"aihwkit"`` and / or ``"fast"`` (:data:`analognas.simulation.SIMULATIONS`).
        record_images, record_pretrain_epochs, record_epochs: the training part of a record
            (``record_images=0``: no record is timed, its columns are NaN).
        repeats: rounds; every figure is the median over them.
        verbose: print the table.
    """
    from search_spaces import REFERENCE_NETWORKS, ResNetLikeSpace

    if isinstance(networks, str):
        networks = (networks,)
    allowed = sorted(REFERENCE_NETWORKS) + [TABLE_MEDIAN]
    unknown = [n for n in networks if n not in allowed]
    if unknown or not networks:
        raise ValueError(f"networks={list(networks)!r}: unknown name(s) {unknown}; allowed: {allowed}")
    if isinstance(simulations, str):
        simulations = (simulations,)
    bad = [s for s in simulations if s not in SIMULATIONS]
    if bad or not simulations:
        raise ValueError(f"simulations={list(simulations)!r} is not allowed; allowed: a non-empty subset of {list(SIMULATIONS)}")
    dev = TrainingConfig(device=device).check_device()  # validates the name and availability
    for name, value, minimum in (("batch_size", batch_size, 1), ("steps", steps, 1), ("warmup", warmup, 0),
                                 ("eval_images", eval_images, 1), ("n_reps", n_reps, 1),
                                 ("record_images", record_images, 0), ("record_pretrain_epochs", record_pretrain_epochs, 0),
                                 ("record_epochs", record_epochs, 0), ("repeats", repeats, 1)):
        check_int(name, value, minimum, numpy=False)  # torch takes them as they are
    hardware = hardware if hardware is not None else AnalogHardware()
    hardware.check_available()
    times = tuple(float(t) for t in times)
    full_cfg = EvaluationConfig(n_reps=n_reps, times=times, batch_size=eval_batch_size)
    point_cfg = EvaluationConfig(n_reps=1, times=(ONE_DAY,), batch_size=eval_batch_size)

    keep_freed_memory()  # as training and evaluation do, so that the figures are theirs
    strided = hw.strided_unfold_default(dev)
    space = ResNetLikeSpace()
    rows = []
    for name in networks:
        arch, shape = _network(name)
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(batch_size, *shape, generator=gen).to(dev)
        y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(dev)
        data = DatasetBundle(train=_synthetic(max(record_images, 1), shape, num_classes, gen),
                             test=_synthetic(eval_images, shape, num_classes, gen),
                             input_shape=tuple(shape), num_classes=num_classes, name="synthetic")
        torch.manual_seed(seed)
        model = space.build(arch, tuple(shape), num_classes).to(dev)
        from aihwkit.optim import AnalogSGD

        analog = to_analog(model, hardware)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        aopt = AnalogSGD(analog.parameters(), lr=0.01, momentum=0.9)
        aopt.regroup_param_groups(analog)
        digital_step, analog_step = _train_step(model, opt, x, y), _train_step(analog, aopt, x, y)
        samples: dict[tuple[str, str], list[float]] = {}

        def measure(key: tuple[str, str], call: Callable[[], Any], repeat: int = 1, warm: int = 0) -> None:
            for _ in range(warm):
                call()
            samples.setdefault(key, []).append(_timed(call, dev, repeat))

        def record(sim: str) -> tuple[float, float]:
            cpu, wall = time.process_time(), time.perf_counter()
            torch.manual_seed(seed)
            net = space.build(arch, tuple(shape), num_classes)
            out = train_hwa(net, data, hardware, TrainingConfig(
                pretrain_epochs=record_pretrain_epochs, epochs=record_epochs, batch_size=batch_size,
                device=str(dev), simulation=sim), seed)
            drift_accuracies(out.model_analog, data, full_cfg, seed, dev, fast=sim == "fast")
            _sync(dev)
            return time.perf_counter() - wall, time.process_time() - cpu

        for _ in range(repeats):
            model.eval()
            measure(("digital", "fwd"), _forward(model, x), steps, warmup)
            model.train()
            measure(("digital", "step"), digital_step, steps, warmup)
            for sim in simulations:
                with fast_simulation(analog, sim == "fast"), hw.strided_unfold(analog, strided):
                    analog.eval()
                    measure((sim, "fwd"), _forward(analog, x), steps, warmup)
                    analog.train()
                    measure((sim, "step"), analog_step, steps, warmup)
                analog.eval()
                fast = sim == "fast"
                measure((sim, "point"), lambda: drift_accuracies(analog, data, point_cfg, seed, dev, fast=fast),
                        1, 1)
                measure((sim, "full"), lambda: drift_accuracies(analog, data, full_cfg, seed, dev, fast=fast))
                wall, cpu = record(sim) if record_images else (math.nan, math.nan)
                samples.setdefault((sim, "record_wall"), []).append(wall)
                samples.setdefault((sim, "record_cpu"), []).append(cpu)

        med = {k: statistics.median(v) for k, v in samples.items()}
        for sim in simulations:
            rows.append({
                "network": name, "input_shape": "x".join(map(str, shape)), "simulation": sim,
                "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
                "threads": torch.get_num_threads(), "batch_size": batch_size,
                "params": space.num_params(arch, tuple(shape), num_classes),
                "digital_fwd_ms": 1e3 * med[("digital", "fwd")], "analog_fwd_ms": 1e3 * med[(sim, "fwd")],
                "fwd_ratio": med[(sim, "fwd")] / med[("digital", "fwd")],
                "digital_step_ms": 1e3 * med[("digital", "step")], "analog_step_ms": 1e3 * med[(sim, "step")],
                "step_ratio": med[(sim, "step")] / med[("digital", "step")],
                "eval_images": eval_images, "eval_point_s": med[(sim, "point")], "n_reps": n_reps,
                "n_times": len(times), "eval_full_s": med[(sim, "full")], "record_images": record_images,
                "record_wall_s": med[(sim, "record_wall")], "record_cpu_s": med[(sim, "record_cpu")],
            })
        del model, analog, opt, aopt
    df = pd.DataFrame(rows, columns=COLUMNS)
    if verbose:
        print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
              f"device {dev}, {torch.get_num_threads()} CPU threads, median of {repeats} round(s)")
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return df
