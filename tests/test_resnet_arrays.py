"""The ResNet-like space's vectorised operations on encodings agree with the object ones."""

from __future__ import annotations

import gc
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import ResNetLikeSpace, resnet20
from search_spaces.base import paused_gc

SPACE = ResNetLikeSpace()


def _encoded(n: int, seed: int) -> tuple[list, np.ndarray]:
    archs = SPACE.sample_many(n, seed)
    return archs, SPACE.encode_many(archs)


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
