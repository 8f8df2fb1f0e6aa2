"""Surrogate features: a space's own encoding plus derived features that carry ranking signal.

``feature_matrix(space, archs)`` returns ``(X, names)``. For the NB201 cell space the 15,625
possible rows are computed once per space setting (vectorised) and looked up by cell index,
so scoring 100,000 cells costs one array gather. For the ResNet-like space each distinct
architecture's row is computed once and kept in a per-space dict.

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
from search_spaces.base import tiles_for_shape
from search_spaces.nb201 import (AVGPOOL, CONV1, CONV3, EDGES, NONE, OP_NAMES, NB201Arch, NB201Space,
                                 live_edges, live_paths)
from search_spaces.nb201 import PATHS as NB201_PATHS
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
#: block types with a residual shortcut / with 3-conv bottleneck branches (DESIGN.md, Table I)
_RESIDUAL_TYPES = frozenset("AB")
_BOTTLENECK_TYPES = frozenset("BD")
RESNET_DERIVED = [
    "depth", "log_params", "tiles", "log_tiles",
    "total_residual_blocks", "total_branches", "mean_branches", "max_branches",
    "total_branch_paths", "frac_residual", "n_plain_blocks", "n_bottleneck_blocks", "frac_bottleneck",
    "log2_final_width", "log2_max_width", "total_widen", "log_macs",
]


@functools.lru_cache(maxsize=1 << 16)
def _resnet_block_stats(block: Any, c_in: int, stride: int, tile_size: int = 512) -> tuple[int, float]:
    """(crossbar tiles, conv MACs per output pixel) of one main block.

    Mirrors ResNetLikeSpace.layer_shapes block by block so that rows can be cached per main
    block (num_tiles walks every layer of the network, the slowest part of the features);
    tests check the sum against space.num_tiles.
    """
    bottleneck = block.block_type in _BOTTLENECK_TYPES
    c_out = c_in * block.widen
    tiles = 0
    macs = 0.0
    for r in range(block.residual_blocks):
        ci, s = (c_in, stride) if r == 0 else (c_out, 1)
        if bottleneck:
            mid = max(c_out // 4, 1)
            branch = [(ci, mid), (mid * 9, mid), (mid, c_out)]
        else:
            branch = [(ci * 9, c_out), (c_out * 9, c_out)]
        tiles += block.branches * sum(tiles_for_shape(rr, cc, tile_size) for rr, cc in branch)
        macs += block.branches * sum(rr * cc for rr, cc in branch)
        if block.block_type in _RESIDUAL_TYPES and (s != 1 or ci != c_out):
            # a 1x1 projection shortcut, once per residual block
            tiles += tiles_for_shape(ci, c_out, tile_size)
            macs += ci * c_out
    return tiles, macs


def _resnet_derived(space: Any, arch: Any) -> list[float]:
    """Network statistics of one ResNet-like architecture (see RESNET_DERIVED)."""
    blocks = arch.blocks
    c = arch.out_channel0
    stem_rows = 3 * arch.kernel0**2  # RGB input: features describe the default 3x32x32 setting
    tiles = tiles_for_shape(stem_rows, c, 512)
    macs = float(stem_rows * c)
    hw = 1.0  # feature-map area relative to the first block's; each later main block halves H and W
    depth = 1  # the first conv
    widths = []
    n_res = n_bottle = n_plain = paths = 0
    for i, b in enumerate(blocks):
        if i > 0:
            hw /= 4.0
        t, m = _resnet_block_stats(b, c, 1 if i == 0 else 2)
        tiles += t
        macs += hw * m
        bottleneck = b.block_type in _BOTTLENECK_TYPES
        depth += (3 if bottleneck else 2) * b.residual_blocks  # convs on the longest path
        c *= b.widen
        widths.append(c)
        if b.block_type in _RESIDUAL_TYPES:
            n_res += b.residual_blocks
        else:
            n_plain += b.residual_blocks
        n_bottle += b.residual_blocks if bottleneck else 0
        paths += b.branches * b.residual_blocks
    tiles += tiles_for_shape(c, 10, 512)  # classifier
    total_rb = sum(b.residual_blocks for b in blocks)
    total_br = sum(b.branches for b in blocks)
    return [
        depth, math.log(space.num_params(arch)), tiles, math.log(tiles),
        total_rb, total_br, total_br / len(blocks), max(b.branches for b in blocks),
        paths, n_res / total_rb, n_plain, n_bottle, n_bottle / total_rb,
        math.log2(widths[-1]), math.log2(max(widths)), math.prod(b.widen for b in blocks),
        math.log(macs),
    ]


# One dict per space setting (its repr), so that a changed setting never reuses stale rows.
_RESNET_CACHE: dict[str, dict[Any, np.ndarray]] = {}
_RESNET_CACHE_MAX = 500_000


def resnet_features(space: Any, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """ResNet-like features: the space's encoding plus depth, params, tiles, widths, branches.

    Rows are cached per architecture value, so a search scoring the same networks again
    (parents, revisited mutants) pays for them once.
    """
    names = list(space.feature_names) + RESNET_DERIVED
    if len(archs) == 0:
        return np.zeros((0, len(names))), names
    cache = _RESNET_CACHE.setdefault(repr(space), {})
    new = list(dict.fromkeys(a for a in archs if a not in cache))
    if new:
        if len(cache) + len(new) > _RESNET_CACHE_MAX:
            cache.clear()
        enc = np.asarray(space.encode_many(new), dtype=np.float64)
        derived = np.array([_resnet_derived(space, a) for a in new], dtype=np.float64)
        for a, row in zip(new, np.hstack([enc, derived])):
            cache[a] = row
    return np.stack([cache[a] for a in archs]), names


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
