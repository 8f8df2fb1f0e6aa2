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
  conversion (``adc_energy_share``, an ASSUMPTION: HERMES publishes no such split). By default
  a core whose matrix fills only a corner still pays the whole array part (a pessimistic
  bound); ``array_energy_by_use=True`` pays it in proportion to the cells used (optimistic).
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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from search_spaces.base import LayerSpec, SearchSpace

from .checks import check_bool, check_int, check_number, known_fields

__all__ = ["IMCChip", "HERMES_ONE_PHASE", "HERMES_FOUR_PHASE", "HERMES_MODES", "NetworkCost", "network_cost",
           "network_totals", "network_totals_encoded", "totals_encoded", "totals_many", "layer_costs",
           "COST_COLUMNS", "TOTALS", "aihwkit_layer_counts"]

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
    - ``array_energy_by_use``: ASSUMPTION: False (default) charges every core MVM the whole
      array part of the energy, however few of its cells hold weights; True charges it in
      proportion to the cells used. The truth lies between; the two bound it.
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
    array_energy_by_use: bool = False
    source: str = HERMES_SOURCE + " at 63.1 TOPS and 9.76 TOPS/W in one-phase mode"

    def __post_init__(self) -> None:
        for name in ("cores", "core_rows", "core_cols", "measured_adc_bits", "adc_bits"):
            check_int(name, getattr(self, name), 1, owner="IMCChip")
        for name in ("tops", "tops_per_w"):
            check_number(name, getattr(self, name), gt=0, owner="IMCChip")
        check_number("adc_energy_share", self.adc_energy_share, ge=0, le=1, owner="IMCChip")
        check_number("digital_energy_per_op_j", self.digital_energy_per_op_j, ge=0, owner="IMCChip",
                     what="a number >= 0 (joules)")
        check_bool("array_energy_by_use", self.array_energy_by_use, owner="IMCChip")

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
        return cls(**known_fields(cls, d))


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
#: per-network totals (:class:`NetworkCost`'s numbers, :func:`network_totals`' keys)
TOTALS = ("tiles", "mvms", "tile_mvms", "adc_conversions", "digital_ops", "energy_j", "analog_energy_j",
          "adc_energy_j", "digital_energy_j", "latency_s", "pipeline_interval_s", "chips")


def _check_chip(chip: Any) -> None:
    if not isinstance(chip, IMCChip):
        raise TypeError(f"chip must be an IMCChip, got {type(chip).__name__}")


