"""What the search optimises: the limits an architecture must stay below (:class:`Constraints`)
and the quantity maximised (:class:`Objective`) over the surrogate's predicted columns
(:data:`PREDICTED`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from analognas.checks import check_int, check_number, not_allowed
from analognas.cost import HERMES_ONE_PHASE, IMCChip

__all__ = ["PREDICTED", "Constraints", "ObjectiveLike", "Objective", "robust_scale"]

#: the columns a surrogate's ``predict`` returns
PREDICTED = ("acc_1d", "acc_1d_std", "avm")
#: a value exactly at a limit breaks the strict inequality by this much (in limit units)
_AT_LIMIT = 1e-6


@dataclasses.dataclass(frozen=True)
class Constraints:
    """Limits an architecture must stay strictly below; ``None`` switches a limit off.

    ``max_params`` and ``max_tiles`` are checked exactly with the search space (tiles of
    ``tile_size`` x ``tile_size`` cells, for inputs of ``input_shape`` and ``num_classes``
    outputs); ``max_avm`` is checked against the surrogate's predicted AVM.

    ``max_energy_j`` (joules per inference), ``max_latency_s`` (seconds per inference, layers
    one after the other) and ``max_chips`` (chips needed to hold every weight; the one limit
    that may be met: at most ``max_chips``) are checked exactly with the IMC cost model
    (:func:`analognas.cost.network_cost`) on ``chip`` (default HERMES in one-phase mode, with
    its own core size, not ``tile_size``).

    Example:
        >>> c = Constraints(max_params=500_000, max_avm=1.0)
        >>> c.violation(np.array([400_000]), np.array([3]), np.array([1.5])).round(2)
        array([0.5])
    """

    max_params: int | None = None
    max_avm: float | None = None
    max_tiles: int | None = None
    tile_size: int = 512
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    max_energy_j: float | None = None
    max_latency_s: float | None = None
    max_chips: int | None = None
    chip: IMCChip = HERMES_ONE_PHASE

    def __post_init__(self) -> None:
        for name in ("max_params", "max_tiles"):
            check_int(name, getattr(self, name), 1, none_ok=True)
        check_number("max_avm", self.max_avm, none_ok=True)
        check_int("tile_size", self.tile_size, 1)
        shape = tuple(self.input_shape)
        if len(shape) != 3 or any(not isinstance(s, (int, np.integer)) or s < 1 for s in shape):
            raise not_allowed("input_shape", self.input_shape, "(channels, height, width) positive integers")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in shape))
        check_int("num_classes", self.num_classes, 1)
        for name in ("max_energy_j", "max_latency_s"):
            check_number(name, getattr(self, name), gt=0, none_ok=True)
        check_int("max_chips", self.max_chips, 1, none_ok=True)
        if not isinstance(self.chip, IMCChip):
            raise ValueError(f"chip={self.chip!r} is not allowed; allowed: an analognas.cost.IMCChip")

    @property
    def has_exact(self) -> bool:
        """True when a limit is checked exactly from the architecture (parameters, tiles, costs)."""
        return self.max_params is not None or self.max_tiles is not None or self.has_cost

    @property
    def has_cost(self) -> bool:
        """True when energy, latency or chips are limited (counted with the IMC cost model)."""
        return self.max_energy_j is not None or self.max_latency_s is not None or self.max_chips is not None

    def cost_violation(self, totals: dict[str, np.ndarray]) -> np.ndarray:
        """The part of ``violation`` due to the cost limits, from the cost model's totals
        (``energy_j``, ``latency_s``, ``chips`` arrays): excess as a fraction of each limit."""
        total = np.zeros(np.shape(totals["energy_j"]))
        # chips are whole: "fits on max_chips chips" allows max_chips itself
        chips = None if self.max_chips is None else self.max_chips + 1
        for key, limit in (("energy_j", self.max_energy_j), ("latency_s", self.max_latency_s), ("chips", chips)):
            if limit is not None:
                value = np.asarray(totals[key], dtype=float)
                total += np.where(value >= limit, (value - limit) / limit + _AT_LIMIT, 0.0)
        return total

    def violation(self, params: np.ndarray, tiles: np.ndarray, avm: np.ndarray | None = None) -> np.ndarray:
        """How far each architecture is from feasible; 0 exactly when it is feasible
        (``avm=None``: the exact limits alone).

        The sum over the active limits of the excess relative to the limit: parameters and
        tiles as a fraction of their limit, AVM in points over ``max(|max_avm|, 1)``. A value
        at the limit counts as a tiny violation, since the inequalities are strict. This
        orders infeasible architectures for "least infeasible".
        """
        params = np.asarray(params, dtype=float)
        total = np.zeros(params.shape)
        for value, limit, scale in (
            (params, self.max_params, self.max_params),
            (tiles, self.max_tiles, self.max_tiles),
            (avm, self.max_avm, None if self.max_avm is None else max(abs(self.max_avm), 1.0)),
        ):
            if limit is None or value is None:
                continue
            value = np.asarray(value, dtype=float)
            excess = np.where(value >= limit, (value - limit) / scale + _AT_LIMIT, 0.0)
            # a NaN prediction cannot be trusted to satisfy a limit
            total += np.where(np.isnan(value), np.inf, excess)
        return total

    def exact_violation(self, params: int, tiles: float) -> float:
        """``violation`` of one architecture counting only the exact limits (parameters and
        tiles); plain Python, since the search calls it once per candidate."""
        total = 0.0
        if self.max_params is not None and params >= self.max_params:
            total += (params - self.max_params) / self.max_params + _AT_LIMIT
        if self.max_tiles is not None and tiles >= self.max_tiles:
            total += (tiles - self.max_tiles) / self.max_tiles + _AT_LIMIT
        return total


ObjectiveLike = str | Callable[[pd.DataFrame], Any]


class Objective:
    """The quantity the search maximises, computed from predicted metrics.

    - ``"acc_1d"``: the surrogate's acc_1d score as it is.
    - ``"acc_1d/std"``: the paper's accuracy over its spread. The ranker's acc_1d is a score
      on an arbitrary scale (it can be negative), so dividing it by a standard deviation means
      nothing. We combine the two on a common, fixed scale instead:
      ``z(acc_1d) - z(log acc_1d_std)``, where ``z`` standardises with the median and the
      inter-quartile range of a reference sample: the first batch the search scores (its
      coverage-sampled initial population). The reference is frozen once set, so an
      architecture's objective never depends on what else was scored with it. Predicted
      spreads are floored at a tenth of the reference median before the log (a regressor can
      predict zero or negative spreads).
    - a callable ``f(df) -> Series | array`` over a DataFrame with the columns acc_1d,
      acc_1d_std, avm, params and tiles.

    Example:
        >>> obj = Objective("acc_1d")
        >>> obj({"acc_1d": np.array([1.0, 2.0]), "acc_1d_std": np.ones(2), "avm": np.zeros(2),
        ...      "params": np.ones(2), "tiles": np.ones(2)}).tolist()
        [1.0, 2.0]
    """

    NAMES = ("acc_1d/std", "acc_1d")
    #: what each named objective computes, in words (for --help, printouts and result.json)
    FORMULAS = {
        "acc_1d/std": "z(acc_1d score) - z(log acc_1d_std): the acc_1d ranking score and the log of the "
                      "predicted spread, each standardised (median, IQR) on the first population scored; "
                      "not a ratio",
        "acc_1d": "the surrogate's acc_1d ranking score",
    }

    def __init__(self, spec: ObjectiveLike = "acc_1d/std") -> None:
        if isinstance(spec, Objective):
            spec = spec.spec
        if not callable(spec) and spec not in self.NAMES:
            raise ValueError(f"objective={spec!r} is not allowed; use one of {list(self.NAMES)} or a callable")
        self.spec = spec
        self.reference: dict[str, float] | None = None

    @property
    def name(self) -> str:
        return self.spec if isinstance(self.spec, str) else getattr(self.spec, "__name__", "custom")

    @property
    def formula(self) -> str:
        """What the objective computes, in words."""
        return self.FORMULAS[self.spec] if isinstance(self.spec, str) else "a user-defined function of the predictions"

    def calibrate(self, cols: dict[str, np.ndarray]) -> None:
        """Freeze the reference scale from a first sample of predictions (once)."""
        if self.reference is not None or self.spec != "acc_1d/std":
            return
        score = np.asarray(cols["acc_1d"], dtype=float)
        std = np.asarray(cols["acc_1d_std"], dtype=float)
        positive = std[np.isfinite(std) & (std > 0)]
        floor = 0.1 * float(np.median(positive)) if len(positive) else 1e-3
        log_std = np.log(np.maximum(std, floor))
        self.reference = {
            "floor": floor,
            "score_mid": _nanmedian(score), "score_scale": robust_scale(score),
            "log_std_mid": _nanmedian(log_std), "log_std_scale": robust_scale(log_std),
        }

    def __call__(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        if callable(self.spec):
            values = self.spec(pd.DataFrame(cols))
            values = np.asarray(values, dtype=float).reshape(-1)
            if len(values) != len(cols["acc_1d"]):
                raise ValueError(
                    f"objective {self.name} returned {len(values)} values for {len(cols['acc_1d'])} rows"
                )
        elif self.spec == "acc_1d":
            values = np.asarray(cols["acc_1d"], dtype=float)
        else:
            if self.reference is None:
                self.calibrate(cols)
            r = self.reference
            z_score = (np.asarray(cols["acc_1d"], dtype=float) - r["score_mid"]) / r["score_scale"]
            log_std = np.log(np.maximum(np.asarray(cols["acc_1d_std"], dtype=float), r["floor"]))
            values = z_score - (log_std - r["log_std_mid"]) / r["log_std_scale"]
        # NaN objectives rank last rather than poisoning comparisons
        return np.where(np.isnan(values), -np.inf, values)


def _nanmedian(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else 0.0


def robust_scale(x: np.ndarray) -> float:
    """A spread of ``x`` that outliers barely move: the inter-quartile range of its finite
    values, in standard deviations of a normal distribution; their standard deviation when
    the range is 0, and 1.0 when that is 0 too or fewer than two values are finite.

    Example:
        >>> round(robust_scale(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])), 3)
        1.483
    """
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return 1.0
    q25, q75 = np.percentile(x, [25, 75])
    scale = float(q75 - q25) / 1.349  # the IQR of a normal distribution is 1.349 sigma
    if scale <= 0:
        scale = float(np.std(x))
    return scale if scale > 0 else 1.0
