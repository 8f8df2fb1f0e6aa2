"""Hardware-aware (HWA) training: digital pre-training, conversion, analog fine-tuning.

Example:
    >>> from torch import nn
    >>> from analognas.data import load_dataset
    >>> data = load_dataset("digits", n_train=64, n_test=32)
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    >>> out = train_hwa(net, data, config=TrainingConfig(pretrain_epochs=1, epochs=1))
    >>> out.status
    'ok'
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import dataclasses
import math
import os
import platform
import re
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn
from .progress import progress_bar

from .checks import check_choice, check_int, check_number, known_fields, not_allowed
from .data import DatasetBundle
from .hardware import AnalogHardware, strided_unfold, strided_unfold_default, to_analog
from .simulation import SIMULATIONS, fast_simulation

SCHEDULES = ("cosine", "constant")
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")
_OWNER = "TrainingConfig"
# the settings go on to torch and to JSON as they are, so numpy scalars stay refused
_PLAIN = {"owner": _OWNER, "numpy": False}


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How a network is trained: digital pre-training, then analog (HWA) fine-tuning.

    - ``pretrain_epochs``: epochs of ordinary digital training (torch SGD) before conversion;
      0 skips it and fine-tunes the randomly initialised network in analog directly.
    - ``epochs``: epochs of hardware-aware fine-tuning of the converted network
      (aihwkit ``AnalogSGD``: noisy analog forward passes, ideal backward pass).
    - ``lr`` / ``pretrain_lr``: learning rates of the analog and digital phases.
    - ``batch_size``, ``momentum``, ``weight_decay``: SGD settings of both phases. On CPU,
      batches of 32-64 are also the fastest per image with aihwkit's torch tiles.
    - ``schedule``: ``"cosine"`` anneals the learning rate to 0 over each phase (per step),
      ``"constant"`` keeps it.
    - ``device``: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    - ``num_threads``: torch CPU threads while training and evaluating (None: leave torch's
      setting). Use 1 when running several evaluations side by side.
    - ``simulation``: how the analog layers are computed in training and drift evaluation.
      ``"fast"`` (default) runs aihwkit's tiles through :mod:`analognas.simulation` (same
      physics and parameters, non-idealities applied once per pixel and output instead of on
      the unfolded matrix; 3-5x faster on CPU); ``"aihwkit"`` runs aihwkit's own forward.

    Example:
        >>> TrainingConfig(epochs=2, device="cpu").epochs
        2
    """

    pretrain_epochs: int = 3
    epochs: int = 3
    lr: float = 0.05
    pretrain_lr: float = 0.1
    batch_size: int = 64
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    device: str = "cpu"
    num_threads: int | None = None
    simulation: str = "fast"

    def __post_init__(self) -> None:
        for name in ("pretrain_epochs", "epochs"):
            check_int(name, getattr(self, name), 0, **_PLAIN)
        check_int("batch_size", self.batch_size, 1, **_PLAIN)
        for name in ("lr", "pretrain_lr"):
            check_number(name, getattr(self, name), gt=0, **_PLAIN)
        check_number("momentum", self.momentum, ge=0, lt=1, **_PLAIN)
        check_number("weight_decay", self.weight_decay, ge=0, **_PLAIN)
        check_choice("schedule", self.schedule, SCHEDULES, owner=_OWNER)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise not_allowed("device", self.device, "'cpu', 'cuda' or 'cuda:N'", _OWNER)
        check_int("num_threads", self.num_threads, 1, none_ok=True, **_PLAIN)
        check_choice("simulation", self.simulation, SIMULATIONS, owner=_OWNER)

    def check_device(self) -> torch.device:
        """The torch device, or a RuntimeError when it is not available on this machine.

        Kept out of ``__init__`` so that a configuration written for a GPU machine can still be
        read (e.g. from a results table's provenance) on a CPU-only one.
        """
        if self.device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise RuntimeError(
                    f"TrainingConfig.device={self.device!r} but CUDA is not available here "
                    f"(torch {torch.__version__}); use device='cpu'"
                )
            index = int(self.device.split(":")[1]) if ":" in self.device else 0
            if index >= torch.cuda.device_count():
                raise RuntimeError(
                    f"TrainingConfig.device={self.device!r} but only {torch.cuda.device_count()} "
                    "CUDA device(s) are visible"
                )
        return torch.device(self.device)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainingConfig":
        return cls(**known_fields(cls, d))


@dataclasses.dataclass
class TrainingOutcome:
    """What ``train_hwa`` returns.

    ``model_analog`` is the trained analog network (None when training failed before the
    conversion); ``status`` is ``"ok"`` or ``"failed"`` with ``reason``; ``losses`` the mean
    training loss of each analog epoch and ``pretrain_losses`` of each digital one;
    ``digital_acc`` the test accuracy (%) after digital pre-training (None without it).
    """

    model_analog: nn.Module | None
    status: str
    reason: str = ""
    losses: list[float] = dataclasses.field(default_factory=list)
    digital_acc: float | None = None
    pretrain_losses: list[float] = dataclasses.field(default_factory=list)


class _Diverged(Exception):
    """Internal: a non-finite training loss."""


