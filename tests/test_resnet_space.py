"""The ResNet-like macro space: values, validation, sampling, mutation, networks, counting."""

from __future__ import annotations

import collections
import copy
import dataclasses
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces import (
    REFERENCE_NETWORKS,
    InvalidArchitectureError,
    MainBlock,
    ResNetArch,
    ResNetLikeSpace,
    resnet20,
    resnet32,
    resnet56,
)

torch.set_num_threads(1)

SPACE = ResNetLikeSpace()


def arch_of(*blocks: tuple, out_channel0: int = 8, kernel0: int = 3) -> ResNetArch:
    return ResNetArch(out_channel0, kernel0, tuple(MainBlock(*b) for b in blocks))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- reference networks -----------------------------------------------------------------
def test_reference_networks_have_the_usual_sizes() -> None:
    assert REFERENCE_NETWORKS == {"resnet20": resnet20(), "resnet32": resnet32(), "resnet56": resnet56()}
    # He et al.'s counts are 0.27 M / 0.46 M / 0.85 M; 1x1 projection shortcuts add 2,752.
    assert SPACE.num_params(resnet20(), (3, 32, 32), 10) == 269_722 + 2_752
    assert SPACE.num_params(resnet32(), (3, 32, 32), 10) == 464_154 + 2_752
    assert SPACE.num_params(resnet56(), (3, 32, 32), 10) == 853_018 + 2_752
    for arch in REFERENCE_NETWORKS.values():
        assert SPACE.validate(arch) == arch


def test_resnet20_builds_as_cifar_resnet() -> None:
    model = SPACE.build(resnet20(), (3, 32, 32), 10)
    assert n_params(model) == SPACE.num_params(resnet20())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len([c for c in convs if c.kernel_size == (3, 3)]) == 19  # 1 + 3 stages * 3 blocks * 2
    assert len([c for c in convs if c.kernel_size == (1, 1)]) == 2  # the two projection shortcuts
    with torch.no_grad():
        features = model.stages(model.stem(torch.zeros(1, 3, 32, 32)))
    assert features.shape == (1, 64, 8, 8)


# --- values and validation --------------------------------------------------------------
def test_to_dict_shape() -> None:
    assert resnet20().to_dict() == {
        "out_channel0": 16,
        "kernel0": 3,
        "blocks": [
            {"block_type": "A", "residual_blocks": 3, "branches": 1, "widen": 1},
            {"block_type": "A", "residual_blocks": 3, "branches": 1, "widen": 2},
            {"block_type": "A", "residual_blocks": 3, "branches": 1, "widen": 2},
        ],
    }


def test_arch_is_immutable_and_hashable_even_from_a_list() -> None:
    arch = ResNetArch(16, 3, [MainBlock("A", 3, 1, 1)])
    assert isinstance(arch.blocks, tuple)
    assert hash(arch) == hash(ResNetArch(16, 3, (MainBlock("A", 3, 1, 1),)))
    with pytest.raises(AttributeError):
        arch.kernel0 = 5  # type: ignore[misc]


def _good() -> dict:
    return copy.deepcopy(
        {
            "out_channel0": 16,
            "kernel0": 3,
            "blocks": [
                {"block_type": "A", "residual_blocks": 3, "branches": 1, "widen": 1},
                {"block_type": "B", "residual_blocks": 2, "branches": 4, "widen": 2},
                {"block_type": "C", "residual_blocks": 1, "branches": 2, "widen": 3},
            ],
        }
    )


def _set(path: tuple, value):
    def edit(d: dict) -> dict:
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return d
    return edit


def _delete(path: tuple):
    def edit(d: dict) -> dict:
        target = d
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
        return d
    return edit


