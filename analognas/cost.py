"""An in-memory-computing cost model: tiles, MVMs, ADC conversions, energy and latency.

A weight-stationary mapping: every conv / linear weight matrix stays on crossbar cores for the
whole inference, split over ``ceil(rows / core_rows) x ceil(cols / core_cols)`` cores as aihwkit
splits it (``mapping.max_input_size`` / ``max_output_size``). Each input vector of a layer (one
per output position of a convolution: aihwkit's *reuse factor*) is one matrix-vector
multiplication (MVM) on each of the layer's cores, and every core converts its used output
columns with its ADCs; partial sums of cores that share columns are added digitally.

The chip's figures are fields of :class:`IMCChip`; the defaults and the two presets come from
IBM HERMES (Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
phase-change memory for deep neural network inference", Nature Electronics 6, 680-693, 2023).
Per-MVM energy and latency are derived from them in code.

What the model assumes (each one a field or stated here):

- Energy per core MVM is HERMES's full-array figure, ``2 * rows * cols / (TOPS/W)``, split into
  an array-and-periphery part paid by every core MVM and an ADC part paid per *used* column
  conversion (``adc_energy_share``, an ASSUMPTION: HERMES publishes no such split). A core
  whose matrix fills only a corner still pays the whole array part: a conservative bound.
- ADC energy per conversion scales as ``2**bits`` (Walden's figure of merit), from the bits at
  which TOPS/W was measured; latency does not change with ADC bits (an ASSUMPTION).
- A layer's cores run in parallel, its input vectors one after the other: a layer takes
  ``positions`` MVM times. Digital operations cost energy (``digital_energy_per_op_j``, an
  ASSUMPTION) and no time (assumed hidden behind the MVMs); data movement is not modelled.
- Latency "layer by layer": the layers one after the other, the sum. "Pipelined": every layer
  works at once on successive inferences, so a new inference completes every
  ``pipeline_interval_s`` = the slowest layer's time.
- A network that needs more cores than one chip has is spread over ``chips`` chips (the
  ceiling of cores needed over cores per chip: a lower bound, layers are not bin-packed);
  chip-to-chip transfers are not modelled.

Example:
    >>> from search_spaces import ResNetLikeSpace, resnet20
    >>> cost = network_cost(ResNetLikeSpace(), resnet20(), HERMES_ONE_PHASE)
    >>> cost.tiles, cost.chips
    (38, 1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from search_spaces.base import LayerSpec, SearchSpace

__all__ = ["IMCChip", "HERMES_ONE_PHASE", "HERMES_FOUR_PHASE", "HERMES_MODES", "NetworkCost", "network_cost",
           "layer_costs", "COST_COLUMNS", "aihwkit_layer_counts"]

HERMES_SOURCE = ("Le Gallo et al., Nature Electronics 6, 680-693 (2023), IBM HERMES: 64 cores of 256x256 PCM, "
                 "14 nm; 8-bit MVMs")


@dataclasses.dataclass(frozen=True)
class IMCChip:
    """An analog in-memory-computing chip, as the cost model sees it.

    Fields (defaults: IBM HERMES in one-phase mode, see :data:`HERMES_ONE_PHASE`):

    - ``name``: a label for tables.
    - ``cores``: crossbar cores (tiles) per chip. HERMES: 64.
    - ``core_rows``, ``core_cols``: rows (inputs) and columns (outputs) of one core. HERMES:
      256 x 256 unit cells of PCM. aihwkit's ``max_input_size`` / ``max_output_size``.
    - ``tops``: peak chip throughput for 8-bit MVMs, in tera-operations per second, counting a
      multiply and an add per cell (2 ops). HERMES: 63.1 (one-phase), 16.1 (four-phase).
    - ``tops_per_w``: energy efficiency of those MVMs, tera-operations per joule. HERMES: 9.76
      (one-phase), 2.48 (four-phase).
    - ``measured_adc_bits``: ADC resolution at which ``tops`` and ``tops_per_w`` were measured
      (HERMES: 8-bit MVMs).
    - ``adc_bits``: this chip's ADC resolution; energy per conversion scales as 2**bits.
    - ``adc_energy_share``: ASSUMPTION, not from HERMES: the share of a full-array MVM's
      energy spent in its ADCs at ``measured_adc_bits`` (default 0.5).
    - ``digital_energy_per_op_j``: ASSUMPTION, not from HERMES: joules per digital operation
      (BatchNorm, activation, addition, pooling, bias; default 1 pJ, the order of a 16-bit
      floating-point multiply in 45 nm, 1.1 pJ, Horowitz, ISSCC 2014).
    - ``source``: where the figures come from.

    Example:
        >>> chip = IMCChip()
        >>> round(chip.mvm_energy_j * 1e9, 2), round(chip.mvm_latency_s * 1e9, 1)  # nJ, ns
        (13.43, 132.9)
    """

    name: str = "HERMES one-phase"
    cores: int = 64
    core_rows: int = 256
    core_cols: int = 256
    tops: float = 63.1
    tops_per_w: float = 9.76
    measured_adc_bits: int = 8
    adc_bits: int = 8
    adc_energy_share: float = 0.5
    digital_energy_per_op_j: float = 1e-12
    source: str = HERMES_SOURCE + " at 63.1 TOPS and 9.76 TOPS/W in one-phase mode"

    def __post_init__(self) -> None:
        for name in ("cores", "core_rows", "core_cols", "measured_adc_bits", "adc_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"IMCChip.{name}={v!r} is not allowed; allowed: a positive integer")
        for name in ("tops", "tops_per_w"):
            _check_float(name, getattr(self, name), "a positive number", lambda v: v > 0)
        _check_float("adc_energy_share", self.adc_energy_share, "a number from 0 to 1", lambda v: 0 <= v <= 1)
        _check_float("digital_energy_per_op_j", self.digital_energy_per_op_j, "a number >= 0 (joules)",
                     lambda v: v >= 0)

    # --- derived figures (computed, never typed in) ---------------------------------------
    @property
    def ops_per_mvm(self) -> int:
        """Operations of one full-core MVM: a multiply and an add per cell."""
        return 2 * self.core_rows * self.core_cols

    @property
    def mvm_energy_j(self) -> float:
        """Joules of one full-core MVM at ``measured_adc_bits``: ops / (TOPS/W)."""
        return self.ops_per_mvm / (self.tops_per_w * 1e12)

    @property
    def mvm_latency_s(self) -> float:
        """Seconds of one MVM on one core: the chip's TOPS shared by its cores."""
        return self.ops_per_mvm / (self.tops * 1e12 / self.cores)

    @property
    def array_energy_j(self) -> float:
        """Joules of one core MVM outside the ADCs (paid by every core MVM)."""
        return self.mvm_energy_j * (1.0 - self.adc_energy_share)

    @property
    def adc_energy_j(self) -> float:
        """Joules of one ADC conversion at ``adc_bits``."""
        at_measured = self.mvm_energy_j * self.adc_energy_share / self.core_cols
        return at_measured * 2.0 ** (self.adc_bits - self.measured_adc_bits)

    def replace(self, **changes: Any) -> "IMCChip":
        """A copy with some fields changed (e.g. ``adc_bits=6``), validated."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "IMCChip":
        """Inverse of ``to_dict``; missing fields take their defaults, unknown ones are an error."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(f"IMCChip: unknown field(s) {unknown}; allowed: {names}")
        return cls(**d)


