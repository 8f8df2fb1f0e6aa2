"""Vectorised operations on ResNet-like encodings (rows of ``ResNetLikeSpace.encode_many``).

The evolutionary search scores tens of thousands of candidates per second. Mutating,
crossing and counting them one Python object at a time costs more than the surrogate's
trees, so :class:`~search_spaces.resnet.ResNetLikeSpace` also offers these operations on
whole arrays of encodings: one numpy call per step over every candidate of a batch.

Every function here has an object counterpart in ``resnet.py`` with the same semantics
(tests compare them): :func:`mutate` / ``ResNetLikeSpace.mutate``, :func:`crossover` /
``crossover``, :func:`layer_stats` / ``num_params`` and ``num_tiles``.

An encoding row is ``out_channel0, kernel0, n_blocks`` then, per main-block slot 1-5,
the type one-hot (A, B, C, D), ``residual_blocks``, ``branches`` and ``widen``; unused
slots are zeros. Type indices are A=0, B=1, C=2, D=3, so ``t ^ 1`` swaps basic and
bottleneck and ``t ^ 2`` adds or removes the residual shortcut.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .resnet import BLOCK_TYPES, BRANCHES, MAX_MAIN_BLOCKS, RESIDUAL_BLOCKS, WIDEN
from .resnet import KERNEL0 as _KERNEL0
from .resnet import OUT_CHANNEL0 as _OUT_CHANNEL0

OUT_CHANNEL0 = np.array(_OUT_CHANNEL0)
KERNEL0 = np.array(_KERNEL0)
N_TYPES = len(BLOCK_TYPES)
# the ranges below start at 1, which the arithmetic here relies on
MAX_RESIDUAL_BLOCKS, MAX_BRANCHES, MAX_WIDEN = RESIDUAL_BLOCKS[-1], BRANCHES[-1], WIDEN[-1]
SLOT_WIDTH = N_TYPES + 3
WIDTH = 3 + MAX_MAIN_BLOCKS * SLOT_WIDTH
_SLOT = np.arange(MAX_MAIN_BLOCKS)

# mutation moves, by kind (the order of ResNetLikeSpace._mutate_once's lists)
_RESIDUAL_BLOCKS, _BOTTLENECK, _ADD, _REMOVE = 0, 1, 2, 3
_BRANCHES, _OUT_CHANNEL0, _WIDEN = 0, 1, 2
_RESIDUAL, _KERNEL0 = 0, 1


# columns of an encoding row, and of one main-block slot (a view of shape (n, 5, SLOT_WIDTH))
_OC, _K0, _NB = 0, 1, 2
_TYPE = slice(0, N_TYPES)
_RB, _BR, _WD = N_TYPES, N_TYPES + 1, N_TYPES + 2
# one-hot column permutations: t ^ 1 (basic <-> bottleneck) and t ^ 2 (residual <-> plain)
_SWAP_BOTTLENECK = [1, 0, 3, 2]
_SWAP_RESIDUAL = [2, 3, 0, 1]


def as_encodings(enc: np.ndarray) -> np.ndarray:
    """``enc`` as a float array of shape (n, WIDTH), or a ValueError naming the shape."""
    e = np.asarray(enc, dtype=float)
    if e.ndim != 2 or e.shape[1] != WIDTH:
        raise ValueError(f"encodings must have shape (n, {WIDTH}), got {e.shape}")
    return e


def slots(enc: np.ndarray) -> np.ndarray:
    """The main-block slots of encodings, as a (n, 5, SLOT_WIDTH) view."""
    return enc[:, 3:].reshape(len(enc), MAX_MAIN_BLOCKS, SLOT_WIDTH)


def _other_value(values: np.ndarray, allowed: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A value of ``allowed`` other than each of ``values``, uniformly."""
    k = (u * (len(allowed) - 1)).astype(np.int64)
    return allowed[k + (k >= np.searchsorted(allowed, values))]


def _step(value: np.ndarray, top: int, u: np.ndarray) -> np.ndarray:
    """value +- 1 with equal odds, staying inside 1..top (one option at either end)."""
    up = np.where(value <= 1, True, np.where(value >= top, False, u < 0.5))
    return np.where(up, value + 1, value - 1)


def _random_blocks(u: np.ndarray) -> np.ndarray:
    """Slots of uniformly drawn main blocks, from 4 uniforms per row."""
    out = np.zeros((len(u), SLOT_WIDTH))
    out[np.arange(len(u)), (u[:, 0] * N_TYPES).astype(np.int64)] = 1.0
    out[:, _RB] = 1 + np.floor(u[:, 1] * MAX_RESIDUAL_BLOCKS)
    out[:, _BR] = 1 + np.floor(u[:, 2] * MAX_BRANCHES)
    out[:, _WD] = 1 + np.floor(u[:, 3] * MAX_WIDEN)
    return out