MALFORMED = {
    # wrong types
    "channels as str": (_set(("out_channel0",), "16"), "out_channel0='16'"),
    "kernel as float": (_set(("kernel0",), 3.0), "kernel0=3.0"),
    "branches as bool": (_set(("blocks", 1, "branches"), True), "blocks[1].branches=True"),
    "widen as str": (_set(("blocks", 0, "widen"), "2"), "blocks[0].widen='2'"),
    "type as int": (_set(("blocks", 2, "block_type"), 1), "blocks[2].block_type=1"),
    "blocks not a list": (_set(("blocks",), "A"), "blocks='A'"),
    "block not a dict": (_set(("blocks", 1), [1, 2]), "blocks[1] must be a dict"),
    # out of range
    "channels 10": (_set(("out_channel0",), 10), "out_channel0=10 is not allowed"),
    "kernel 4": (_set(("kernel0",), 4), "kernel0=4"),
    "type E": (_set(("blocks", 0, "block_type"), "E"), "blocks[0].block_type='E'"),
    "type lower case": (_set(("blocks", 0, "block_type"), "a"), "blocks[0].block_type='a'"),
    "residual blocks 0": (_set(("blocks", 1, "residual_blocks"), 0), "blocks[1].residual_blocks=0"),
    "residual blocks 17": (_set(("blocks", 2, "residual_blocks"), 17), "blocks[2].residual_blocks=17"),
    "branches 13": (_set(("blocks", 2, "branches"), 13), "blocks[2].branches=13 is not allowed"),
    "widen 5": (_set(("blocks", 0, "widen"), 5), "blocks[0].widen=5"),
    "widen 0": (_set(("blocks", 1, "widen"), 0), "blocks[1].widen=0"),
    "no blocks": (_set(("blocks",), []), "blocks=0 main blocks"),
    "six blocks": (_set(("blocks",), [_good()["blocks"][0]] * 6), "blocks=6 main blocks"),
    # unknown keys
    "unknown top key": (_set(("depth",), 3), "unknown key(s) ['depth']"),
    "unknown block key": (_set(("blocks", 1, "stride"), 2), "blocks[1] has unknown key(s) ['stride']"),
    # missing keys
    "missing kernel0": (_delete(("kernel0",)), "missing key(s) ['kernel0']"),
    "missing blocks": (_delete(("blocks",)), "missing key(s) ['blocks']"),
    "missing widen": (_delete(("blocks", 2, "widen")), "blocks[2] is missing key(s) ['widen']"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_dicts_name_the_field(case: str) -> None:
    edit, message = MALFORMED[case]
    with pytest.raises(InvalidArchitectureError) as info:
        SPACE.from_dict(edit(_good()))
    assert message in str(info.value)


def test_out_of_range_message_says_what_is_allowed() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"allowed values: \[1, 2, 3, .*, 12\]"):
        SPACE.from_dict(_set(("blocks", 2, "branches"), 13)(_good()))
    with pytest.raises(InvalidArchitectureError, match=r"\[8, 12, 16, 32, 48, 64\]"):
        SPACE.from_dict(_set(("out_channel0",), 10)(_good()))


def test_good_dict_and_tuple_blocks_are_accepted() -> None:
    d = _good()
    arch = SPACE.from_dict(d)
    assert arch.to_dict() == d
    d["blocks"] = tuple(d["blocks"])
    assert SPACE.from_dict(d) == arch


def test_validate_catches_an_invalid_dataclass_value() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"blocks\[0\].branches=0"):
        SPACE.validate(arch_of(("A", 1, 0, 1)))


# --- size -------------------------------------------------------------------------------
def test_size_counts_every_canonical_architecture() -> None:
    per_block = 4 * 16 * 12 * 4
    assert SPACE.size() == 6 * 3 * sum(per_block**m for m in range(1, 6))
    assert SPACE.size() == 4_926_289_802_491_385_856


def test_distinct_dicts_are_distinct_architectures() -> None:
    archs = SPACE.sample_many(2000, 11)
    dicts = {str(a.to_dict()) for a in archs}
    assert len(set(archs)) == len(dicts)


# --- sampling ---------------------------------------------------------------------------
def test_uncapped_sampling_covers_every_value() -> None:
    archs = SPACE.sample_many(3000, 0)
    blocks = [b for a in archs for b in a.blocks]
    assert {a.out_channel0 for a in archs} == {8, 12, 16, 32, 48, 64}
    assert {a.kernel0 for a in archs} == {3, 5, 7}
    assert {b.block_type for b in blocks} == {"A", "B", "C", "D"}
    assert {b.residual_blocks for b in blocks} == set(range(1, 17))
    assert {b.branches for b in blocks} == set(range(1, 13))
    assert {b.widen for b in blocks} == {1, 2, 3, 4}
    depth = collections.Counter(len(a.blocks) for a in archs)
    assert set(depth) == {1, 2, 3, 4, 5} and min(depth.values()) > 450  # uniform: 600 each


