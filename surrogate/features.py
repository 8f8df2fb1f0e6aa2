"""Surrogate features: a space's own encoding plus derived features that carry ranking signal.

``feature_matrix(space, archs)`` returns ``(X, names)``. For the NB201 cell space the 15,625
possible rows are computed once per space setting (vectorised) and looked up by cell index,
so scoring 100,000 cells costs one array gather. For the ResNet-like space the network
statistics are computed from the encodings, vectorised over architectures and main blocks.

Example:
    >>> from search_spaces import NB201Space, NB201Arch
    >>> X, names = feature_matrix(NB201Space(), [NB201Arch((2, 2, 0, 4, 2, 1))])
    >>> X.shape[0], "n_live_paths" in names
    (1, True)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# --- NB201 --------------------------------------------------------------------------------
# search_spaces is a sibling package that never imports surrogate, so no import cycle.
from search_spaces.nb201 import (AVGPOOL, CONV1, CONV3, EDGES, NONE, OP_NAMES, NB201Arch, NB201Space,
                                 live_edges, live_paths)
from search_spaces.nb201 import PATHS as NB201_PATHS
from search_spaces.resnet import MAX_MAIN_BLOCKS
_N_OPS = len(OP_NAMES)
_N_EDGES = len(EDGES)


def _nb201_index(ops: np.ndarray) -> np.ndarray:
    """Row index of each cell in NASLib tuple order: ops read as a base-5 number."""
    weights = _N_OPS ** np.arange(_N_EDGES - 1, -1, -1)
    return ops @ weights


def _nb201_all_ops() -> np.ndarray:
    idx = np.arange(_N_OPS**_N_EDGES)
    return (idx[:, None] // _N_OPS ** np.arange(_N_EDGES - 1, -1, -1)[None, :]) % _N_OPS


def _nb201_derived(ops: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Graph features of NB201 cells from an (n, 6) int array of op indices."""
    cols: list[np.ndarray] = []
    names: list[str] = []

    def add(name: str, values: np.ndarray) -> None:
        names.append(name)
        cols.append(np.asarray(values, dtype=np.float64))

    is_conv = (ops == CONV3) | (ops == CONV1)
    # A path is live when none of its edges is 'none'; an edge is live when it lies on a live
    # path. Dead edges do nothing to the output, so the "effective" cell replaces them by none.
    path_live = live_paths(ops)
    edge_live = live_edges(ops)
    eff_ops = np.where(edge_live, ops, NONE)

    for op, op_name in enumerate(OP_NAMES):
        add(f"n_{op_name}", (ops == op).sum(1))
    for op, op_name in enumerate(OP_NAMES):
        if op != NONE:
            add(f"n_live_{op_name}", (eff_ops == op).sum(1))
    # Effective one-hot: the canonical cell, so functionally equal cells share features.
    for e, (s, d) in enumerate(EDGES):
        for op, op_name in enumerate(OP_NAMES):
            add(f"eff_edge{s}{d}_{op_name}", eff_ops[:, e] == op)

    n_live = path_live.sum(1)
    add("n_live_paths", n_live)
    add("is_disconnected", n_live == 0)
    add("n_live_edges", edge_live.sum(1))

    # Per-path composition (0 where the path is dead).
    conv_on = np.stack([is_conv[:, list(p)].sum(1) for p in NB201_PATHS], axis=1) * path_live
    conv3_on = np.stack([(ops[:, list(p)] == CONV3).sum(1) for p in NB201_PATHS], axis=1) * path_live
    pool_on = np.stack([(ops[:, list(p)] == AVGPOOL).sum(1) for p in NB201_PATHS], axis=1) * path_live
    length = np.array([len(p) for p in NB201_PATHS])[None, :] * path_live
    for k, p in enumerate(NB201_PATHS):
        add(f"path{k}_live", path_live[:, k])
        add(f"path{k}_convs", conv_on[:, k])
    big = 99
    add("max_path_convs", conv_on.max(1))  # effective depth of the cell
    add("min_path_convs", np.where(path_live, conv_on, big).min(1) * (n_live > 0))
    add("sum_path_convs", conv_on.sum(1))
    add("max_path_conv3", conv3_on.max(1))
    add("sum_path_conv3", conv3_on.sum(1))
    add("sum_path_pools", pool_on.sum(1))
    add("longest_live_path", length.max(1))
    add("n_paths_with_conv", ((conv_on > 0) & path_live).sum(1))
    add("n_paths_with_conv3", ((conv3_on > 0) & path_live).sum(1))
    # Parameter-free live paths: pure skip (a residual shortcut) or skip/pool only.
    free = path_live & (conv_on == 0)
    add("n_param_free_paths", free.sum(1))
    add("n_identity_paths", (path_live & (conv_on == 0) & (pool_on == 0)).sum(1))
    add("n_pool_paths", (path_live & (pool_on > 0)).sum(1))
    add("n_pool_only_paths", (free & (pool_on > 0)).sum(1))
    # Live conv weight per cell (conv3 = 9, conv1 = 1 kernel entries per channel pair).
    add("live_conv_weight", 9 * (eff_ops == CONV3).sum(1) + (eff_ops == CONV1).sum(1))
    # What feeds the output node directly: edges (1,4), (2,4), (3,4).
    for e in (2, 4, 5):
        s, d = EDGES[e]
        add(f"out_edge{s}{d}_conv_live", (eff_ops[:, e] == CONV3) | (eff_ops[:, e] == CONV1))
    return np.stack(cols, axis=1), names