def _check_float(name: str, value: Any, what: str, ok: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value) \
            or not ok(value):
        raise ValueError(f"IMCChip.{name}={value!r} is not allowed; allowed: {what}")


#: IBM HERMES, one-phase mode: 63.1 TOPS, 9.76 TOPS/W (8-bit MVMs)
HERMES_ONE_PHASE = IMCChip()
#: IBM HERMES, four-phase mode (higher precision, slower): 16.1 TOPS, 2.48 TOPS/W
HERMES_FOUR_PHASE = IMCChip(name="HERMES four-phase", tops=16.1, tops_per_w=2.48,
                            source=HERMES_SOURCE + " at 16.1 TOPS and 2.48 TOPS/W in four-phase mode")
#: the presets by mode name
HERMES_MODES: dict[str, IMCChip] = {"one-phase": HERMES_ONE_PHASE, "four-phase": HERMES_FOUR_PHASE}

#: columns of :func:`layer_costs`
COST_COLUMNS = ("name", "kind", "rows", "cols", "row_tiles", "col_tiles", "tiles", "mvms", "tile_mvms",
                "adc_conversions", "digital_ops", "energy_j", "latency_s")


def layer_costs(layers: list[LayerSpec], chip: IMCChip = HERMES_ONE_PHASE) -> pd.DataFrame:
    """One row per step of ``layers`` (from ``space.layers(arch)``) with its cost on ``chip``.

    Columns: ``row_tiles`` x ``col_tiles`` = ``tiles`` (cores holding the weight matrix),
    ``mvms`` (input vectors per inference: the reuse factor), ``tile_mvms`` (= mvms x tiles),
    ``adc_conversions`` (mvms x row_tiles x cols), ``digital_ops`` (the step's own plus the
    additions of partial sums across row tiles), ``energy_j`` and ``latency_s``.

    Example:
        >>> from search_spaces.base import LayerSpec
        >>> df = layer_costs([LayerSpec("fc", "linear", 300, 10, 1, 10)])
        >>> df.loc[0, ["row_tiles", "col_tiles", "adc_conversions", "digital_ops"]].tolist()
        [2, 1, 20, 20]
    """
    if not isinstance(chip, IMCChip):
        raise TypeError(f"chip must be an IMCChip, got {type(chip).__name__}")
    rows = np.array([s.rows for s in layers], dtype=np.int64)
    cols = np.array([s.cols for s in layers], dtype=np.int64)
    mvms = np.array([s.positions if s.is_analog else 0 for s in layers], dtype=np.int64)
    row_tiles = -(-rows // chip.core_rows)
    col_tiles = -(-cols // chip.core_cols)
    tiles = row_tiles * col_tiles
    adc = mvms * row_tiles * cols
    # partial sums of the row tiles sharing a column are added digitally
    digital = np.array([s.digital_ops for s in layers], dtype=np.int64) + mvms * np.maximum(row_tiles - 1, 0) * cols
    energy = mvms * tiles * chip.array_energy_j + adc * chip.adc_energy_j + digital * chip.digital_energy_per_op_j
    return pd.DataFrame({
        "name": [s.name for s in layers], "kind": [s.kind for s in layers], "rows": rows, "cols": cols,
        "row_tiles": row_tiles, "col_tiles": col_tiles, "tiles": tiles, "mvms": mvms, "tile_mvms": mvms * tiles,
        "adc_conversions": adc, "digital_ops": digital, "energy_j": energy, "latency_s": mvms * chip.mvm_latency_s,
    }, columns=list(COST_COLUMNS))


@dataclasses.dataclass(frozen=True)
class NetworkCost:
    """The cost of one inference of a network on a chip (see the module docstring for the model).

    Attributes:
        chip: the chip.
        layers: :func:`layer_costs`' table, one row per step in forward order.
        tiles: cores holding the weights (sum over layers).
        mvms: input vectors pushed through the layers (sum of reuse factors).
        tile_mvms: core MVMs (each layer's mvms times its tiles).
        adc_conversions, digital_ops: per inference.
        energy_j: joules per inference; ``analog_energy_j`` (array and periphery),
            ``adc_energy_j`` and ``digital_energy_j`` add up to it.
        latency_s: seconds per inference with the layers run one after the other.
        pipeline_interval_s: seconds between inferences when every layer works at once on
            successive inferences (the slowest layer's time).
        chips: chips needed to hold every weight at once.
    """

    chip: IMCChip
    layers: pd.DataFrame = dataclasses.field(repr=False)
    tiles: int
    mvms: int
    tile_mvms: int
    adc_conversions: int
    digital_ops: int
    energy_j: float
    analog_energy_j: float
    adc_energy_j: float
    digital_energy_j: float
    latency_s: float
    pipeline_interval_s: float
    chips: int

    def fits(self, chips: int = 1) -> bool:
        """Whether every weight fits on ``chips`` chips at once."""
        return self.tiles <= chips * self.chip.cores

    def summary(self) -> dict[str, Any]:
        """The totals as a plain JSON-able dict (for result.json and tables)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("chip", "layers")}
        out = {k: (float(v) if isinstance(v, float) else int(v)) for k, v in out.items()}
        out["chip"] = self.chip.name
        return out


def network_cost(space: SearchSpace, arch: Any, chip: IMCChip = HERMES_ONE_PHASE,
                 input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> NetworkCost:
    """The cost of one inference of ``arch`` on ``chip``, from the architecture (nothing is built).

    Example:
        >>> from search_spaces import ResNetLikeSpace, resnet20
        >>> c = network_cost(ResNetLikeSpace(), resnet20(), HERMES_FOUR_PHASE)
        >>> c.latency_s > network_cost(ResNetLikeSpace(), resnet20()).latency_s
        True
    """
    df = layer_costs(space.layers(arch, tuple(input_shape), num_classes), chip)
    adc = float((df["adc_conversions"] * chip.adc_energy_j).sum())
    digital = float((df["digital_ops"] * chip.digital_energy_per_op_j).sum())
    analog = float((df["tile_mvms"] * chip.array_energy_j).sum())
    tiles = int(df["tiles"].sum())
    return NetworkCost(
        chip=chip, layers=df, tiles=tiles, mvms=int(df["mvms"].sum()), tile_mvms=int(df["tile_mvms"].sum()),
        adc_conversions=int(df["adc_conversions"].sum()), digital_ops=int(df["digital_ops"].sum()),
        energy_j=float(df["energy_j"].sum()), analog_energy_j=analog, adc_energy_j=adc, digital_energy_j=digital,
        latency_s=float(df["latency_s"].sum()), pipeline_interval_s=float(df["latency_s"].max()),
        chips=max(1, math.ceil(tiles / chip.cores)),
    )


def aihwkit_layer_counts(space: SearchSpace, arch: Any, chip: IMCChip = HERMES_ONE_PHASE,
                         input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> list[tuple[int, int]]:
    """``(tiles, reuse factor)`` of every analog layer of the *built* network, in forward order,
    as aihwkit's ``analog_summary`` reports them for one input on tiles of ``chip``'s core size.

    This builds and converts the network (seconds for a large one): it is the reference that
    :func:`network_cost`'s ``tiles`` and ``mvms`` columns are tested against.

    Example:
        >>> from search_spaces import NB201Space, NB201Arch
        >>> aihwkit_layer_counts(NB201Space(), NB201Arch((1,) * 6))[0]
        (1, 1024)
    """
    import torch
    from aihwkit.utils.analog_info import analog_summary

    from analognas.hardware import AnalogHardware, to_analog

    if chip.core_rows != chip.core_cols:
        raise ValueError(f"IMCChip core_rows={chip.core_rows}, core_cols={chip.core_cols}: the aihwkit check "
                         "converts with AnalogHardware, whose tiles are square; allowed: equal sides")
    net = space.build(arch, tuple(input_shape), num_classes).eval()
    model = to_analog(net, AnalogHardware(tile_size=chip.core_rows)).eval()
    with torch.no_grad():
        info = analog_summary(model, (1, *input_shape))
    return [(int(x.num_tiles), int(x.reuse_factor)) for x in info.layer_summary if x.isanalog]
