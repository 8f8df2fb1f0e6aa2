"""Drift evaluation and the one-call evaluation of an architecture.

For each of ``n_reps`` repetitions the analog weights are programmed again (fresh programming
noise), then drifted to each time in turn, and the test accuracy is measured at each time:

- ``acc_by_time[t] = (mean, std)`` over repetitions, in percent;
- ``acc_1d``, ``acc_1d_std``: the same at t = 86,400 s (one day);
- ``avm`` (accuracy variation over a month): mean accuracy at the first time minus mean
  accuracy at the last time (one month by default); positive means accuracy was lost.

Standard deviations are population standard deviations over the repetitions (numpy's
default, ``ddof=0``), so ``n_reps=1`` gives 0.0.

Example:
    >>> from search_spaces import NB201Space
    >>> space = NB201Space(channels=4, cells_per_stage=1)
    >>> res = evaluate_architecture(space, {"ops": [2, 0, 3, 0, 4, 2]}, "digits",
    ...     training=TrainingConfig(pretrain_epochs=1, epochs=1),
    ...     evaluation=EvaluationConfig(n_reps=2), n_train=128, n_test=64)
    >>> res.status, 0 <= res.acc_1d <= 100
    ('ok', True)
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from .progress import progress_bar
from torch.utils.data import Dataset

from .checks import check_int, known_fields
from .data import DatasetBundle, load_dataset
from .hardware import AnalogHardware, strided_unfold, strided_unfold_default
from .simulation import fast_simulation
from .training import TrainingConfig, accuracy, keep_freed_memory, num_threads, train_hwa

ONE_DAY = 86400.0
DEFAULT_TIMES = (1.0, 3600.0, ONE_DAY, 2592000.0)  # 1 s, 1 h, 1 day, 1 month (30 days)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """How the trained analog network is evaluated under programming noise and drift.

    - ``n_reps``: programmings of the weights (each draws new programming noise).
    - ``times``: seconds after programming at which accuracy is measured, increasing; must
      contain 86400 (one day) for ``acc_1d``. ``avm`` compares the first and the last.
    - ``batch_size``: images per forward pass when measuring accuracy. None (default): 64 on
      CPU, 1024 on CUDA. On CPU, aihwkit's torch tiles process an image about 3x faster in
      batches of 32-64 than in batches of 512 (measured on a 9 MMAC ResNet-like network).

    Example:
        >>> EvaluationConfig(n_reps=3).times
        (1.0, 3600.0, 86400.0, 2592000.0)
    """

    n_reps: int = 5
    times: tuple[float, ...] = DEFAULT_TIMES
    batch_size: int | None = None

    def __post_init__(self) -> None:
        # the settings go on to torch and to JSON as they are, so numpy scalars stay refused
        check_int("n_reps", self.n_reps, 1, owner="EvaluationConfig", numpy=False)
        check_int("batch_size", self.batch_size, 1, none_ok="64 on CPU, 1024 on CUDA", owner="EvaluationConfig",
                  numpy=False)
        try:
            times = tuple(float(t) for t in self.times)
        except (TypeError, ValueError):
            raise ValueError(
                f"EvaluationConfig.times={self.times!r} is not allowed; allowed: increasing positive seconds"
            ) from None
        if (not times or any(not math.isfinite(t) or t <= 0 for t in times)
                or any(b <= a for a, b in zip(times, times[1:]))):
            raise ValueError(
                f"EvaluationConfig.times={self.times!r} is not allowed; allowed: strictly increasing "
                "positive seconds, e.g. (1.0, 3600.0, 86400.0, 2592000.0)"
            )
        if ONE_DAY not in times:
            raise ValueError(
                f"EvaluationConfig.times={self.times!r} must contain 86400.0 (one day), "
                "where acc_1d and acc_1d_std are measured"
            )
        object.__setattr__(self, "times", times)

    def to_dict(self) -> dict[str, Any]:
        return {"n_reps": self.n_reps, "times": list(self.times), "batch_size": self.batch_size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "EvaluationConfig":
        return cls(**known_fields(cls, d))


@dataclasses.dataclass
class EvaluationResult:
    """The metrics of one architecture (accuracies in percent, times in seconds).

    ``status`` is ``"ok"`` or ``"failed"`` (then the metrics are NaN and ``reason`` says why).
    """

    acc_1d: float
    acc_1d_std: float
    avm: float
    acc_by_time: dict[float, tuple[float, float]]
    params: int
    tiles: int
    status: str
    reason: str = ""
    wall_time_s: float = 0.0
    digital_acc: float | None = None

    def to_row(self) -> dict[str, Any]:
        """Flat dict for a results table: ``acc_<t>`` / ``acc_<t>_std`` per time (t in whole seconds).

        Example:
            >>> r = EvaluationResult(90.0, 1.0, 2.0, {1.0: (92.0, 0.5), 86400.0: (90.0, 1.0)}, 10, 1, "ok")
            >>> r.to_row()["acc_86400"], EvaluationResult.from_row(r.to_row()) == r
            (90.0, True)
        """
        row: dict[str, Any] = {"acc_1d": self.acc_1d, "acc_1d_std": self.acc_1d_std, "avm": self.avm}
        for t, (mean, std) in sorted(self.acc_by_time.items()):
            key = f"acc_{int(round(t))}"
            if key in row:
                raise ValueError(f"drift times {sorted(self.acc_by_time)} collide when rounded to whole seconds")
            row[key], row[f"{key}_std"] = mean, std
        row.update(params=self.params, tiles=self.tiles, status=self.status, reason=self.reason,
                   wall_time_s=self.wall_time_s, digital_acc=self.digital_acc)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "EvaluationResult":
        """Inverse of ``to_row`` (also for rows read back from CSV / Parquet, where a missing
        ``digital_acc`` or ``reason`` may come back as NaN)."""
        by_time: dict[float, tuple[float, float]] = {}
        for key in row:
            if key.startswith("acc_") and key[4:].isdigit():
                by_time[float(key[4:])] = (float(row[key]), float(row[f"{key}_std"]))
        digital = row.get("digital_acc")
        digital = None if digital is None or (isinstance(digital, float) and math.isnan(digital)) else float(digital)
        reason = row.get("reason", "")
        reason = "" if reason is None or (isinstance(reason, float) and math.isnan(reason)) else str(reason)
        return cls(
            acc_1d=float(row["acc_1d"]), acc_1d_std=float(row["acc_1d_std"]), avm=float(row["avm"]),
            acc_by_time=dict(sorted(by_time.items())), params=int(row["params"]), tiles=int(row["tiles"]),
            status=str(row["status"]), reason=reason, wall_time_s=float(row.get("wall_time_s", 0.0)),
            digital_acc=digital,
        )


def drift_accuracies(model: nn.Module, data: DatasetBundle,
                     evaluation: EvaluationConfig = EvaluationConfig(), seed: int = 0,
                     device: str | torch.device | None = None, strided: bool | None = None,
                     fast: bool = True, progress: bool = False) -> np.ndarray:
    """Test accuracy (%) of an aihwkit model, shape (n_reps, len(times)).

    Each repetition programs the weights anew (``program_analog_weights``), then drifts them to
    each time in turn (``drift_analog_weights(t)`` starts from the programmed weights, so one
    programming serves all times). Seeded: aihwkit draws its noise from torch's RNG.
    ``strided``: compute convolutions through ``hardware.strided_unfold`` (identical values;
    None: on CUDA only, where it is faster). ``fast``: run the analog layers through
    :func:`analognas.simulation.fast_simulation` (same physics, faster). ``progress``: a
    progress bar (tqdm) over the evaluation points.
    """
    if device is None:
        device = next(model.parameters()).device
    keep_freed_memory()
    x, y = (t.to(device) for t in data.test.tensors)
    batch_size = evaluation.batch_size or (1024 if torch.device(device).type == "cuda" else 64)
    model.eval()  # aihwkit refuses to program or drift in training mode
    torch.manual_seed(seed)
    acc = np.empty((evaluation.n_reps, len(evaluation.times)))
    with fast_simulation(model, fast), \
            strided_unfold(model, strided_unfold_default(device) if strided is None else strided):
        with progress_bar(total=acc.size, desc="drift evaluation", unit="point", disable=not progress,
                          leave=False) as bar:
            for rep in range(evaluation.n_reps):
                model.program_analog_weights()
                for j, t in enumerate(evaluation.times):
                    model.drift_analog_weights(t)
                    acc[rep, j] = accuracy(model, x, y, batch_size)
                    bar.update()
    return acc


def summarise(acc: np.ndarray, times: Sequence[float]) -> dict[str, Any]:
    """acc_by_time, acc_1d, acc_1d_std and avm from an (n_reps, n_times) accuracy array."""
    mean, std = acc.mean(axis=0), acc.std(axis=0)  # population std: 0.0 for one repetition
    by_time = {float(t): (float(m), float(s)) for t, m, s in zip(times, mean, std)}
    one_day = by_time[ONE_DAY]
    return {"acc_by_time": by_time, "acc_1d": one_day[0], "acc_1d_std": one_day[1],
            "avm": float(mean[0] - mean[-1])}


def evaluate_architecture(
    space: Any,
    arch: Any,
    dataset: str | tuple[Dataset, Dataset] | DatasetBundle = "digits",
    hardware: AnalogHardware = AnalogHardware(),
    training: TrainingConfig = TrainingConfig(),
    evaluation: EvaluationConfig = EvaluationConfig(),
    seed: int = 0,
    data_root: str | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Build, HWA-train and drift-evaluate one architecture of ``space``.

    ``progress``: progress bars (tqdm) over the training steps and the evaluation points.

    Everything is checked before training starts: the architecture (``space.validate``), the
    configurations, the device, the tile backend and the data. ``params`` and ``tiles`` come
    from the space (tiles with ``hardware.tile_size``). A diverged training gives
    ``status="failed"``, NaN metrics and the reason. Pass an already loaded DatasetBundle to
    evaluate many architectures on the same data without loading it each time. ``seed`` sets
    the initial weights, the batch order and the analog noise; the data subset
    (``n_train`` / ``n_test``) is always drawn with seed 0 so that all architectures and seeds
    see the same images.

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space(channels=4, cells_per_stage=1)
        >>> r = evaluate_architecture(space, space.sample(0), "digits", n_train=64, n_test=32,
        ...     training=TrainingConfig(pretrain_epochs=1, epochs=1), evaluation=EvaluationConfig(n_reps=1))
        >>> sorted(r.acc_by_time)
        [1.0, 3600.0, 86400.0, 2592000.0]
    """
    start = time.perf_counter()
    for value, cls, name in ((hardware, AnalogHardware, "hardware"), (training, TrainingConfig, "training"),
                             (evaluation, EvaluationConfig, "evaluation")):
        if not isinstance(value, cls):
            raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
    arch = space.validate(arch)
    device = training.check_device()
    hardware.check_available()
    hardware.check_times(evaluation.times)
    if isinstance(dataset, DatasetBundle) and n_train is None and n_test is None:
        data = dataset
    else:
        # The data split and subset do not follow ``seed``: evaluations with different seeds
        # see the same images. Choose another subset with load_dataset(..., seed=s).
        data = load_dataset(dataset, n_train=n_train, n_test=n_test, root=data_root, seed=0)
    params = int(space.num_params(arch, data.input_shape, data.num_classes))
    tiles = int(space.num_tiles(arch, hardware.tile_size, data.input_shape, data.num_classes))

    with num_threads(training.num_threads):
        torch.manual_seed(seed)  # the network's initial weights
        model = space.build(arch, data.input_shape, data.num_classes)
        outcome = train_hwa(model, data, hardware, training, seed, progress)
        del model
        if outcome.status != "ok":
            nan = float("nan")
            return EvaluationResult(
                acc_1d=nan, acc_1d_std=nan, avm=nan,
                acc_by_time={t: (nan, nan) for t in evaluation.times}, params=params, tiles=tiles,
                status="failed", reason=outcome.reason, wall_time_s=time.perf_counter() - start,
                digital_acc=outcome.digital_acc,
            )
        acc = drift_accuracies(outcome.model_analog, data, evaluation, seed, device,
                               fast=training.simulation == "fast", progress=progress)
    metrics = summarise(acc, evaluation.times)
    return EvaluationResult(**metrics, params=params, tiles=tiles, status="ok",
                            wall_time_s=time.perf_counter() - start, digital_acc=outcome.digital_acc)
