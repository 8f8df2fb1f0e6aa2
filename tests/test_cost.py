"""The IMC cost model: HERMES presets, hand-computed examples, aihwkit's analog_summary, monotonicity."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from analognas.cost import (HERMES_FOUR_PHASE, HERMES_MODES, HERMES_ONE_PHASE, IMCChip, aihwkit_layer_counts,
                            layer_costs, network_cost)
from search_spaces import MainBlock, NB201Arch, NB201Space, ResNetArch, ResNetLikeSpace, resnet20
from search_spaces.base import LayerSpec


def test_hermes_presets_match_le_gallo_2023_field_by_field():
    # Le Gallo et al., Nature Electronics 2023: 64 cores of 256x256 PCM; 8-bit MVMs at 63.1 TOPS and
    # 9.76 TOPS/W (one-phase), 16.1 TOPS and 2.48 TOPS/W (four-phase)
    for chip, tops, tops_per_w in ((HERMES_ONE_PHASE, 63.1, 9.76), (HERMES_FOUR_PHASE, 16.1, 2.48)):
        assert (chip.cores, chip.core_rows, chip.core_cols) == (64, 256, 256)
        assert (chip.tops, chip.tops_per_w, chip.measured_adc_bits, chip.adc_bits) == (tops, tops_per_w, 8, 8)
        assert "Le Gallo" in chip.source and str(tops) in chip.source
    assert HERMES_MODES == {"one-phase": HERMES_ONE_PHASE, "four-phase": HERMES_FOUR_PHASE}
    assert IMCChip() == HERMES_ONE_PHASE


def test_per_mvm_figures_are_derived_from_the_fields():
    chip = HERMES_ONE_PHASE
    ops = 2 * 256 * 256
    assert chip.mvm_energy_j == pytest.approx(ops / 9.76e12)  # 13.4 nJ
    assert chip.mvm_latency_s == pytest.approx(ops / (63.1e12 / 64))  # 133 ns
    assert chip.array_energy_j + 256 * chip.adc_energy_j == pytest.approx(chip.mvm_energy_j)
    four = HERMES_FOUR_PHASE
    assert four.mvm_energy_j == pytest.approx(ops / 2.48e12)
    assert four.mvm_latency_s == pytest.approx(ops * 64 / 16.1e12)
    # a change of field changes the derived figure: nothing is typed in
    assert chip.replace(tops_per_w=19.52).mvm_energy_j == pytest.approx(chip.mvm_energy_j / 2)
    assert chip.replace(adc_bits=6).adc_energy_j == pytest.approx(chip.adc_energy_j / 4)


def test_layer_costs_of_a_split_linear_layer_by_hand():
    chip = HERMES_ONE_PHASE
    df = layer_costs([LayerSpec("fc", "linear", 300, 10, 1, 10), LayerSpec("pool", "digital", 0, 0, 1, 7)], chip)
    fc, pool = df.iloc[0], df.iloc[1]
    # 300 rows need 2 cores of 256 rows; each converts 10 columns; 10 partial sums added digitally
    assert (fc.row_tiles, fc.col_tiles, fc.tiles, fc.mvms, fc.tile_mvms) == (2, 1, 2, 1, 2)
    assert (fc.adc_conversions, fc.digital_ops) == (20, 10 + 10)
    assert fc.energy_j == pytest.approx(2 * chip.array_energy_j + 20 * chip.adc_energy_j + 20e-12)
    assert fc.latency_s == pytest.approx(chip.mvm_latency_s)
    assert (pool.tiles, pool.mvms, pool.adc_conversions, pool.latency_s) == (0, 0, 0, 0.0)
    assert pool.energy_j == pytest.approx(7e-12)


def test_network_cost_of_a_tiny_resnet_by_hand():
    # stem 3x3 conv 1->16 on 4x4; one basic residual block 16->16 (identity shortcut); pool; fc 16->10
    arch = ResNetArch(16, 3, (MainBlock("A", 1, 1, 1),))
    cost = network_cost(ResNetLikeSpace(), arch, HERMES_ONE_PHASE, input_shape=(1, 4, 4), num_classes=10)
    analog = cost.layers[cost.layers["kind"] != "digital"]
    assert analog["name"].tolist() == ["stem.0", "stages.0.0.branches.0.0", "stages.0.0.branches.0.3", "classifier"]
    assert analog[["rows", "cols", "mvms"]].values.tolist() == [[9, 16, 16], [144, 16, 16], [144, 16, 16], [16, 10, 1]]
    assert (cost.tiles, cost.mvms, cost.tile_mvms, cost.chips) == (4, 49, 49, 1)
    assert cost.adc_conversions == 3 * 16 * 16 + 10
    # BN+ReLU 3/element (stem, first conv), BN 2 (second conv), sum of branch and shortcut + ReLU 2,
    # global pool 1 per element, classifier bias 1 per output
    assert cost.digital_ops == 768 + 768 + 512 + 512 + 256 + 10
    t = HERMES_ONE_PHASE.mvm_latency_s
    assert cost.latency_s == pytest.approx(49 * t)
    assert cost.pipeline_interval_s == pytest.approx(16 * t)
    assert cost.energy_j == pytest.approx(cost.analog_energy_j + cost.adc_energy_j + cost.digital_energy_j)
    assert cost.energy_j == pytest.approx(49 * HERMES_ONE_PHASE.array_energy_j + 778 * HERMES_ONE_PHASE.adc_energy_j
                                          + 2826e-12)
    assert cost.fits(1) and not dataclasses.replace(cost, tiles=65).fits(1)


def test_chips_needed_when_the_network_does_not_fit():
    small = IMCChip(cores=4)
    cost = network_cost(ResNetLikeSpace(), resnet20(), small)
    assert cost.tiles == 38 and cost.chips == 10 and not cost.fits(9) and cost.fits(10)


def test_layer_names_are_the_built_modules():
    for space, arch in ((ResNetLikeSpace(), ResNetLikeSpace().sample(3, max_params=200_000)),
                        (NB201Space(), NB201Arch((2, 3, 4, 0, 2, 3)))):
        net = space.build(arch)
        weighted = {n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
        named = {s.name for s in space.layers(arch) if s.is_analog}
        assert named == weighted
        shapes = [(s.rows, s.cols) for s in space.layers(arch) if s.is_analog]
        assert sorted(shapes) == sorted(space.layer_shapes(arch))


SPACES = {
    "resnet_like": (ResNetLikeSpace(), dict(max_params=30_000, input_shape=(1, 8, 8))),
    # NB201's network with fewer channels and cells (same operations and structure), to keep it fast
    "nb201": (NB201Space(channels=8, cells_per_stage=2), dict()),
}


@pytest.mark.parametrize("name", sorted(SPACES))
def test_tiles_and_reuse_factors_equal_aihwkit_analog_summary(name):
    space, cap = SPACES[name]
    chip = IMCChip(core_rows=32, core_cols=32)  # small cores, so that layers split over several
    archs = space.sample_many(8, 1, **cap)
    split = 0
    for arch in archs:
        ours = network_cost(space, arch, chip, input_shape=(1, 8, 8), num_classes=10).layers
        ours = ours[ours["kind"] != "digital"]
        reference = aihwkit_layer_counts(space, arch, chip, input_shape=(1, 8, 8), num_classes=10)
        assert list(zip(ours["tiles"].tolist(), ours["mvms"].tolist())) == reference
        split += int((ours["tiles"] > 1).sum())
    assert split > 0  # the check covered layers split over several tiles


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), slot=st.integers(0, 4))
def test_more_branches_never_lower_energy_or_latency(seed, slot):
    space = ResNetLikeSpace()
    arch = space.sample(seed, max_params=2_000_000)
    i = slot % len(arch.blocks)
    block = arch.blocks[i]
    if block.branches == 12:
        block = dataclasses.replace(block, branches=11)
        arch = ResNetArch(arch.out_channel0, arch.kernel0, arch.blocks[:i] + (block,) + arch.blocks[i + 1:])
    wider = ResNetArch(arch.out_channel0, arch.kernel0,
                       arch.blocks[:i] + (dataclasses.replace(block, branches=block.branches + 1),) + arch.blocks[i + 1:])
    for chip in HERMES_MODES.values():
        a, b = network_cost(space, arch, chip), network_cost(space, wider, chip)
        assert b.energy_j > a.energy_j and b.tiles > a.tiles and b.latency_s > a.latency_s


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), nb201=st.booleans())
def test_a_larger_tile_never_raises_the_tile_count(seed, nb201):
    space = NB201Space() if nb201 else ResNetLikeSpace()
    arch = space.sample(seed) if nb201 else space.sample(seed, max_params=2_000_000)
    tiles = [network_cost(space, arch, IMCChip(core_rows=s, core_cols=s)).tiles for s in (32, 64, 100, 128, 256, 512)]
    assert all(x >= y for x, y in zip(tiles, tiles[1:]))
    assert tiles[-1] == space.num_tiles(arch, 512)


def test_fewer_adc_bits_save_exactly_the_adc_energy_share():
    eight = network_cost(ResNetLikeSpace(), resnet20(), HERMES_ONE_PHASE)
    six = network_cost(ResNetLikeSpace(), resnet20(), HERMES_ONE_PHASE.replace(adc_bits=6))
    assert six.energy_j < eight.energy_j
    assert eight.energy_j - six.energy_j == pytest.approx(0.75 * eight.adc_energy_j)
    assert six.latency_s == eight.latency_s  # assumed: ADC bits do not change the MVM time


@pytest.mark.parametrize("field, value, allowed", [
    ("cores", 0, "a positive integer"),
    ("core_rows", -256, "a positive integer"),
    ("tops_per_w", -9.76, "a positive number"),
    ("tops", float("nan"), "a positive number"),
    ("digital_energy_per_op_j", -1e-12, "a number >= 0"),
    ("adc_energy_share", 1.5, "a number from 0 to 1"),
    ("adc_bits", True, "a positive integer"),
    ("array_energy_by_use", "yes", "True or False"),
])
def test_impossible_hardware_is_refused_in_one_line(field, value, allowed):
    with pytest.raises(ValueError) as e:
        IMCChip(**{field: value})
    message = str(e.value)
    assert "\n" not in message and f"IMCChip.{field}={value!r}" in message and allowed in message


def test_chip_round_trips_through_a_dict_and_refuses_unknown_fields():
    assert IMCChip.from_dict(HERMES_FOUR_PHASE.to_dict()) == HERMES_FOUR_PHASE
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['tile'\]"):
        IMCChip.from_dict({"tile": 256})


def test_summary_is_json_able():
    import json
    s = network_cost(NB201Space(), NB201Arch((2, 2, 2, 2, 2, 2)), HERMES_FOUR_PHASE).summary()
    assert json.loads(json.dumps(s))["chip"] == "HERMES four-phase"
    assert isinstance(s["tiles"], int) and np.isfinite(s["energy_j"])


@pytest.mark.parametrize("chip, shape", [(HERMES_ONE_PHASE, (3, 32, 32)), (IMCChip(core_rows=64, core_cols=32), (1, 9, 7)),
                                         (HERMES_FOUR_PHASE.replace(adc_bits=5), (1, 28, 28))])
def test_vectorised_resnet_totals_equal_the_object_path(chip, shape):
    from analognas.cost import TOTALS, network_totals, network_totals_encoded
    space = ResNetLikeSpace()
    archs = [resnet20()] + space.sample_many(60, 0) + space.sample_many(60, 1, max_params=300_000)
    fast = network_totals_encoded(space.encode_many(archs), chip, shape, 7)
    slow = [network_totals(space, a, chip, shape, 7) for a in archs]
    for key in TOTALS:
        assert np.allclose(fast[key], [s[key] for s in slow], rtol=1e-12), key
    assert fast["tiles"].tolist() == space.counts_encoded(space.encode_many(archs), chip.core_rows, shape, 7)[1].tolist() \
        or chip.core_rows != chip.core_cols


def test_array_energy_by_use_charges_the_cells_used_and_bounds_the_default_from_below():
    chip = HERMES_ONE_PHASE.replace(array_energy_by_use=True)
    fc = layer_costs([LayerSpec("fc", "linear", 300, 10, 1, 10)], chip).iloc[0]
    assert fc.energy_j == pytest.approx(300 * 10 / 256**2 * chip.array_energy_j + 20 * chip.adc_energy_j + 20e-12)
    space = ResNetLikeSpace()
    archs = [resnet20()] + space.sample_many(20, 3, max_params=500_000)
    for arch in archs:
        low, high = network_cost(space, arch, chip), network_cost(space, arch)
        assert low.energy_j < high.energy_j and low.latency_s == high.latency_s
    from analognas.cost import network_totals, network_totals_encoded
    fast = network_totals_encoded(space.encode_many(archs), chip)["energy_j"]
    assert np.allclose(fast, [network_totals(space, a, chip)["energy_j"] for a in archs], rtol=1e-12)


def test_network_cost_of_a_tiny_nb201_network_by_hand():
    # edges (1,2) conv3x3, (1,3) avgpool, (1,4) none, (2,3) skip, (2,4) conv1x1, (3,4) skip;
    # 2 channels, one cell per stage, 1x4x4 input: stages at 4x4, 2x2 and 1x1
    space = NB201Space(channels=2, cells_per_stage=1)
    cost = network_cost(space, NB201Arch((2, 4, 1, 0, 3, 0)), HERMES_ONE_PHASE, input_shape=(1, 4, 4))
    analog = cost.layers[cost.layers["kind"] != "digital"]
    assert analog[["rows", "cols", "mvms"]].values.tolist() == [
        [9, 2, 16], [18, 2, 16], [2, 2, 16],                 # stem, cell 0's two convs
        [18, 4, 4], [36, 4, 4], [2, 4, 4], [36, 4, 4], [4, 4, 4],  # reduction (conv_a, conv_b, 1x1), cell 1
        [36, 8, 1], [72, 8, 1], [4, 8, 1], [72, 8, 1], [8, 8, 1],  # reduction, cell 2
        [8, 10, 1]]                                            # classifier
    assert (cost.tiles, cost.mvms) == (14, 74)
    # stem BN 64; cell 0: conv 96 + pool 200 (2 x 10 x 10 window reads) + node-3 sum 32 + conv 96 + node-4
    # sum 32; reduction 64 + 48 + pool 32 + sum 16; cell 1: 48 + 64 + 16 + 48 + 16; reduction 32 + 24 + 16 + 8;
    # cell 2: 24 + 8 + 8 + 24 + 8; last BN+ReLU 24, global pool 8, bias 10
    assert cost.digital_ops == 64 + 456 + 160 + 192 + 80 + 72 + 42
