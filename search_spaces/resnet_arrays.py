"""Vectorised operations on ResNet-like encodings (rows of ``ResNetLikeSpace.encode_many``).

The evolutionary search scores tens of thousands of candidates per second. Mutating,
crossing and counting them one Python object at a time costs more than the surrogate's
trees, so :class:`~search_spaces.resnet.ResNetLikeSpace` also offers these operations on
whole arrays of encodings: one numpy call per step over every candidate of a batch.

:func:`mutate` and :func:`crossover` are the space's only implementation of its operators:
``ResNetLikeSpace.mutate`` and ``crossover`` run them on a batch of one and decode the row,
so the object API and the vectorised search draw from one definition (for a given random
generator, the very same children). :func:`layer_stats` has object counterparts,
``num_params`` and ``num_tiles``, that tests compare it with.

An encoding row is ``out_channel0, kernel0, n_blocks`` then, per main-block slot 1-5,
the type one-hot (A, B, C, D), ``residual_blocks``, ``branches`` and ``widen``; unused
slots are zeros. Type indices are A=0, B=1, C=2, D=3, so ``t ^ 1`` swaps basic and
bottleneck and ``t ^ 2`` adds or removes the residual shortcut.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .resnet import BLOCK_TYPES, BRANCHES, MAX_MAIN_BLOCKS, RESIDUAL_BLOCKS, SWAP_BOTTLENECK, SWAP_RESIDUAL, WIDEN
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

# columns of an encoding row, and of one main-block slot (a view of shape (n, 5, SLOT_WIDTH))
_OC, _K0, _NB = 0, 1, 2
_TYPE = slice(0, N_TYPES)
_RB, _BR, _WD = N_TYPES, N_TYPES + 1, N_TYPES + 2
# one-hot column permutations of the type swaps (t ^ 1 and t ^ 2), from resnet.py's tables
_TYPE_INDEX = {t: k for k, t in enumerate(BLOCK_TYPES)}
_SWAP_BOTTLENECK = [_TYPE_INDEX[SWAP_BOTTLENECK[t]] for t in BLOCK_TYPES]
_SWAP_RESIDUAL = [_TYPE_INDEX[SWAP_RESIDUAL[t]] for t in BLOCK_TYPES]


def as_encodings(enc: np.ndarray) -> np.ndarray:
    """``enc`` as a float array of shape (n, WIDTH), or a ValueError naming the shape."""
    e = np.asarray(enc, dtype=float)
    if e.ndim != 2 or e.shape[1] != WIDTH:
        raise ValueError(f"encodings must have shape (n, {WIDTH}), got {e.shape}")
    return e


def slots(enc: np.ndarray) -> np.ndarray:
    """The main-block slots of encodings, as a (n, 5, SLOT_WIDTH) view."""
    return enc[:, 3:].reshape(len(enc), MAX_MAIN_BLOCKS, SLOT_WIDTH)


# The helpers and moves below take either arrays (one value per row of a batch) or numpy
# scalars (the one row of a batch of one): the object API's single architectures then run
# the same code several times faster than as arrays of length one.
def _index(u: Any, n: Any) -> Any:
    """``int(u * n)`` of a uniform (or of arrays of them): a uniform index into n options."""
    return (u * n).astype(np.int64)


def _other_value(values: Any, allowed: np.ndarray, u: Any) -> Any:
    """A value of ``allowed`` other than each of ``values``, uniformly."""
    k = _index(u, len(allowed) - 1)
    return allowed[k + (k >= np.searchsorted(allowed, values))]


def _step(value: Any, top: int, u: Any) -> Any:
    """value +- 1 with equal odds, staying inside 1..top (one option at either end)."""
    return value + 2.0 * ((value <= 1) | ((value < top) & (u < 0.5))) - 1.0


def _all_blocks() -> np.ndarray:
    """The slot of every main block, by the indices of its type, residual_blocks, branches
    and widen in their tables: shape (4, 16, 12, 4, SLOT_WIDTH), 170 kB."""
    out = np.zeros((N_TYPES, len(RESIDUAL_BLOCKS), len(BRANCHES), len(WIDEN), SLOT_WIDTH))
    out[..., _TYPE] = np.eye(N_TYPES)[:, None, None, None]
    out[..., _RB] = np.array(RESIDUAL_BLOCKS)[:, None, None]
    out[..., _BR] = np.array(BRANCHES)[:, None]
    out[..., _WD] = WIDEN
    return out


_ALL_BLOCKS = _all_blocks()
_BLOCK_CHOICES = np.array(_ALL_BLOCKS.shape[:4])


def _random_blocks(u: np.ndarray) -> np.ndarray:
    """Slots of uniformly drawn main blocks, from 4 uniforms each along the first axis of
    ``u`` (type, residual_blocks, branches, widen), each an index into its table as
    ``base.pick`` makes one."""
    return _ALL_BLOCKS[tuple(_index(u.T, _BLOCK_CHOICES).T)]


_ALL_WIDEN = np.array(WIDEN, dtype=float)


# --- mutation moves ----------------------------------------------------------------------
class _Rows(NamedTuple):
    """What a move changes: rows ``r`` of ``enc``, in place (``s`` is its slot view), with
    the main block ``i`` an in-block move changes, the rows' uniforms ``u`` (8 along the
    first axis) and their block counts ``nb``; for a batch of one, ``r`` is 0 and ``i``,
    ``nb`` and each ``u[j]`` are scalars."""

    enc: np.ndarray
    s: np.ndarray
    r: Any
    i: Any
    u: np.ndarray
    nb: Any


_Move = Callable[[_Rows], None]


def _stepped(field: int, top: int) -> _Move:
    """The move that adds or removes one unit of slot ``field`` (residual blocks, branches)."""
    def move(x: _Rows) -> None:
        x.s[x.r, x.i, field] = _step(x.s[x.r, x.i, field], top, x.u[2])
    return move


def _swapped(permutation: list[int]) -> _Move:
    """The move that turns a main block's type into its partner (a one-hot permutation)."""
    def move(x: _Rows) -> None:
        x.s[x.r, x.i, _TYPE] = x.s[x.r, x.i][..., permutation]
    return move