@pytest.mark.parametrize("cap", [2_000, 30_000, 500_000, 5_000_000])
def test_capped_sampling_stays_below_the_cap(cap: int) -> None:
    archs = SPACE.sample_many(300, cap, max_params=cap)
    counts = [SPACE.num_params(a) for a in archs]
    assert max(counts) < cap
    assert len(set(archs)) > 150
    # still varied: several depths and stems survive the shrinking
    assert len({len(a.blocks) for a in archs}) >= 3
    assert len({a.out_channel0 for a in archs}) >= 3


def test_capped_sampling_uses_the_given_shape() -> None:
    # 64 input channels and 50 classes cost thousands of parameters more than the defaults.
    cap = 8_000
    assert SPACE.num_params(SPACE.smallest(), (64, 8, 8), 50) > 5_000
    for seed in range(50):
        arch = SPACE.sample(seed, max_params=cap, input_shape=(64, 8, 8), num_classes=50)
        assert SPACE.num_params(arch, (64, 8, 8), 50) < cap
    # sample_many passes the shape on to sample
    many = SPACE.sample_many(50, 0, max_params=cap, input_shape=(64, 8, 8), num_classes=50)
    assert max(SPACE.num_params(a, (64, 8, 8), 50) for a in many) < cap


def test_cap_below_the_smallest_network_is_an_error() -> None:
    least = SPACE.num_params(SPACE.smallest())
    assert least == min(SPACE.num_params(a) for a in SPACE.sample_many(500, 0, max_params=5_000))
    with pytest.raises(ValueError, match=f"max_params={least}.*{least} parameters"):
        SPACE.sample(0, max_params=least)
    assert SPACE.num_params(SPACE.sample(0, max_params=least + 1)) == least


# --- mutation ---------------------------------------------------------------------------
def _changes(a: ResNetArch, b: ResNetArch) -> set[str]:
    """Which hyperparameters differ, in the vocabulary of the mutation kinds."""
    changed = set()
    if a.out_channel0 != b.out_channel0:
        changed.add("out_channel0")
    if a.kernel0 != b.kernel0:
        changed.add("kernel0")
    if len(a.blocks) != len(b.blocks):
        return changed | {"n_blocks"}
    for x, y in zip(a.blocks, b.blocks):
        if (x.block_type in "AB") != (y.block_type in "AB"):
            changed.add("residual")
        if (x.block_type in "BD") != (y.block_type in "BD"):
            changed.add("bottleneck")
        for field in ("residual_blocks", "branches", "widen"):
            if getattr(x, field) != getattr(y, field):
                changed.add(field)
    return changed


@pytest.mark.parametrize(
    "probs, allowed",
    [
        ((1.0, 0.0, 0.0), {"n_blocks", "residual_blocks", "bottleneck"}),
        ((0.0, 1.0, 0.0), {"branches", "out_channel0", "widen"}),
        ((0.0, 0.0, 1.0), {"residual", "kernel0"}),
    ],
)
def test_each_mutation_kind_changes_only_its_hyperparameters(probs, allowed) -> None:
    space = ResNetLikeSpace(*probs)
    seen: set[str] = set()
    for seed in range(300):
        parent = SPACE.sample(seed)
        child = space.mutate(parent, seed)
        changes = _changes(parent, child)
        assert changes and changes <= allowed, (parent, child, changes)
        seen |= changes
        if changes <= {"residual_blocks", "branches"}:  # add or remove one unit
            for x, y in zip(parent.blocks, child.blocks):
                assert abs(x.residual_blocks - y.residual_blocks) + abs(x.branches - y.branches) <= 1
    assert seen == allowed


def _move(parent: ResNetArch, child: ResNetArch) -> str:
    """The one move that turned ``parent`` into ``child`` (a single mutation kind applied)."""
    if len(child.blocks) != len(parent.blocks):
        return "add_block" if len(child.blocks) > len(parent.blocks) else "remove_block"
    (move,) = _changes(parent, child)
    return move


def _children(space: ResNetLikeSpace, parent: ResNetArch, n: int) -> list[ResNetArch]:
    """``n`` mutations of ``parent``, drawn as the search draws them (one batch)."""
    return space.decode_many(space.mutate_encoded(space.encode_many([parent] * n), 0))


