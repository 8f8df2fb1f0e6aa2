"""The common search-space interface, checked on both spaces, with hypothesis property tests.

Only small networks are built (ResNet-like archs capped at RESNET_CAP parameters, NB201 with
narrow, short stages, tiny inputs): the ResNet-like space reaches billions of parameters.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from search_spaces import (
    SPACES,
    InvalidArchitectureError,
    NB201Arch,
    NB201Space,
    ResNetLikeSpace,
    SearchSpace,
    get_space,
    resnet20,
)

# Tiny networks are dominated by per-op overhead; one thread avoids fighting over 2 cores.
torch.set_num_threads(1)

RESNET_CAP = 20_000
# Build cost grows with the number of layers, not parameters; mixing caps keeps 1,000 builds
# quick while still reaching networks of ~100 conv layers.
RESNET_CAPS = st.sampled_from([1_000, 4_000, RESNET_CAP])
SEEDS = st.integers(0, 2**32 - 1)
# Odd sides check that strided convs and shortcuts agree on the output size.
INPUT_SHAPES = st.tuples(st.sampled_from([1, 3]), st.sampled_from([7, 8, 9]), st.sampled_from([8, 9]))
NUM_CLASSES = st.integers(1, 12)

RESNET = ResNetLikeSpace()
# The standard NB201 network is slow to build 1,000 times; narrow, short stages run the same code.
NB201_SMALL = NB201Space(channels=4, cells_per_stage=1)


def module_shapes(model: nn.Module) -> list[tuple[int, int]]:
    """(rows, cols) of the model's Conv2d / Linear weights as a crossbar sees them, in order."""
    shapes = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            shapes.append((m.in_channels // m.groups * kh * kw, m.out_channels))
        elif isinstance(m, nn.Linear):
            shapes.append((m.in_features, m.out_features))
    return shapes


def check_architecture(space: SearchSpace, arch, input_shape, num_classes: int) -> None:
    """Everything the interface promises about one architecture that is cheap to build."""
    assert isinstance(arch, space.arch_type)
    assert space.validate(arch) == arch
    assert space.validate(arch.to_dict()) == arch
    again = space.from_dict(json.loads(json.dumps(arch.to_dict())))
    assert again == arch and hash(again) == hash(arch)
    assert again.to_dict() == arch.to_dict()

    model = space.build(arch, input_shape, num_classes)
    assert isinstance(model, nn.Module)
    assert space.num_params(arch, input_shape, num_classes) == sum(p.numel() for p in model.parameters())
    assert space.layer_shapes(arch, input_shape, num_classes) == module_shapes(model)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, num_classes)
    assert torch.isfinite(out).all()


def check_mutation(space: SearchSpace, arch, seed: int, **kwargs) -> None:
    child = space.mutate(arch, seed, **kwargs)
    assert child != arch
    assert space.validate(child) == child
    assert space.from_dict(json.loads(json.dumps(child.to_dict()))) == child


@settings(max_examples=1000, deadline=None)
@given(seed=SEEDS, cap=RESNET_CAPS, input_shape=INPUT_SHAPES, num_classes=NUM_CLASSES)
def test_resnet_like_properties(seed: int, cap: int, input_shape, num_classes: int) -> None:
    arch = RESNET.sample(seed, max_params=cap, input_shape=input_shape, num_classes=num_classes)
    assert RESNET.num_params(arch, input_shape, num_classes) < cap
    check_architecture(RESNET, arch, input_shape, num_classes)
    check_mutation(RESNET, arch, seed)
    capped = RESNET.mutate(arch, seed, max_params=cap, input_shape=input_shape, num_classes=num_classes)
    assert capped != arch and RESNET.num_params(capped, input_shape, num_classes) < cap
    child = RESNET.crossover(arch, RESNET.sample(seed + 1), seed)
    assert RESNET.validate(child) == child


@settings(max_examples=1000, deadline=None)
@given(seed=SEEDS, input_shape=INPUT_SHAPES, num_classes=NUM_CLASSES)
def test_nb201_properties(seed: int, input_shape, num_classes: int) -> None:
    arch = NB201_SMALL.sample(seed)
    check_architecture(NB201_SMALL, arch, input_shape, num_classes)
    check_mutation(NB201_SMALL, arch, seed)
    child = NB201_SMALL.crossover(arch, NB201_SMALL.sample(seed + 1), seed)
    assert NB201_SMALL.validate(child) == child


def test_property_tests_see_many_distinct_architectures() -> None:
    # The property tests draw from seeds; the draws they turn into must not collapse.
    resnet = {RESNET.sample(s, max_params=RESNET_CAP, input_shape=(1, 8, 8)) for s in range(1000)}
    nb201 = {NB201_SMALL.sample(s) for s in range(1000)}
    assert len(resnet) > 950
    assert len(nb201) > 950


# --- the registry -----------------------------------------------------------------------
@pytest.fixture(params=sorted(SPACES))
def space(request) -> SearchSpace:
    return get_space(request.param)


def test_spaces_registry() -> None:
    assert SPACES == {"resnet_like": ResNetLikeSpace, "nb201": NB201Space}
    for name, cls in SPACES.items():
        made = get_space(name)
        assert type(made) is cls and made.name == name


def test_get_space_passes_settings() -> None:
    assert get_space("nb201", channels=8).channels == 8
    assert get_space("resnet_like", p_other=0.1).p_other == 0.1


def test_get_space_unknown_name_lists_allowed() -> None:
    with pytest.raises(ValueError, match=r"'darts'.*\['nb201', 'resnet_like'\]"):
        get_space("darts")


# --- reproducibility --------------------------------------------------------------------
def test_sampling_is_reproducible(space: SearchSpace) -> None:
    assert space.sample(123) == space.sample(123)
    assert space.sample_many(50, 7) == space.sample_many(50, 7)
    assert space.sample_many(50, np.random.default_rng(7)) == space.sample_many(50, 7)
    assert len({space.sample(s) for s in range(20)}) > 10


def test_mutation_and_crossover_are_reproducible(space: SearchSpace) -> None:
    a, b = space.sample(1), space.sample(2)
    assert space.mutate(a, 99) == space.mutate(a, 99)
    assert space.crossover(a, b, 5) == space.crossover(a, b, 5)
    assert len({space.mutate(a, s) for s in range(20)}) > 5


def test_shared_generator_advances(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    first, second = space.sample(rng), space.sample(rng)
    assert [first, second] == space.sample_many(2, 0)


# --- validation of things that are not architectures ------------------------------------
@pytest.mark.parametrize("value", [None, "arch", [1, 2, 3], 42])
def test_validate_rejects_non_architectures(space: SearchSpace, value) -> None:
    with pytest.raises(InvalidArchitectureError, match=space.arch_type.__name__):
        space.validate(value)


def test_validate_rejects_other_space_arch() -> None:
    with pytest.raises(InvalidArchitectureError, match="ResNetArch"):
        RESNET.validate(NB201Arch((0,) * 6))
    with pytest.raises(InvalidArchitectureError, match="NB201Arch"):
        NB201Space().validate(resnet20())


def test_invalid_architecture_error_is_value_error() -> None:
    assert issubclass(InvalidArchitectureError, ValueError)


# --- counting and features --------------------------------------------------------------
def test_size_is_a_positive_int(space: SearchSpace) -> None:
    assert type(space.size()) is int and space.size() > 1000


def test_num_tiles_matches_built_weights(space: SearchSpace) -> None:
    # Never build an uncapped ResNet-like sample: it can have billions of parameters.
    if isinstance(space, NB201Space):
        small, draw = NB201_SMALL, NB201_SMALL.sample
    else:
        small, draw = space, lambda seed: space.sample(seed, max_params=RESNET_CAP)
    for seed in range(10):
        arch = draw(seed)
        shapes = module_shapes(small.build(arch, (3, 8, 8), 10))
        for tile in (1, 16, 64, 512):
            expected = sum(math.ceil(r / tile) * math.ceil(c / tile) for r, c in shapes)
            assert small.num_tiles(arch, tile, (3, 8, 8), 10) == expected
        assert small.num_tiles(arch, 1, (3, 8, 8), 10) == sum(r * c for r, c in shapes)


def test_num_tiles_rejects_bad_tile_size(space: SearchSpace) -> None:
    with pytest.raises(ValueError, match="tile_size"):
        space.num_tiles(space.sample(0), 0)


def test_encode_is_fixed_length_and_matches_encode_many(space: SearchSpace) -> None:
    archs = space.sample_many(300, 3)
    names = space.feature_names
    assert len(names) == len(set(names))
    many = space.encode_many(archs)
    assert many.shape == (300, len(names)) and many.dtype == np.float64
    for arch, row in zip(archs[:50], many[:50]):
        vec = space.encode(arch)
        assert vec.shape == (len(names),)
        np.testing.assert_array_equal(vec, row)
    # distinct architectures are told apart by their features
    assert len({tuple(r) for r in many}) == len(set(archs))
    assert space.encode_many([]).shape == (0, len(names))


def test_feature_names_is_a_copy(space: SearchSpace) -> None:
    space.feature_names.append("junk")
    assert "junk" not in space.feature_names


def test_pick_is_uniform_over_the_options() -> None:
    from search_spaces.base import pick

    rng = np.random.default_rng(0)
    options = ("a", "b", "c", "d", "e")
    counts = {o: 0 for o in options}
    for _ in range(20_000):
        counts[pick(options, rng)] += 1
    # 4,000 expected each; 5 standard deviations is about 280
    assert all(abs(c - 4_000) < 300 for c in counts.values()), counts
    assert pick(range(3, 4), rng) == 3