def _changed(field: int, allowed: np.ndarray) -> _Move:
    """The move that gives slot ``field`` (the widening factor) another allowed value."""
    def move(x: _Rows) -> None:
        x.s[x.r, x.i, field] = _other_value(x.s[x.r, x.i, field], allowed, x.u[2])
    return move


def _changed_stem(column: int, allowed: np.ndarray) -> _Move:
    """The move that gives stem ``column`` (first conv channels, kernel) another allowed value."""
    def move(x: _Rows) -> None:
        x.enc[x.r, column] = _other_value(x.enc[x.r, column], allowed, x.u[2])
    return move


# the slots that slot j takes after inserting a main block at slot a (row a), or removing
# the one at slot a: j - 1 from a + 1 on, or j + 1 from a on (the last slot is then empty)
_AFTER_INSERT = _SLOT - (_SLOT > _SLOT[:, None])
_AFTER_REMOVE = np.minimum(_SLOT + (_SLOT >= _SLOT[:, None]), MAX_MAIN_BLOCKS - 1)


def _add_block(x: _Rows) -> None:
    at = _index(x.u[1], x.nb + 1)
    x.s[x.r] = x.s[np.reshape(x.r, (-1, 1)), _AFTER_INSERT[at]]
    x.s[x.r, at] = _random_blocks(x.u[4:8])
    x.enc[x.r, _NB] += 1


def _remove_block(x: _Rows) -> None:
    x.s[x.r] = x.s[np.reshape(x.r, (-1, 1)), _AFTER_REMOVE[x.i]]
    x.s[x.r, MAX_MAIN_BLOCKS - 1] = 0.0
    x.enc[x.r, _NB] -= 1


# the moves of each mutation kind, as DESIGN.md lists them
_MOVES: dict[str, tuple[_Move, ...]] = {
    "depth": (_stepped(_RB, MAX_RESIDUAL_BLOCKS), _swapped(_SWAP_BOTTLENECK), _add_block, _remove_block),
    "width": (_stepped(_BR, MAX_BRANCHES), _changed_stem(_OC, OUT_CHANNEL0), _changed(_WD, _ALL_WIDEN)),
    "other": (_swapped(_SWAP_RESIDUAL), _changed_stem(_K0, KERNEL0)),
}


def _applies(move: _Move, n_blocks: int) -> bool:
    """Whether ``move`` can change a network of ``n_blocks`` main blocks (1-5)."""
    return ((move is not _add_block or n_blocks < MAX_MAIN_BLOCKS)
            and (move is not _remove_block or n_blocks > 1))