def _step_costs(rows: np.ndarray, cols: np.ndarray, mvms: np.ndarray, digital_ops: np.ndarray,
                chip: IMCChip) -> dict[str, np.ndarray]:
    """The cost columns of weight matrices ``rows`` x ``cols`` (0 x 0 for a digital step)
    each pushing ``mvms`` vectors per inference; any array shapes that broadcast."""
    row_tiles, col_tiles = -(-rows // chip.core_rows), -(-cols // chip.core_cols)
    tiles = row_tiles * col_tiles
    adc = mvms * row_tiles * cols
    # the partial sums of row tiles that share columns are added digitally
    digital = digital_ops + mvms * np.maximum(row_tiles - 1, 0) * cols
    # the cores' array energy: whole cores, or the share of their cells that hold weights
    cores = rows * cols / (chip.core_rows * chip.core_cols) if chip.array_energy_by_use else tiles
    return {"row_tiles": row_tiles, "col_tiles": col_tiles, "tiles": tiles, "mvms": mvms, "tile_mvms": mvms * tiles,
            "adc_conversions": adc, "digital_ops": digital,
            "analog_energy_j": mvms * cores * chip.array_energy_j, "adc_energy_j": adc * chip.adc_energy_j,
            "digital_energy_j": digital * chip.digital_energy_per_op_j, "latency_s": mvms * chip.mvm_latency_s}


def _layer_arrays(layers: list[LayerSpec], chip: IMCChip) -> dict[str, np.ndarray]:
    _check_chip(chip)
    table = np.array([(s.rows, s.cols, s.positions if s.is_analog else 0, s.digital_ops) for s in layers],
                     dtype=np.int64).reshape(-1, 4)
    return _step_costs(table[:, 0], table[:, 1], table[:, 2], table[:, 3], chip)


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
    c = _layer_arrays(layers, chip)
    c["energy_j"] = c["analog_energy_j"] + c["adc_energy_j"] + c["digital_energy_j"]
    c["name"], c["kind"] = [s.name for s in layers], [s.kind for s in layers]
    c["rows"] = np.array([s.rows for s in layers], dtype=np.int64)
    c["cols"] = np.array([s.cols for s in layers], dtype=np.int64)
    return pd.DataFrame({k: c[k] for k in COST_COLUMNS}, columns=list(COST_COLUMNS))


def _totals(steps: dict[str, np.ndarray], chip: IMCChip, axis: int | tuple[int, ...] = -1) -> dict[str, np.ndarray]:
    """Per-network totals of step columns laid out along ``axis``."""
    out = {k: steps[k].sum(axis) for k in ("tiles", "mvms", "tile_mvms", "adc_conversions", "digital_ops",
                                           "analog_energy_j", "adc_energy_j", "digital_energy_j", "latency_s")}
    out["energy_j"] = out["analog_energy_j"] + out["adc_energy_j"] + out["digital_energy_j"]
    out["pipeline_interval_s"] = steps["latency_s"].max(axis)
    out["chips"] = np.maximum(1, -(-out["tiles"] // chip.cores))
    return {k: out[k] for k in TOTALS}


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
        """The totals and the chip's name as a plain JSON-able dict (for result.json and tables)."""
        return {**{k: getattr(self, k) for k in TOTALS}, "chip": self.chip.name}


def _plain(totals: dict[str, np.ndarray]) -> dict[str, int | float]:
    return {k: (int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)) for k, v in totals.items()}


def network_totals(space: SearchSpace, arch: Any, chip: IMCChip = HERMES_ONE_PHASE,
                   input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> dict[str, int | float]:
    """:class:`NetworkCost`'s totals (``TOTALS``) without the per-layer table: faster, for the search.

    Example:
        >>> from search_spaces import ResNetLikeSpace, resnet20
        >>> network_totals(ResNetLikeSpace(), resnet20())["tiles"]
        38
    """
    return _plain(_totals(_layer_arrays(space.layers(arch, tuple(input_shape), num_classes), chip), chip))


def network_cost(space: SearchSpace, arch: Any, chip: IMCChip = HERMES_ONE_PHASE,
                 input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> NetworkCost:
    """The cost of one inference of ``arch`` on ``chip``, from the architecture (nothing is built).

    Example:
        >>> from search_spaces import ResNetLikeSpace, resnet20
        >>> c = network_cost(ResNetLikeSpace(), resnet20(), HERMES_FOUR_PHASE)
        >>> c.latency_s > network_cost(ResNetLikeSpace(), resnet20()).latency_s
        True
    """
    layers = space.layers(arch, tuple(input_shape), num_classes)
    totals = _plain(_totals(_layer_arrays(layers, chip), chip))
    return NetworkCost(chip=chip, layers=layer_costs(layers, chip), **totals)


def network_totals_encoded(enc: np.ndarray, chip: IMCChip = HERMES_ONE_PHASE,
                           input_shape: tuple[int, int, int] = (3, 32, 32),
                           num_classes: int = 10) -> dict[str, np.ndarray]:
    """:func:`network_totals` of every row of ResNet-like encodings (``ResNetLikeSpace.encode_many``),
    vectorised: arrays of ``TOTALS``, equal to the object path's (tests compare them).

    Main block i works on ``pixels[i]`` output positions (the stem's, then halved per main
    block after the first); a strided bottleneck's first 1x1 conv on its input's.

    Example:
        >>> from search_spaces import ResNetLikeSpace, resnet20
        >>> network_totals_encoded(ResNetLikeSpace().encode_many([resnet20()]))["tiles"].tolist()
        [38]
    """
    from search_spaces import resnet_arrays
    from search_spaces.base import conv_output_size

    _check_chip(chip)
    e = resnet_arrays.as_encodings(enc).astype(np.int64)
    st = resnet_arrays.layer_stats(e, tuple(input_shape), num_classes, chip.core_rows)
    slots = resnet_arrays.MAX_MAIN_BLOCKS
    n = len(e)
    # output pixels of each main block (odd kernels with padding k // 2 keep the stem's size)
    h, w, pixels = input_shape[1], input_shape[2], []
    for i in range(slots):
        if i:
            h, w = conv_output_size(h, 3, 2), conv_output_size(w, 3, 2)
        pixels.append(h * w)
    pix = np.array(pixels, dtype=np.int64)
    before = np.concatenate([pix[:1], pix[:-1]])  # the input pixels of each main block
    positions = np.broadcast_to(pix[None, :, None], (n, slots, 7)).copy()
    early = st["bottleneck"] & (np.arange(slots) > 0)
    positions[..., 0] = np.where(early, before[None, :], pix[None, :])
    count, rows, cols = st["count"], st["rows"], st["cols"]
    mvms = count * positions * (rows > 0)
    # BN on every conv; a ReLU after every conv but the branch's last (and none on the shortcut)
    last = np.where(st["bottleneck"][..., None], [False, False, True, True, False, False, True],
                    [False, True, True, True, False, True, True])
    digital = mvms * cols * np.where(last, 2, 3)
    steps = _step_costs(rows, cols, mvms, digital, chip)
    # _step_costs counts one matrix per entry: scale the per-matrix tiles and MVMs by the count
    steps["tiles"] = steps["tiles"] * count
    blocks = _totals(steps, chip, axis=(1, 2))
    # the branch-and-shortcut sums and their ReLUs, one per residual block
    terms = st["branches"] + st["residual"]
    sums = (st["residual_blocks"] * terms * st["c_out"] * pix[None, :] * st["active"]).sum(1)
    stem_rows, stem_cols = input_shape[0] * e[:, 1] ** 2, e[:, 0]
    c_final = st["c_final"]
    ends = _step_costs(np.stack([stem_rows, c_final], 1), np.stack([stem_cols, np.full(n, num_classes)], 1),
                       np.stack([np.full(n, pix[0]), np.ones(n, np.int64)], 1),
                       np.stack([3 * stem_cols * pix[0], np.full(n, num_classes)], 1), chip)
    ends = _totals(ends, chip, axis=1)
    extra = (sums + c_final * pix[np.maximum(e[:, 2] - 1, 0)])  # + global pooling of the last map
    out = {k: blocks[k] + ends[k] for k in TOTALS if k not in ("pipeline_interval_s", "chips")}
    out["digital_ops"] = out["digital_ops"] + extra
    out["digital_energy_j"] = out["digital_energy_j"] + extra * chip.digital_energy_per_op_j
    out["energy_j"] = out["analog_energy_j"] + out["adc_energy_j"] + out["digital_energy_j"]
    # the slowest single layer: one matrix's vectors (not the count of its copies)
    slowest = (positions * ((count > 0) & (rows > 0))).max((1, 2)) * chip.mvm_latency_s
    out["pipeline_interval_s"] = np.maximum(slowest, ends["pipeline_interval_s"])
    out["chips"] = np.maximum(1, -(-out["tiles"] // chip.cores))
    return {k: out[k] for k in TOTALS}


def totals_encoded(space: SearchSpace, enc: np.ndarray, chip: IMCChip = HERMES_ONE_PHASE,
                   input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> dict[str, np.ndarray]:
    """:data:`TOTALS` of encoding rows of ``space``: vectorised for the ResNet-like space,
    through the decoded architectures for any other.

    Example:
        >>> from search_spaces import ResNetLikeSpace, resnet20
        >>> space = ResNetLikeSpace()
        >>> totals_encoded(space, space.encode_many([resnet20()]))["chips"].tolist()
        [1]
    """
    from search_spaces import ResNetLikeSpace

    if isinstance(space, ResNetLikeSpace):
        return network_totals_encoded(enc, chip, input_shape, num_classes)
    return totals_many(space, space.decode_many(enc), chip, input_shape, num_classes)


def totals_many(space: SearchSpace, archs: Sequence[Any], chip: IMCChip = HERMES_ONE_PHASE,
                input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> dict[str, np.ndarray]:
    """:data:`TOTALS` of many architectures as arrays (vectorised for the ResNet-like space).

    Example:
        >>> from search_spaces import NB201Space, NB201Arch
        >>> totals_many(NB201Space(), [NB201Arch((1,) * 6)] * 2)["tiles"].tolist()
        [12, 12]
    """
    from search_spaces import ResNetLikeSpace

    if isinstance(space, ResNetLikeSpace):
        return network_totals_encoded(space.encode_many(list(archs)), chip, input_shape, num_classes)
    rows = [network_totals(space, a, chip, input_shape, num_classes) for a in archs]
    return {k: np.array([r[k] for r in rows], dtype=np.int64 if k in ("tiles", "mvms", "tile_mvms",
                         "adc_conversions", "digital_ops", "chips") else float) for k in TOTALS}


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
