"""Benchmark of hardware-aware training and drift evaluation speed (``analognas bench train``).

For each named reference network (``search_spaces.REFERENCE_NETWORKS``: resnet20, resnet32,
resnet56 of the ResNet-like space) it measures, on synthetic random data (timing does not
depend on the values):

- ``digital_step_ms``: one SGD step (forward, loss, backward, update) of the digital network;
- ``analog_step_ms``: the same for the aihwkit network of ``to_analog(model, hardware)`` with
  ``AnalogSGD`` (noisy, quantised forward; weight noise injection; clipping), and ``ratio``;
- ``digital_img_s`` / ``analog_img_s``: training images per second;
- ``eval_once_s``: one programming + drift to one day + a forward pass over ``eval_images``
  images (what one point of the drift evaluation costs);
- ``eval_full_s``: the whole drift evaluation of ``evaluation.drift_accuracies`` (``n_reps``
  programmings x ``len(times)`` drift times over ``eval_images`` images).

Times are means over ``steps`` timed steps after ``warmup`` untimed ones; on CUDA the device
is synchronised around every timed region. The analog network is timed in its training mode
with the same batches as the digital one.

Example:
    >>> df = benchmark_training(("resnet20",), batch_size=32, steps=2, warmup=1,
    ...                         eval_images=64, n_reps=1, verbose=False)   # doctest: +SKIP
    >>> list(df.columns)[:4]                                             # doctest: +SKIP
    ['network', 'device', 'batch_size', 'params']
"""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import TensorDataset

from .data import DatasetBundle
from .evaluation import DEFAULT_TIMES, ONE_DAY, EvaluationConfig, drift_accuracies
from . import hardware as hw
from .hardware import AnalogHardware, to_analog
from .training import TrainingConfig, keep_freed_memory

COLUMNS = ["network", "device", "strided_unfold", "batch_size", "params", "digital_step_ms", "analog_step_ms", "ratio",
           "digital_img_s", "analog_img_s", "eval_images", "eval_once_s", "n_reps", "n_times",
           "eval_full_s", "threads"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(step: Callable[[], None], steps: int, warmup: int, device: torch.device) -> float:
    """Mean seconds per call of ``step`` over ``steps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return (time.perf_counter() - start) / steps


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def _check_positive(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: an integer >= {minimum}")


def benchmark_training(
    networks: Sequence[str] = ("resnet20", "resnet32"),
    device: str = "cpu",
    batch_size: int = 128,
    steps: int = 5,
    warmup: int = 2,
    eval_images: int = 1000,
    n_reps: int = 2,
    times: Sequence[float] = DEFAULT_TIMES,
    hardware: AnalogHardware | None = None,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    eval_batch_size: int = 1024,
    strided_unfold: bool | None = None,
    seed: int = 0,
    verbose: bool = True,
) -> pd.DataFrame:
    """Time digital vs analog training steps and the drift evaluation; one row per network.

    Args:
        networks: names in ``search_spaces.REFERENCE_NETWORKS``.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        batch_size, steps, warmup: training batch and timed / untimed steps.
        eval_images, n_reps, times, eval_batch_size: the drift evaluation that is timed.
        hardware: the analog hardware (default ``AnalogHardware()``).
        input_shape, num_classes: of the synthetic data (CIFAR-10-like by default).
        strided_unfold: time the analog network with ``hardware.strided_unfold`` (same
            values); None: as training and evaluation do, i.e. on CUDA only.
        verbose: print the table.

    Example:
        >>> benchmark_training(("resnet20",), batch_size=32, steps=2, eval_images=64,
        ...                    n_reps=1)                                  # doctest: +SKIP
    """
    from search_spaces import REFERENCE_NETWORKS, ResNetLikeSpace

    if isinstance(networks, str):
        networks = (networks,)
    unknown = [n for n in networks if n not in REFERENCE_NETWORKS]
    if unknown or not networks:
        raise ValueError(f"networks={list(networks)!r}: unknown name(s) {unknown}; allowed: {sorted(REFERENCE_NETWORKS)}")
    dev = TrainingConfig(device=device).check_device()  # validates the name and availability
    for name, value, minimum in (("batch_size", batch_size, 1), ("steps", steps, 1), ("warmup", warmup, 0),
                                 ("eval_images", eval_images, 1), ("n_reps", n_reps, 1),
                                 ("eval_batch_size", eval_batch_size, 1)):
        _check_positive(name, value, minimum)
    hardware = hardware if hardware is not None else AnalogHardware()
    hardware.check_available()
    times = tuple(float(t) for t in times)
    full_cfg = EvaluationConfig(n_reps=n_reps, times=times, batch_size=eval_batch_size)
    once_cfg = EvaluationConfig(n_reps=1, times=(ONE_DAY,), batch_size=eval_batch_size)

    keep_freed_memory()  # as training and evaluation do, so that the figures are theirs
    strided = hw.strided_unfold_default(dev) if strided_unfold is None else bool(strided_unfold)
    space = ResNetLikeSpace()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, *input_shape, generator=gen).to(dev)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(dev)
    x_eval = torch.randn(eval_images, *input_shape, generator=gen)
    y_eval = torch.randint(0, num_classes, (eval_images,), generator=gen)
    data = DatasetBundle(train=TensorDataset(x_eval[:1], y_eval[:1]), test=TensorDataset(x_eval, y_eval),
                         input_shape=tuple(input_shape), num_classes=num_classes, name="synthetic")

    rows = []
    for name in networks:
        arch = REFERENCE_NETWORKS[name]
        torch.manual_seed(seed)
        model = space.build(arch, tuple(input_shape), num_classes).to(dev)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        t_digital = _time_steps(_train_step(model, opt, x, y), steps, warmup, dev)

        from aihwkit.optim import AnalogSGD

        analog = to_analog(model, hardware)
        analog.train()
        aopt = AnalogSGD(analog.parameters(), lr=0.01, momentum=0.9)
        aopt.regroup_param_groups(analog)
        with hw.strided_unfold(analog, strided):
            t_analog = _time_steps(_train_step(analog, aopt, x, y), steps, warmup, dev)

        analog.eval()
        drift = functools.partial(drift_accuracies, analog, data, seed=seed, device=dev, strided=strided)
        drift(once_cfg)  # warm-up (first programming, caches)
        _sync(dev)
        start = time.perf_counter()
        drift(once_cfg)
        _sync(dev)
        t_once = time.perf_counter() - start
        start = time.perf_counter()
        drift(full_cfg)
        _sync(dev)
        t_full = time.perf_counter() - start

        rows.append({
            "network": name, "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
            "strided_unfold": strided,
            "batch_size": batch_size, "params": space.num_params(arch, tuple(input_shape), num_classes),
            "digital_step_ms": 1e3 * t_digital, "analog_step_ms": 1e3 * t_analog, "ratio": t_analog / t_digital,
            "digital_img_s": batch_size / t_digital, "analog_img_s": batch_size / t_analog,
            "eval_images": eval_images, "eval_once_s": t_once, "n_reps": n_reps, "n_times": len(times),
            "eval_full_s": t_full, "threads": torch.get_num_threads(),
        })
        del model, analog, opt, aopt
    df = pd.DataFrame(rows, columns=COLUMNS)
    if verbose:
        print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
              f"device {dev}, {torch.get_num_threads()} CPU threads")
        print(df.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return df