def _applicable_moves(moves: tuple[_Move, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per block count (row index), the indices of the ``moves`` that apply, padded, and how
    many there are: a uniform pick is then two lookups for a whole batch."""
    table = np.zeros((MAX_MAIN_BLOCKS + 1, len(moves)), dtype=np.int64)
    count = np.zeros(MAX_MAIN_BLOCKS + 1, dtype=np.int64)
    for n_blocks in range(MAX_MAIN_BLOCKS + 1):
        ok = [m for m, move in enumerate(moves) if _applies(move, n_blocks)]
        table[n_blocks, :len(ok)], count[n_blocks] = ok, len(ok)
    return table, count


_APPLICABLE = {kind: _applicable_moves(moves) for kind, moves in _MOVES.items()}
_ONE_ROW = np.zeros(1, dtype=np.int64)


def _mutate_once(enc: np.ndarray, kind: str, rows: np.ndarray, rng: np.random.Generator) -> None:
    """One mutation of ``kind`` on each of ``rows`` of ``enc`` (in place), chosen uniformly
    among those that apply."""
    u = rng.random((len(rows), 8))
    sub = enc if len(rows) == len(enc) else enc[rows]  # all rows, in order: no gather, no scatter
    one = len(sub) == 1  # a batch of one runs on scalars (see _index)
    columns, v = (sub[0], u[0]) if one else (sub.T, u.T)
    nb = columns[_NB].astype(np.int64)
    slot = _index(v[1], nb)  # the main block an in-block move changes
    table, count = _APPLICABLE[kind]
    move = table[nb, _index(v[0], count[nb])]
    s, moves = slots(sub), _MOVES[kind]
    if one:
        moves[move](_Rows(sub, s, 0, slot, v, nb))
    else:
        for m, apply in enumerate(moves):
            if len(r := np.flatnonzero(move == m)):
                apply(_Rows(sub, s, r, slot[r], v[:, r], nb[r]))
    if sub is not enc:
        enc[rows] = sub


def mutate(enc: np.ndarray, rng: np.random.Generator, kinds: tuple[tuple[str, float], ...],
           max_tries: int = 1000) -> np.ndarray:
    """Mutate every row: each (kind, probability) applied independently, the kinds redrawn
    for rows where none was drawn, so every output row differs from its input row."""
    parents = as_encodings(enc)
    probs = np.array([p for _, p in kinds])
    # Every move changes the architecture and no two kinds undo each other, so a child is
    # unchanged exactly when no kind was drawn: redraw those rows' kinds.
    applied = rng.random((len(parents), len(kinds))) < probs
    for _ in range(max_tries):
        none = ~applied.any(axis=1)
        if not none.any():
            break
        applied[none] = rng.random((int(none.sum()), len(kinds))) < probs
    else:
        raise ValueError(f"no mutation kind drawn in {max_tries} tries (probabilities {probs.tolist()})")
    child = parents.copy()
    # the rows of each kind; for a batch of one, without a scan per kind
    rows = [_ONE_ROW[:hit] for hit in applied[0].tolist()] if len(child) == 1 else map(np.flatnonzero, applied.T)
    for (kind, _), r in zip(kinds, rows):
        if len(r):
            _mutate_once(child, kind, r, rng)
    return child


_COLUMNS = [1, 1, 1] + [SLOT_WIDTH] * MAX_MAIN_BLOCKS  # of each coin of crossover


def crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-wise crossover of two parent arrays (``ResNetLikeSpace.crossover`` is this on one
    row): stem fields and block count from either parent, main block i from either parent
    that has one."""
    a, b = as_encodings(a), as_encodings(b)
    coin = rng.random((len(a), 3 + MAX_MAIN_BLOCKS)) < 0.5  # out_channel0, kernel0, n_blocks, slots
    n_a, n_b = a[:, _NB:_NB + 1], b[:, _NB:_NB + 1]
    has_a, has_b = _SLOT < n_a, _SLOT < n_b
    # past the child's block count, the slots of the parent that gave the count are empty
    from_a = np.where(_SLOT < np.where(coin[:, 2:3], n_a, n_b), has_a & (~has_b | coin[:, 3:]), coin[:, 2:3])
    return np.where(np.repeat(np.concatenate([coin[:, :3], from_a], axis=1), _COLUMNS, axis=1), a, b)


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