def _uniform(counts: collections.Counter, options: set, n: int) -> bool:
    """Whether ``counts`` of ``n`` draws fall within 5 standard deviations of uniform on ``options``."""
    expected = n / len(options)
    return set(counts) == options and all(abs(counts[o] - expected) < 5 * expected**0.5 for o in options)


THREE = arch_of(("A", 3, 2, 1), ("B", 3, 2, 2), ("C", 3, 2, 1), out_channel0=16)


@pytest.mark.parametrize(
    "probs, parent, moves",
    [
        ((1.0, 0.0, 0.0), THREE, {"residual_blocks", "bottleneck", "add_block", "remove_block"}),
        ((1.0, 0.0, 0.0), arch_of(("A", 3, 2, 1)), {"residual_blocks", "bottleneck", "add_block"}),
        ((1.0, 0.0, 0.0), arch_of(*[("B", 2, 2, 1)] * 5), {"residual_blocks", "bottleneck", "remove_block"}),
        ((0.0, 1.0, 0.0), THREE, {"branches", "out_channel0", "widen"}),
        ((0.0, 0.0, 1.0), THREE, {"residual", "kernel0"}),
    ],
)
def test_a_mutation_kind_picks_uniformly_among_the_moves_that_apply(probs, parent, moves) -> None:
    # DESIGN.md's semantics, checked against the definition rather than a second implementation
    n = 6000
    assert _uniform(collections.Counter(_move(parent, c) for c in _children(ResNetLikeSpace(*probs), parent, n)),
                    moves, n)


def test_mutated_values_are_uniform_among_those_allowed() -> None:
    n = 12000
    width = _children(ResNetLikeSpace(0.0, 1.0, 0.0), THREE, n)
    stems = [c.out_channel0 for c in width if c.out_channel0 != THREE.out_channel0]
    assert _uniform(collections.Counter(stems), {8, 12, 32, 48, 64}, len(stems))
    changed = [next(i for i, (x, y) in enumerate(zip(THREE.blocks, c.blocks)) if x != y)
               for c in width if c.out_channel0 == THREE.out_channel0]
    assert _uniform(collections.Counter(changed), {0, 1, 2}, len(changed))  # which main block
    depth = _children(ResNetLikeSpace(1.0, 0.0, 0.0), THREE, n)
    steps = [sum(y.residual_blocks - x.residual_blocks for x, y in zip(THREE.blocks, c.blocks))
             for c in depth if _move(THREE, c) == "residual_blocks"]
    assert _uniform(collections.Counter(steps), {-1, 1}, len(steps))  # one more or one fewer
    added = [c for c in depth if len(c.blocks) == 4]
    at = [next((i for i, (x, y) in enumerate(zip(THREE.blocks, c.blocks)) if x != y), 3) for c in added]
    assert _uniform(collections.Counter(at), {0, 1, 2, 3}, len(added))  # where the new main block goes
    new = [c.blocks[i] for c, i in zip(added, at)]
    assert _uniform(collections.Counter(b.block_type for b in new), {"A", "B", "C", "D"}, len(new))
    assert _uniform(collections.Counter(b.widen for b in new), {1, 2, 3, 4}, len(new))


def test_default_mutation_probabilities_are_the_papers() -> None:
    assert (SPACE.p_depth, SPACE.p_width, SPACE.p_other) == (0.8, 0.8, 0.6)


def test_mutation_kinds_follow_their_probabilities() -> None:
    # With depth alone at probability 1 and the others rare, nearly every child is depth-only.
    space = ResNetLikeSpace(p_depth=1.0, p_width=0.05, p_other=0.05)
    depth_only = 0
    for seed in range(400):
        parent = SPACE.sample(seed)
        changes = _changes(parent, space.mutate(parent, seed))
        depth_only += changes <= {"n_blocks", "residual_blocks", "bottleneck"}
    assert depth_only > 320  # expected about 0.95 * 0.95 * 400 = 361


@pytest.mark.parametrize("probs", [(-0.1, 0.8, 0.6), (0.8, 1.5, 0.6), (0.0, 0.0, 0.0)])
def test_bad_probabilities_are_rejected(probs) -> None:
    with pytest.raises(ValueError, match="p_"):
        ResNetLikeSpace(*probs)