_ALL_WIDEN = np.arange(1, MAX_WIDEN + 1, dtype=float)


def _mutate_once(enc: np.ndarray, kind: str, rows: np.ndarray, rng: np.random.Generator) -> None:
    """One mutation of ``kind`` on each of ``rows`` of ``enc`` (in place), chosen uniformly
    among those that apply, as ``ResNetLikeSpace._mutate_once`` does for one architecture."""
    u = rng.random((len(rows), 8))
    sub = enc[rows]
    nb = sub[:, _NB].astype(np.int64)
    slot = (u[:, 1] * nb).astype(np.int64)  # the main block an in-block move changes
    s = slots(sub)
    if kind == "depth":
        can_add, can_remove = nb < MAX_MAIN_BLOCKS, nb > 1
        c = (u[:, 0] * (2 + can_add + can_remove)).astype(np.int64)
        move = np.where(c < 2, c, np.where(can_add & (c == 2), _ADD, _REMOVE))
    else:
        move = (u[:, 0] * (3 if kind == "width" else 2)).astype(np.int64)

    def pick(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sel = np.flatnonzero(move == m)
        return sel, slot[sel], u[sel]

    if kind == "depth":
        r, i, v = pick(_RESIDUAL_BLOCKS)
        s[r, i, _RB] = _step(s[r, i, _RB], MAX_RESIDUAL_BLOCKS, v[:, 2])
        r, i, v = pick(_BOTTLENECK)
        s[r, i, _TYPE] = s[r, i][:, _SWAP_BOTTLENECK]
        r, i, v = pick(_ADD)
        at = (v[:, 1] * (nb[r] + 1)).astype(np.int64)[:, None, None]
        old = s[r]
        shifted = np.concatenate([old[:, :1], old[:, :-1]], axis=1)  # slot j takes j - 1
        s[r] = np.where(_SLOT[:, None] < at, old,
                        np.where(_SLOT[:, None] == at, _random_blocks(v[:, 4:8])[:, None, :], shifted))
        sub[r, _NB] += 1
        r, i, v = pick(_REMOVE)
        old = s[r]
        shifted = np.concatenate([old[:, 1:], np.zeros_like(old[:, :1])], axis=1)  # slot j takes j + 1
        s[r] = np.where(_SLOT[:, None] < i[:, None, None], old, shifted)
        sub[r, _NB] -= 1
    elif kind == "width":
        r, i, v = pick(_BRANCHES)
        s[r, i, _BR] = _step(s[r, i, _BR], MAX_BRANCHES, v[:, 2])
        r, i, v = pick(_OUT_CHANNEL0)
        sub[r, _OC] = _other_value(sub[r, _OC], OUT_CHANNEL0, v[:, 2])
        r, i, v = pick(_WIDEN)
        s[r, i, _WD] = _other_value(s[r, i, _WD], _ALL_WIDEN, v[:, 2])
    else:
        r, i, v = pick(_RESIDUAL)
        s[r, i, _TYPE] = s[r, i][:, _SWAP_RESIDUAL]
        r, i, v = pick(_KERNEL0)
        sub[r, _K0] = _other_value(sub[r, _K0], KERNEL0, v[:, 2])
    enc[rows] = sub


def mutate(enc: np.ndarray, rng: np.random.Generator, kinds: tuple[tuple[str, float], ...],
           max_tries: int = 1000) -> np.ndarray:
    """Mutate every row: each (kind, probability) applied independently, the kinds redrawn
    for rows where none was drawn, so every output row differs from its input row."""
    parents = as_encodings(enc)
    probs = np.array([p for _, p in kinds])
    # Every move changes the architecture and no two kinds undo each other, so a child is
    # unchanged exactly when no kind was drawn: redraw those rows' kinds up front (the
    # object version redraws after the fact; the distribution is the same).
    applied = rng.random((len(parents), len(kinds))) < probs
    for _ in range(max_tries):
        none = ~applied.any(axis=1)
        if not none.any():
            break
        applied[none] = rng.random((int(none.sum()), len(kinds))) < probs
    else:
        raise ValueError(f"no mutation kind drawn in {max_tries} tries (probabilities {probs.tolist()})")
    child = parents.copy()
    for k, (kind, _) in enumerate(kinds):
        rows = np.flatnonzero(applied[:, k])
        if len(rows):
            _mutate_once(child, kind, rows, rng)
    return child


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise crossover of two parent arrays, as ``ResNetLikeSpace.crossover``: stem fields
    and block count from either parent, main block i from either parent that has one."""
    a, b = as_encodings(a), as_encodings(b)
    coin = rng.random((len(a), 3 + MAX_MAIN_BLOCKS)) < 0.5
    child = np.where(coin[:, :1], a, b)  # out_channel0 by the first coin; the rest is set below
    child[:, _K0] = np.where(coin[:, 1], a[:, _K0], b[:, _K0])
    child[:, _NB] = np.where(coin[:, 2], a[:, _NB], b[:, _NB])
    has_a, has_b = _SLOT < a[:, _NB:_NB + 1], _SLOT < b[:, _NB:_NB + 1]
    from_a = has_a & (~has_b | coin[:, 3:])
    child_slots = np.where(from_a[..., None], slots(a), slots(b))
    child_slots[_SLOT >= child[:, _NB:_NB + 1]] = 0.0
    child[:, 3:] = child_slots.reshape(len(a), -1)
    return child


# --- exact counts ---------------------------------------------------------------------------
def layer_stats(enc: np.ndarray, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
                tile_size: int = 512) -> dict[str, np.ndarray]:
    """Exact ``params`` and ``tiles`` of each encoded network, and its ``macs`` per input
    pixel (the stem keeps the resolution, each later main block halves it), plus per-slot
    arrays the surrogate's features and the cost model reuse; vectorised over networks and
    main blocks.

    Every main block is seven convolutions (each with a BatchNorm) of shapes and counts
    ``(n, 5, 7)``: its first residual block's branch (three convolutions; a basic branch
    has two and a third of size 0), the projection shortcut, and the branch of the others.
    The shapes are those of ``ResNetLikeSpace.layer_shapes`` (tests compare them).
    """
    e = as_encodings(enc).astype(np.int64)
    n, n_blocks, slot = len(e), e[:, _NB], slots(e)
    active = _SLOT < n_blocks[:, None]
    residual = (slot[..., 0] + slot[..., 1]) > 0  # types A, B
    bottleneck = (slot[..., 1] + slot[..., 3]) > 0  # types B, D
    blocks, branches = slot[..., _RB], slot[..., _BR]
    widen = np.where(active, slot[..., _WD], 1)
    c0 = e[:, _OC:_OC + 1]
    c_out = c0 * np.cumprod(widen, axis=1)
    c_in = np.concatenate([c0, c_out[:, :-1]], axis=1)
    mid, zero = np.maximum(c_out // 4, 1), np.zeros_like(c_out)
    # the first residual block of a main block changes the shape (stride 2 after the first)
    projection = residual & ((_SLOT > 0) | (c_in != c_out))
    b = bottleneck[..., None]
    rows = np.where(b, np.stack([c_in, 9 * mid, mid, c_in, c_out, 9 * mid, mid], -1),
                    np.stack([9 * c_in, 9 * c_out, zero, c_in, 9 * c_out, 9 * c_out, zero], -1))
    cols = np.where(b, np.stack([mid, mid, c_out, c_out, mid, mid, c_out], -1),
                    np.stack([c_out, c_out, zero, c_out, c_out, c_out, zero], -1))
    rest = (blocks - 1) * branches
    count = np.stack([branches, branches, branches, projection, rest, rest, rest], -1) * active[..., None]
    weights = rows * cols
    c_final = c_out[np.arange(n), n_blocks - 1]
    stem_rows, stem_cols = input_shape[0] * e[:, _K0] ** 2, e[:, _OC]
    # a strided bottleneck's first 1x1 conv runs at its input's resolution (the stride sits
    # on the 3x3 conv): 4x the output's pixels
    early = 3 * branches * c_in * mid * (bottleneck & (_SLOT > 0))
    return {
        # the classifier: a weight and a bias, no BatchNorm
        "params": (stem_rows * stem_cols + 2 * stem_cols + (count * (weights + 2 * cols)).sum((1, 2))
                   + (c_final + 1) * num_classes),
        "tiles": (_tiles(stem_rows, tile_size) * _tiles(stem_cols, tile_size)
                  + (count * _tiles(rows, tile_size) * _tiles(cols, tile_size)).sum((1, 2))
                  + _tiles(c_final, tile_size) * _tiles(num_classes, tile_size)),
        "macs": stem_rows * stem_cols + (((count * weights).sum(2) + early) / 4.0**_SLOT).sum(1),
        "active": active, "residual": residual, "bottleneck": bottleneck, "widen": widen,
        "c_out": c_out, "c_final": c_final, "residual_blocks": blocks, "branches": branches,
        # the seven convolutions of each main block (n, 5, 7): their shapes and how many there are
        "rows": rows, "cols": cols, "count": count,
    }


def _tiles(size: Any, tile_size: int) -> Any:
    """Tiles along one side of a weight matrix (a ceiling division)."""
    return -(-size // tile_size)
