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
from search_spaces import resnet_arrays
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


def _resnet_derived(enc: np.ndarray) -> np.ndarray:
    """RESNET_DERIVED of ResNet-like architectures from their (n, 38) encodings, vectorised
    over architectures and main blocks (the exact counts come from ``resnet_arrays``)."""
    stats = resnet_arrays.layer_stats(enc, (_RESNET_IN, 32, 32), _RESNET_CLASSES, _RESNET_TILE)
    n_blocks, active = np.asarray(enc)[:, 2], stats["active"]
    residual, bottleneck, widen, c_final = stats["residual"], stats["bottleneck"], stats["widen"], stats["c_final"]
    blocks, branches = stats["residual_blocks"], stats["branches"]
    params, tiles = stats["params"], stats["tiles"]
    total_rb, total_br = blocks.sum(1), branches.sum(1)
    n_bottle = (bottleneck * blocks).sum(1)
    n_res = (residual * blocks).sum(1)
    cols = [
        1 + (np.where(bottleneck, 3, 2) * blocks).sum(1),  # convs on the longest path
        np.log(params), tiles, np.log(tiles),
        total_rb, total_br, total_br / n_blocks, branches.max(1),
        (branches * blocks).sum(1), n_res / total_rb, total_rb - n_res, n_bottle, n_bottle / total_rb,
        np.log2(c_final), np.log2(np.where(active, stats["c_out"], 0).max(1)), widen.prod(1),
        np.log(stats["macs"]),
    ]
    return np.stack(cols, axis=1).astype(np.float64)


def resnet_features(space: Any, archs: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    """ResNet-like features: the space's encoding plus depth, params, tiles, widths, branches."""
    return resnet_features_encoded(space, space.encode_many(archs))


def resnet_features_encoded(space: Any, enc: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``resnet_features`` of encoding rows (the search's candidates), without decoding them."""
    enc = np.asarray(enc, dtype=np.float64)
    names = list(space.feature_names) + RESNET_DERIVED
    if len(enc) == 0:
        return np.zeros((0, len(names))), names
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


def feature_matrix_encoded(space: Any, enc: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``feature_matrix`` of encoding rows of a space with encoded operations
    (``space.has_encoded_ops``): the same rows, from the encodings directly where the
    features allow (ResNet-like), else from the decoded architectures."""
    if getattr(space, "name", "") == "resnet_like":
        return resnet_features_encoded(space, enc)
    return feature_matrix(space, space.decode_many(enc))