def train_hwa(
    model_digital: nn.Module,
    data: DatasetBundle,
    hardware: AnalogHardware = AnalogHardware(),
    config: TrainingConfig = TrainingConfig(),
    seed: int = 0,
    progress: bool = False,
) -> TrainingOutcome:
    """Pre-train ``model_digital`` digitally, convert it to analog, fine-tune it with AnalogSGD.

    ``progress``: show a progress bar (tqdm) over the training steps of each phase.

    ``model_digital`` is not changed (a copy is trained). A non-finite loss stops training and
    returns status ``"failed"`` with the reason instead of raising. Configuration problems
    (device not available, compiled tiles unusable) raise before any training.

    Example:
        >>> from torch import nn
        >>> from analognas.data import load_dataset
        >>> data = load_dataset("digits", n_train=64, n_test=32)
        >>> out = train_hwa(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), data,
        ...                 config=TrainingConfig(pretrain_epochs=0, epochs=1))
        >>> len(out.losses)
        1
    """
    device = config.check_device()
    hardware.check_available()
    if not isinstance(data, DatasetBundle):
        raise TypeError(f"data must be a DatasetBundle (see load_dataset), got {type(data).__name__}")
    keep_freed_memory()
    with num_threads(config.num_threads):
        torch.manual_seed(seed)  # aihwkit's weight noise and input-range init draw from torch's RNG
        shuffle = torch.Generator().manual_seed(seed)
        x_train, y_train = (t.to(device) for t in data.train.tensors)
        x_test, y_test = (t.to(device) for t in data.test.tensors)
        outcome = TrainingOutcome(model_analog=None, status="ok")
        model = copy.deepcopy(model_digital).to(device)
        try:
            if config.pretrain_epochs > 0:
                opt = torch.optim.SGD(model.parameters(), lr=config.pretrain_lr,
                                      momentum=config.momentum, weight_decay=config.weight_decay)
                outcome.pretrain_losses = _fit(model, opt, x_train, y_train, config,
                                               config.pretrain_epochs, shuffle, "digital pre-training",
                                               progress)
                outcome.digital_acc = accuracy(model, x_test, y_test)

            analog = to_analog(model, hardware)
            del model
            outcome.model_analog = analog
            if config.epochs > 0:
                from aihwkit.optim import AnalogSGD

                opt = AnalogSGD(analog.parameters(), lr=config.lr,
                                momentum=config.momentum, weight_decay=config.weight_decay)
                opt.regroup_param_groups(analog)
                with fast_simulation(analog, config.simulation == "fast"), \
                        strided_unfold(analog, strided_unfold_default(device)):
                    outcome.losses = _fit(analog, opt, x_train, y_train, config, config.epochs,
                                          shuffle, "analog fine-tuning", progress)
        except _Diverged as e:
            outcome.status, outcome.reason = "failed", str(e)
        if outcome.model_analog is not None:
            outcome.model_analog.eval()
        return outcome


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent (0-100) of ``model`` in eval mode on tensors ``x``, ``y``."""
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            out = model(x[start:start + batch_size])
            correct += int((out.argmax(1) == y[start:start + batch_size]).sum())
    model.train(was_training)
    return 100.0 * correct / max(len(y), 1)


@contextlib.contextmanager
def num_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous value after."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


#: glibc's mallopt parameters, and the values keep_freed_memory sets (mallopt takes a C int)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 1 << 30
_TRIM_THRESHOLD = (1 << 31) - 1
_malloc_kept: bool | None = None


def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse rather than hand it back to the system.

    aihwkit's tiles allocate and free large temporaries at every layer; by default glibc maps
    each block over 128 KiB from the kernel and unmaps it on release, so the next one arrives
    as fresh pages the kernel must zero. On this project's CPU machine that was half the time
    of a drift evaluation (ResNet-20, 256 images x 3: 28.6 s, 14.3 s of it in the kernel;
    14.8 s with this). The cost: the process keeps its peak memory. Called by training and
    evaluation; process-wide, once; a no-op outside glibc or with the environment variable
    ``ANALOGNAS_KEEP_FREED_MEMORY=0``. Returns whether the setting is in effect.

    Example:
        >>> keep_freed_memory() in (True, False)
        True
    """
    global _malloc_kept
    if _malloc_kept is None:
        _malloc_kept = False
        if os.environ.get("ANALOGNAS_KEEP_FREED_MEMORY", "1") != "0" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(None)
                _malloc_kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                                    and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
            except (OSError, AttributeError):  # no mallopt to call: leave malloc as it is
                pass
    return _malloc_kept


# --- internals ----------------------------------------------------------------------------
def _fit_epoch(model: nn.Module, opt: torch.optim.Optimizer, sched: Any, loss_fn: nn.Module, x: torch.Tensor,
               y: torch.Tensor, config: TrainingConfig, shuffle: torch.Generator, phase: str, epoch: int,
               bar: Any) -> float:
    """One epoch in a fresh order; its mean loss. Raises _Diverged on a non-finite loss."""
    n = len(y)
    order = torch.randperm(n, generator=shuffle).to(x.device)
    total_loss = 0.0
    for step in range(math.ceil(n / config.batch_size)):
        idx = order[step * config.batch_size:(step + 1) * config.batch_size]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        value = float(loss.detach())  # one sync per step; needed to stop at the first bad loss
        if not math.isfinite(value):
            raise _Diverged(
                f"{phase} diverged: loss={value} at epoch {epoch + 1}, step {step + 1} "
                f"(lr={opt.param_groups[0]['lr']:.3g}); try a smaller learning rate"
            )
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        total_loss += value * len(idx)
        bar.update()
    return total_loss / n


def _fit(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
         config: TrainingConfig, epochs: int, shuffle: torch.Generator, phase: str,
         progress: bool = False) -> list[float]:
    """Train for ``epochs``; mean loss per epoch. Raises _Diverged on a non-finite loss."""
    n = len(y)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = max(epochs * steps_per_epoch, 1)
    if config.schedule == "cosine":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    else:
        sched = None
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    losses = []
    with progress_bar(total=epochs * steps_per_epoch, desc=phase, unit="step", disable=not progress,
                      leave=False) as bar:
        for epoch in range(epochs):
            losses.append(_fit_epoch(model, opt, sched, loss_fn, x, y, config, shuffle, phase, epoch, bar))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    return losses
