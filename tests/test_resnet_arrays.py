"""The ResNet-like space's vectorised operations on encodings agree with the object ones."""

from __future__ import annotations

import gc
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import MainBlock, ResNetArch, ResNetLikeSpace, resnet20
from search_spaces.base import paused_gc

SPACE = ResNetLikeSpace()


def _encoded(n: int, seed: int) -> tuple[list, np.ndarray]:
    archs = SPACE.sample_many(n, seed)
    return archs, SPACE.encode_many(archs)


# every field at an end of its range, and the block counts where a depth move is missing
EDGES = [
    ResNetArch(64, 7, (MainBlock("A", 16, 12, 4), MainBlock("D", 1, 1, 1), MainBlock("B", 16, 1, 4),
                       MainBlock("C", 1, 12, 1), MainBlock("A", 8, 6, 2))),
    SPACE.smallest(),
    resnet20(),
]


def test_decode_inverts_encode():
    archs, enc = _encoded(500, 0)
    decoded = SPACE.decode_many(enc)
    assert decoded == archs
    assert [hash(a) for a in decoded] == [hash(a) for a in archs]
    assert SPACE.decode_many(np.zeros((0, enc.shape[1]))) == []
    with pytest.raises(ValueError, match="shape"):
        SPACE.decode_many(enc[:, :10])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), tile=st.sampled_from([16, 64, 256, 512]),
       shape=st.sampled_from([(3, 32, 32), (1, 28, 28), (5, 8, 8)]), classes=st.integers(1, 200))
def test_counts_encoded_equal_the_exact_counts(seed, tile, shape, classes):
    archs, enc = _encoded(40, seed)
    params, tiles = SPACE.counts_encoded(enc, tile, shape, classes)
    assert params.tolist() == [SPACE.num_params(a, shape, classes) for a in archs]
    assert tiles.tolist() == [SPACE.num_tiles(a, tile, shape, classes) for a in archs]


def test_mutate_encoded_changes_every_row_into_a_valid_architecture():
    archs, enc = _encoded(400, 1)
    child = SPACE.mutate_encoded(enc, 2)
    assert (child != enc).any(axis=1).all()
    for a, c in zip(archs, SPACE.decode_many(child)):
        assert SPACE.validate(c) == c and c != a
    assert np.array_equal(SPACE.encode_many(SPACE.decode_many(child)), child)  # canonical rows
    assert np.array_equal(SPACE.mutate_encoded(enc, 7), SPACE.mutate_encoded(enc, 7))  # seeded
    assert np.array_equal(enc, SPACE.encode_many(archs))  # the input is left alone


@pytest.mark.parametrize("probs", [(0.8, 0.8, 0.6), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0),
                                   (0.05, 0.3, 0.01)])
def test_mutate_is_mutate_encoded_on_a_batch_of_one(probs):
    # one implementation: the object API decodes the vectorised mutation of its encoding
    space = ResNetLikeSpace(*probs)
    parents = SPACE.sample_many(200, 8) + EDGES

    def encoded(parent, rng):
        return space.decode_many(space.mutate_encoded(space.encode_many([parent]), rng))[0]

    for seed, parent in enumerate(parents):
        assert space.mutate(parent, seed) == encoded(parent, seed), (seed, parent)
    # a shared generator advances alike through both
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    for parent in parents:
        assert space.mutate(parent, r1) == encoded(parent, r2)
    assert r1.random() == r2.random()


def test_capped_mutate_redraws_encoded_mutations_until_one_fits():
    cap, rejected = 40_000, 0
    for seed in range(100):
        parent = SPACE.sample(seed, max_params=cap)
        rng, enc = np.random.default_rng(seed), SPACE.encode_many([parent])
        while SPACE.num_params(child := SPACE.decode_many(SPACE.mutate_encoded(enc, rng))[0]) >= cap:
            rejected += 1
        assert SPACE.mutate(parent, seed, max_params=cap) == child
    assert rejected > 20  # the cap did turn children away


def test_crossover_is_crossover_encoded_on_a_batch_of_one():
    a_archs, b_archs = SPACE.sample_many(200, 9) + EDGES, EDGES + SPACE.sample_many(200, 10)
    for seed, (a, b) in enumerate(zip(a_archs, b_archs)):
        expected = SPACE.decode_many(SPACE.crossover_encoded(SPACE.encode_many([a]), SPACE.encode_many([b]), seed))
        assert SPACE.crossover(a, b, seed) == expected[0]


def _signature(parent, child) -> tuple:
    """What a mutation changed, coarsely: stem fields, block count, and per field how many
    main blocks differ."""
    pairs = list(zip(parent.blocks, child.blocks))
    return (parent.out_channel0 != child.out_channel0, parent.kernel0 != child.kernel0,
            len(child.blocks) - len(parent.blocks),
            *(sum(getattr(p, f) != getattr(c, f) for p, c in pairs)
              for f in ("block_type", "residual_blocks", "branches", "widen")))


def _distance(a: list, b: list, parent) -> float:
    """Total variation distance between the signatures of two samples of children."""
    ca, cb = Counter(_signature(parent, c) for c in a), Counter(_signature(parent, c) for c in b)
    return sum(abs(ca[k] - cb[k]) for k in ca.keys() | cb.keys()) / (len(a) + len(b))


@pytest.mark.parametrize("probs", [(0.8, 0.8, 0.6), (1.0, 0.0, 0.0), (0.0, 0.3, 0.1)])
def test_mutate_encoded_draws_like_mutate(probs):
    # mutate runs a batch of one on numpy scalars, a batch runs on arrays: same distribution
    space = ResNetLikeSpace(*probs)
    rng = np.random.default_rng(0)
    n = 3000
    for parent in (resnet20(), space.sample(5), space.sample(6)):
        vec = space.decode_many(space.mutate_encoded(np.repeat(space.encode_many([parent]), n, axis=0), rng))
        obj = [space.mutate(parent, rng) for _ in range(n)]
        obj2 = [space.mutate(parent, rng) for _ in range(n)]
        twice = [space.mutate(c, rng) for c in obj2]
        noise = _distance(obj, obj2, parent)  # two samples of one distribution
        assert _distance(vec, obj, parent) < 1.5 * noise + 0.02
        # the test can tell distributions apart: two mutations in a row are far off
        assert _distance(twice, obj, parent) > 2 * noise + 0.1


def test_crossover_encoded_takes_each_part_from_a_parent():
    a_archs, a = _encoded(300, 3)
    b_archs, b = _encoded(300, 4)
    children = SPACE.decode_many(SPACE.crossover_encoded(a, b, 5))
    mixed = 0
    for pa, pb, c in zip(a_archs, b_archs, children):
        SPACE.validate(c)
        assert c.out_channel0 in (pa.out_channel0, pb.out_channel0)
        assert c.kernel0 in (pa.kernel0, pb.kernel0)
        assert len(c.blocks) in (len(pa.blocks), len(pb.blocks))
        for i, block in enumerate(c.blocks):
            assert block in [p.blocks[i] for p in (pa, pb) if i < len(p.blocks)]
        mixed += c not in (pa, pb)
    assert mixed > 200
    same = SPACE.crossover_encoded(a, a, 0)
    assert np.array_equal(same, a)


def test_other_spaces_say_they_have_no_encoded_operations():
    from search_spaces import NB201Space

    space = NB201Space()
    assert not space.has_encoded_ops
    with pytest.raises(NotImplementedError):
        space.mutate_encoded(np.zeros((1, 30)))


def test_paused_gc_restores_the_collector_state():
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()