def test_mutation_at_range_edges_stays_valid() -> None:
    edge = arch_of(("A", 16, 12, 4), ("D", 1, 1, 1), ("B", 16, 1, 4), ("C", 1, 12, 1), ("A", 8, 6, 2),
                   out_channel0=64, kernel0=7)
    smallest = SPACE.smallest()
    for seed in range(200):
        for parent in (edge, smallest):
            child = SPACE.mutate(parent, seed)
            assert child != parent and SPACE.validate(child) == child


def test_capped_mutation_and_impossible_cap() -> None:
    for seed in range(100):
        parent = SPACE.sample(seed, max_params=40_000)
        child = SPACE.mutate(parent, seed, max_params=40_000)
        assert child != parent and SPACE.num_params(child) < 40_000
    with pytest.raises(ValueError, match="no different architecture below max_params"):
        SPACE.mutate(SPACE.smallest(), 0, max_params=SPACE.num_params(SPACE.smallest()), max_tries=50)


# --- crossover --------------------------------------------------------------------------
def test_crossover_mixes_parents_field_by_field() -> None:
    a = arch_of(("A", 3, 1, 1), ("B", 2, 2, 2), out_channel0=16, kernel0=3)
    b = arch_of(("C", 5, 4, 1), ("D", 1, 1, 3), ("A", 2, 2, 2), ("B", 1, 1, 1), out_channel0=64, kernel0=7)
    children = [SPACE.crossover(a, b, seed) for seed in range(200)]
    for child in children:
        assert SPACE.validate(child) == child
        assert child.out_channel0 in (16, 64) and child.kernel0 in (3, 7)
        assert len(child.blocks) in (2, 4)
        for i, block in enumerate(child.blocks):
            assert block in [p.blocks[i] for p in (a, b) if i < len(p.blocks)]
    assert {c.out_channel0 for c in children} == {16, 64}
    assert {len(c.blocks) for c in children} == {2, 4}
    assert {c.blocks[0] for c in children} == {a.blocks[0], b.blocks[0]}
    assert SPACE.crossover(a, a, 3) == a


# --- the network ------------------------------------------------------------------------
def test_kernel0_changes_the_stem() -> None:
    counts = []
    for k in (3, 5, 7):
        model = SPACE.build(arch_of(("A", 1, 1, 1), kernel0=k), (3, 16, 16))
        assert model.stem[0].kernel_size == (k, k)
        counts.append(SPACE.num_params(arch_of(("A", 1, 1, 1), kernel0=k)))
    assert counts[0] < counts[1] < counts[2]


def test_block_types_build_different_networks() -> None:
    shapes = {t: SPACE.layer_shapes(arch_of((t, 1, 1, 1), (t, 1, 1, 2))) for t in "ABCD"}
    assert shapes["A"] != shapes["B"]
    # basic: two 3x3 convs per branch; bottleneck: 1x1, 3x3, 1x1 with mid = out // 4
    assert shapes["A"][1:3] == [(8 * 9, 8), (8 * 9, 8)]
    assert shapes["B"][1:4] == [(8, 2), (2 * 9, 2), (2, 8)]
    # no residual: the projection shortcut of the widened second block disappears
    assert shapes["C"] == [s for s in shapes["A"] if s != (8, 16)]
    assert shapes["D"] == [s for s in shapes["B"] if s != (8, 16)]


def test_bottleneck_mid_channels_never_reach_zero() -> None:
    arch = arch_of(("B", 1, 1, 1), out_channel0=8)
    assert SPACE.layer_shapes(arch, (1, 8, 8), 3)[1:4] == [(8, 2), (18, 2), (2, 8)]
    model = SPACE.build(arch, (1, 8, 8), 3)
    assert n_params(model) == SPACE.num_params(arch, (1, 8, 8), 3)


def test_residual_connection_changes_the_output() -> None:
    # With an identity shortcut A and C have the same weights; only the sum differs.
    with_res, without = arch_of(("A", 2, 2, 1)), arch_of(("C", 2, 2, 1))
    assert SPACE.num_params(with_res) == SPACE.num_params(without)
    torch.manual_seed(0)
    a = SPACE.build(with_res, (3, 8, 8)).eval()
    c = SPACE.build(without, (3, 8, 8)).eval()
    c.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(a(x), c(x))


