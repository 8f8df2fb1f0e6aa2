"""What a surrogate was fitted on (its domain), and whether a network lies inside it.

A surrogate answers for networks like those of its training table: the same space, dataset
and input shape, parameter counts within the table's range. Outside it, its predictions are
extrapolation. :class:`SurrogateDomain` is saved in the surrogate's ``metadata.json`` (key
``"domain"``) by ``analognas surrogate train`` and read back by ``AnalogSurrogate.load``;
``analognas search`` takes its defaults from it and reports whether its answer lies inside.

Example:
    >>> d = SurrogateDomain(space="resnet_like", dataset="fashion-mnist", input_shape=(1, 28, 28),
    ...                     num_classes=10, params_min=2_000, params_max=20_000, n_rows=60)
    >>> d.outside(params=87_698, input_shape=(1, 28, 28))
    ['87,698 parameters is above the largest network of the training table (20,000)']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class SurrogateDomain:
    """The training table of a surrogate, as far as it is known (``None``: not recorded).

    Attributes:
        space: the search space's name.
        dataset: the dataset the table's networks were trained and tested on.
        input_shape: (channels, height, width) of its images; parameter and tile counts of
            the table (and of the search's limits) are for this shape.
        num_classes: outputs of the networks.
        params_min, params_max: the smallest and largest parameter count in the table.
        n_rows: networks the surrogate was fitted on.
        n_averaged: of those, the networks whose values are the mean of several runs
            (repeated measurements, ``ResultsTables.averaged``).
        table: where the table came from (a path or a name).
        cv_kendall_tau: cross-validated Kendall tau per metric (acc_1d, acc_1d_std, avm):
            how well the surrogate's setting ranks networks it has not seen.
        cv_folds: the folds of that cross-validation (identical networks share a fold).
        cv_repeats: how many fold splits (seeds) ``cv_kendall_tau`` is the mean of (None: one).
        cv_kendall_tau_sd: the standard deviation of the taus over those splits.
        cv_baseline_kendall_tau: the same for a plain XGBoost regressor with default
            parameters on the raw encoding, same folds: what the surrogate's features and
            settings add.
        cv_tau_ceiling: per metric, the tau a perfect model would expect against the table's
            values, given the measurement noise its repeated runs show
            (:func:`analognas.reliability.tau_ceilings`); None when too few networks were
            measured twice to tell.
        acc_1d_score_max: the highest acc_1d ranking score the fitted surrogate gives a network
            of its table; a candidate scored above it is predicted better than every measured
            network (where a search most often exploits the model's extrapolation).
        hardware: the analog hardware settings of its training rows (``AnalogHardware.to_dict()``
            each, distinct); the fields that differ between them are features of the
            surrogate (:mod:`surrogate.hardware`). None: not recorded.
    """

    space: str
    dataset: str | None = None
    input_shape: tuple[int, int, int] | None = None
    num_classes: int | None = None
    params_min: int | None = None
    params_max: int | None = None
    n_rows: int | None = None
    n_averaged: int | None = None
    table: str | None = None
    cv_kendall_tau: dict[str, float] | None = None
    cv_folds: int | None = None
    cv_repeats: int | None = None
    cv_kendall_tau_sd: dict[str, float] | None = None
    cv_baseline_kendall_tau: dict[str, float] | None = None
    cv_tau_ceiling: dict[str, float] | None = None
    acc_1d_score_max: float | None = None
    hardware: tuple[dict[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        if self.hardware is not None:
            if isinstance(self.hardware, Mapping) or not all(isinstance(h, Mapping) for h in self.hardware):
                raise ValueError(f"domain hardware={self.hardware!r} is not allowed; allowed: a list of "
                                 "AnalogHardware.to_dict() dicts")
            object.__setattr__(self, "hardware", tuple(dict(h) for h in self.hardware))
        if self.input_shape is not None:
            shape = tuple(int(s) for s in self.input_shape)
            if len(shape) != 3 or min(shape) < 1:
                raise ValueError(f"domain input_shape={self.input_shape!r} must be 3 positive integers")
            object.__setattr__(self, "input_shape", shape)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_shape"] = None if self.input_shape is None else list(self.input_shape)
        d["hardware"] = None if self.hardware is None else list(self.hardware)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SurrogateDomain":
        """Read a ``to_dict`` value; unknown keys are an error that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"surrogate domain: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**dict(d))

    def outside(self, params: int | None = None,
                input_shape: Sequence[int] | None = None) -> list[str]:
        """Why a network of ``params`` parameters for ``input_shape`` images lies outside the
        domain, one reason per entry (empty: inside, as far as the domain is recorded)."""
        reasons = []
        if params is not None and self.params_max is not None and params > self.params_max:
            reasons.append(f"{params:,} parameters is above the largest network of the training "
                           f"table ({self.params_max:,})")
        if params is not None and self.params_min is not None and params < self.params_min:
            reasons.append(f"{params:,} parameters is below the smallest network of the training "
                           f"table ({self.params_min:,})")
        if input_shape is not None and self.input_shape is not None \
                and tuple(input_shape) != self.input_shape:
            reasons.append(f"input shape {shape_text(input_shape)} differs from the table's "
                           f"{shape_text(self.input_shape)}")
        return reasons

    def above_table(self, acc_1d_score: float) -> bool:
        """Whether a candidate's acc_1d ranking score exceeds every score the surrogate gives a
        network of its table (False when that maximum is not recorded)."""
        return self.acc_1d_score_max is not None and acc_1d_score > self.acc_1d_score_max

    def describe(self) -> str:
        """One line: what the surrogate was fitted on."""
        parts = [f"space {self.space}"]
        if self.dataset is not None:
            parts.append(f"dataset {self.dataset}")
        if self.input_shape is not None:
            parts.append(f"inputs {shape_text(self.input_shape)}")
        if self.params_min is not None and self.params_max is not None:
            parts.append(f"{self.params_min:,}-{self.params_max:,} parameters")
        several = self.hardware is not None and len(self.hardware) > 1
        if self.n_rows is not None:
            parts.append(f"{self.n_rows:,} {'rows (network x hardware)' if several else 'networks'}"
                         + (f" ({self.n_averaged:,} of them the mean of several runs)" if self.n_averaged else ""))
        if several:
            from .hardware import HardwareFeatures

            parts.append(HardwareFeatures(self.hardware).describe())
        return ", ".join(parts)

    def describe_quality(self) -> str:
        """One line: the cross-validated Kendall tau per metric, or that none was recorded."""
        if not self.cv_kendall_tau:
            return "cross-validated ranking quality not recorded"
        taus = ", ".join(f"{k} {v:.2f}" if isinstance(v, (int, float)) and math.isfinite(v) else f"{k} n/a"
                         for k, v in self.cv_kendall_tau.items())
        folds = f"{self.cv_folds}-fold " if self.cv_folds else ""
        splits = f", mean of {self.cv_repeats} fold splits" if self.cv_repeats and self.cv_repeats > 1 else ""
        return f"{folds}cross-validated Kendall tau {taus} (1 = perfect ranking, 0 = none{splits})"


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 28, 28)`` -> ``"1x28x28"``."""
    return "x".join(str(int(s)) for s in shape)