@functools.lru_cache(maxsize=8)
def _nb201_table(channels: int, cells_per_stage: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature rows of all 15,625 cells for one NB201Space setting."""
    space = NB201Space(channels=channels, cells_per_stage=cells_per_stage)
    ops = _nb201_all_ops()
    derived, dnames = _nb201_derived(ops)
    archs = [NB201Arch(tuple(int(o) for o in row)) for row in ops]
    params = np.array([space.num_params(a) for a in archs], dtype=np.float64)
    tiles = np.array([space.num_tiles(a) for a in archs], dtype=np.float64)
    table = np.hstack([space.encode_many(archs), derived, np.log(params)[:, None], tiles[:, None]])
    names = tuple(space.feature_names + dnames + ["log_params", "tiles"])
    table.setflags(write=False)
    return table, names


def nb201_features(space: NB201Space, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """NB201 features: one-hot edges, op counts, live-path statistics, log params, tiles."""
    table, names = _nb201_table(space.channels, space.cells_per_stage)
    if len(archs) == 0:
        return np.zeros((0, len(names))), list(names)
    ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), _N_EDGES)
    if ops.min() < 0 or ops.max() >= _N_OPS:
        raise ValueError(f"NB201 op indices must be in 0..{_N_OPS - 1}")
    return table[_nb201_index(ops)], list(names)


# --- ResNet-like --------------------------------------------------------------------------
#: features describe the default setting: 3-channel inputs, 10 classes, 512 x 512 tiles
_RESNET_IN, _RESNET_CLASSES, _RESNET_TILE = 3, 10, 512
RESNET_DERIVED = [
    "depth", "log_params", "tiles", "log_tiles",
    "total_residual_blocks", "total_branches", "mean_branches", "max_branches",
    "total_branch_paths", "frac_residual", "n_plain_blocks", "n_bottleneck_blocks", "frac_bottleneck",
    "log2_final_width", "log2_max_width", "total_widen", "log_macs",
]


def _layers(*shapes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Summed (tiles, MACs per output pixel, parameters with BatchNorm) of conv layers given as
    (rows, cols) integer arrays of one shape; the result has a leading axis of 3."""
    out = 0
    for rows, cols in shapes:
        out = out + np.stack([-(-rows // _RESNET_TILE) * -(-cols // _RESNET_TILE),
                              rows * cols, rows * cols + 2 * cols])
    return out


def _branch(c_in: np.ndarray, c_out: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
    """_layers of one branch, with the shapes of ResNetLikeSpace.layer_shapes, elementwise."""
    mid = np.maximum(c_out // 4, 1)
    return np.where(bottleneck, _layers((c_in, mid), (mid * 9, mid), (mid, c_out)),
                    _layers((c_in * 9, c_out), (c_out * 9, c_out)))


def _resnet_derived(enc: np.ndarray) -> np.ndarray:
    """RESNET_DERIVED of ResNet-like architectures from their (n, 38) encodings, vectorised
    over architectures and main blocks (tests check tiles and parameters against the space)."""
    e = enc.astype(np.int64)
    n, n_blocks = len(e), e[:, 2]
    slots = e[:, 3:].reshape(n, MAX_MAIN_BLOCKS, -1)  # per main block: type one-hot A-D, blocks, branches, widen
    index = np.arange(MAX_MAIN_BLOCKS)
    active = index < n_blocks[:, None]
    residual = (slots[..., 0] + slots[..., 1]) > 0
    bottleneck = (slots[..., 1] + slots[..., 3]) > 0
    blocks, branches = slots[..., 4], slots[..., 5]
    widen = np.where(active, slots[..., 6], 1)
    c_out = e[:, :1] * np.cumprod(widen, axis=1)
    c_in = np.concatenate([e[:, :1], c_out[:, :-1]], axis=1)
    # the first residual block of a main block changes the shape (stride 2 after the first)
    projection = residual & ((index > 0) | (c_in != c_out))
    per_block = (branches * _branch(c_in, c_out, bottleneck) + projection * _layers((c_in, c_out))
                 + (blocks - 1) * branches * _branch(c_out, c_out, bottleneck)) * active
    c_final = c_out[np.arange(n), n_blocks - 1]
    stem = _layers((_RESNET_IN * e[:, 1] ** 2, e[:, 0]))
    head = _layers((c_final, np.full(n, _RESNET_CLASSES)))
    tiles = stem[0] + per_block[0].sum(1) + head[0]
    params = stem[2] + per_block[2].sum(1) + head[1] + _RESNET_CLASSES  # the classifier: no BatchNorm, a bias
    # each later main block halves H and W; a strided bottleneck's first 1x1 conv still runs
    # at its input's resolution (the stride sits on the 3x3 conv): 4x the output's pixels
    early = 3 * branches * c_in * np.maximum(c_out // 4, 1) * (bottleneck & (index > 0) & active)
    macs = stem[1] + ((per_block[1] + early) / 4.0**index).sum(1)
    total_rb, total_br = blocks.sum(1), branches.sum(1)
    n_bottle = (bottleneck * blocks).sum(1)
    n_res = (residual * blocks).sum(1)
    cols = [
        1 + (np.where(bottleneck, 3, 2) * blocks).sum(1),  # convs on the longest path
        np.log(params), tiles, np.log(tiles),
        total_rb, total_br, total_br / n_blocks, branches.max(1),
        (branches * blocks).sum(1), n_res / total_rb, total_rb - n_res, n_bottle, n_bottle / total_rb,
        np.log2(c_final), np.log2(np.where(active, c_out, 0).max(1)), widen.prod(1),
        np.log(macs),
    ]
    return np.stack(cols, axis=1).astype(np.float64)


def resnet_features(space: Any, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """ResNet-like features: the space's encoding plus depth, params, tiles, widths, branches."""
    names = list(space.feature_names) + RESNET_DERIVED
    if len(archs) == 0:
        return np.zeros((0, len(names))), names
    enc = np.asarray(space.encode_many(archs), dtype=np.float64)
    return np.hstack([enc, _resnet_derived(enc)]), names


# --- any other space ----------------------------------------------------------------------
def generic_features(space: Any, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """Encoding plus log parameter count and tiles, for spaces without dedicated features."""
    names = list(space.feature_names) + ["log_params", "tiles"]
    if len(archs) == 0:
        return np.zeros((0, len(names))), names
    extra = np.array([[math.log(space.num_params(a)), space.num_tiles(a)] for a in archs], dtype=np.float64)
    return np.hstack([np.asarray(space.encode_many(archs), dtype=np.float64), extra]), names


def feature_matrix(space: Any, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """``(X, names)``: surrogate features of ``archs`` in ``space`` (float64, one row per arch).

    Dispatches on the space: NB201 (cell-graph features), ResNet-like (network statistics),
    otherwise the encoding plus parameter count and tiles.
    """
    archs = list(archs)
    if isinstance(space, NB201Space):
        return nb201_features(space, archs)
    if getattr(space, "name", "") == "resnet_like":
        return resnet_features(space, archs)
    return generic_features(space, archs)