def test_main_blocks_after_the_first_downsample_even_tiny_maps() -> None:
    arch = arch_of(("A", 1, 1, 1), ("B", 1, 2, 2), ("C", 2, 1, 1), ("D", 1, 1, 2), ("A", 1, 2, 1))
    model = SPACE.build(arch, (1, 8, 8), 10).eval()
    x = model.stem(torch.randn(2, 1, 8, 8))
    sides = []
    with torch.no_grad():
        for stage in model.stages:
            x = stage(x)
            sides.append(tuple(x.shape[1:]))
        assert model.classifier(torch.flatten(model.pool(x), 1)).shape == (2, 10)
    assert sides == [(8, 8, 8), (16, 4, 4), (16, 2, 2), (32, 1, 1), (32, 1, 1)]


def test_fashion_mnist_shape() -> None:
    arch = arch_of(("B", 2, 2, 1), ("A", 1, 1, 2), ("D", 1, 3, 2))
    model = SPACE.build(arch, (1, 28, 28), 10).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_num_params_matches_build_for_a_mixed_network() -> None:
    arch = arch_of(("A", 1, 2, 2), ("B", 2, 1, 3), ("C", 1, 2, 1), ("D", 1, 3, 2), kernel0=5)
    for shape, classes in (((3, 32, 32), 10), ((1, 28, 28), 100)):
        model = SPACE.build(arch, shape, classes)
        assert SPACE.num_params(arch, shape, classes) == n_params(model)


def test_num_params_agrees_with_layer_shapes_on_huge_networks() -> None:
    # Every conv carries a BatchNorm (2 per output channel); the classifier a bias.
    for arch in SPACE.sample_many(100, 5) + [arch_of(*[("A", 16, 12, 4)] * 5, out_channel0=64, kernel0=7)]:
        shapes = SPACE.layer_shapes(arch, (3, 32, 32), 10)
        expected = sum(r * c + 2 * c for r, c in shapes[:-1]) + shapes[-1][0] * 10 + 10
        assert SPACE.num_params(arch, (3, 32, 32), 10) == expected
    assert SPACE.num_params(arch_of(*[("A", 16, 12, 4)] * 5, out_channel0=64, kernel0=7)) > 10**10


def test_num_params_is_fast() -> None:
    archs = SPACE.sample_many(10_000, 2024)
    start = time.perf_counter()
    counts = [SPACE.num_params(a) for a in archs]
    elapsed = time.perf_counter() - start
    assert all(isinstance(c, int) and c > 0 for c in counts)
    assert elapsed < 1.0, f"num_params took {elapsed:.3f} s for 10,000 architectures"


# --- features ---------------------------------------------------------------------------
def test_encode_resnet20() -> None:
    names = SPACE.feature_names
    vec = dict(zip(names, SPACE.encode(resnet20())))
    assert len(names) == 3 + 5 * 7
    assert (vec["out_channel0"], vec["kernel0"], vec["n_blocks"]) == (16, 3, 3)
    assert (vec["block2_type_A"], vec["block2_type_B"], vec["block2_widen"]) == (1, 0, 2)
    assert (vec["block3_residual_blocks"], vec["block3_branches"]) == (3, 1)
    assert all(v == 0 for k, v in vec.items() if k.startswith(("block4_", "block5_")))


def test_encode_one_hot_type_per_used_slot() -> None:
    enc = SPACE.encode_many(SPACE.sample_many(200, 9))
    types = enc[:, 3:].reshape(-1, 5, 7)[:, :, :4].sum(axis=2)
    used = np.arange(5)[None, :] < enc[:, 2:3]
    np.testing.assert_array_equal(types, used.astype(float))


def test_cached_hash_survives_pickling_into_another_process():
    # ResNetArch caches its hash; block types are strings, whose hashes differ between
    # processes, so an unpickled architecture must hash as one built there (a Dask worker's
    # dict lookups depend on it).
    arch = ResNetLikeSpace().sample(0)
    assert hash(arch) == hash(ResNetArch(arch.out_channel0, arch.kernel0, list(arch.blocks)))
    assert hash(dataclasses.replace(arch, kernel0=7)) == hash(ResNetArch(arch.out_channel0, 7, arch.blocks))
    code = (
        "import pickle, sys\n"
        "from search_spaces import ResNetArch\n"
        "a = pickle.loads(sys.stdin.buffer.read())\n"
        "b = ResNetArch(a.out_channel0, a.kernel0, a.blocks)\n"
        "assert hash(a) == hash(b) and a in {b: 1}, 'stale hash'\n"
    )
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(arch), env=env,
                              capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
