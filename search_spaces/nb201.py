"""The NAS-Bench-201 cell space in NASLib's tuple encoding.

A cell is a DAG on four nodes; each of its six edges (1,2), (1,3), (1,4), (2,3), (2,4), (3,4)
carries one operation: 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avgpool3x3. The network is the
standard NB201 one: a 3x3 stem, three stages of five cells (C, 2C, 4C channels, C=16) joined
by residual reduction blocks, then BN-ReLU, global pooling and a linear classifier.

Example:
    >>> space = NB201Space()
    >>> arch = space.from_dict({"ops": [2, 2, 0, 3, 0, 4]})
    >>> space.num_params(arch) > 0
    True
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import (InvalidArchitectureError, LayerSpec, SearchSpace, Seed, Shape, as_rng, check_choice, check_keys,
                   conv_output_size, pick)

OP_NAMES = ("skip", "none", "conv3x3", "conv1x1", "avgpool3x3")
#: the names NAS-Bench-201's own API uses for the same operations
NB201_OP_NAMES = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
SKIP, NONE, CONV3, CONV1, AVGPOOL = range(5)
#: the four input->output paths of a cell, as indices into EDGES (nodes 1..4)
PATHS = ((2,), (0, 4), (1, 5), (0, 3, 5))
_CONV_KERNEL = {CONV3: 3, CONV1: 1}


@dataclasses.dataclass(frozen=True)
class NB201Arch:
    """One NB201 cell: ``ops[k]`` is the operation on ``EDGES[k]``."""

    ops: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ops": list(self.ops)}

    def to_nb201_string(self) -> str:
        """The cell in NAS-Bench-201's string form, e.g. ``|nor_conv_3x3~0|+|...|``."""
        names = [NB201_OP_NAMES[o] for o in self.ops]
        nodes = [[], [], []]
        for (src, dst), name in zip(EDGES, names):
            nodes[dst - 2].append(f"{name}~{src - 1}")
        return "+".join("|" + "|".join(n) + "|" for n in nodes)


class _ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _make_op(op: int, channels: int) -> nn.Module:
    if op == SKIP:
        return nn.Identity()
    if op == NONE:
        return _Zero()
    if op == AVGPOOL:
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return _ReLUConvBN(channels, channels, _CONV_KERNEL[op], 1)


class _Cell(nn.Module):
    def __init__(self, ops: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (2, 3, 4):
            nodes.append(
                sum(self.edges[k](nodes[src - 1]) for k, (src, d) in enumerate(EDGES) if d == dst)
            )
        return nodes[-1]


class _ReductionBlock(nn.Module):
    """NB201's residual block between stages: stride-2 convs plus a pooled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = _ReLUConvBN(c_in, c_out, 3, 2)
        self.conv_b = _ReLUConvBN(c_out, c_out, 3, 1)
        # ceil_mode keeps the shortcut's size equal to the strided conv's for odd inputs.
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


class NB201Network(nn.Module):
    """The standard NAS-Bench-201 network around one cell."""

    def __init__(self, arch: NB201Arch, input_shape: tuple[int, int, int], num_classes: int,
                 channels: int, cells_per_stage: int) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(input_shape[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage > 0:
                layers.append(_ReductionBlock(c, 2 * c))
                c *= 2
            layers.extend(_Cell(arch.ops, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


class NB201Space(SearchSpace):
    """NAS-Bench-201: 5^6 = 15,625 cells.

    Args:
        channels: channels of the first stage (NB201 uses 16).
        cells_per_stage: cells in each of the three stages (NB201 uses 5).
    """

    name = "nb201"

    def __init__(self, channels: int = 16, cells_per_stage: int = 5) -> None:
        if channels < 1:
            raise ValueError(f"channels={channels!r} must be a positive integer")
        if cells_per_stage < 1:
            raise ValueError(f"cells_per_stage={cells_per_stage!r} must be a positive integer")
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self._feature_names = [f"edge{s}{d}_{op}" for s, d in EDGES for op in OP_NAMES]

    def __repr__(self) -> str:
        return f"NB201Space(channels={self.channels}, cells_per_stage={self.cells_per_stage})"

    @property
    def arch_type(self) -> type:
        return NB201Arch

    # --- values -------------------------------------------------------------------------
    def from_dict(self, d: Mapping[str, Any]) -> NB201Arch:
        check_keys("NB201 architecture", d, ["ops"])
        ops = d["ops"]
        if not isinstance(ops, (list, tuple)) or len(ops) != len(EDGES):
            raise InvalidArchitectureError(
                f"ops={ops!r} is not allowed; expected a list of {len(EDGES)} operation indices"
            )
        return NB201Arch(tuple(check_choice(f"ops[edge ({s},{t})]", op, range(len(OP_NAMES)))
                               for (s, t), op in zip(EDGES, ops)))

    def sample(self, rng: Seed = None, max_params: int | None = None) -> NB201Arch:
        rng = as_rng(rng)
        for _ in range(10_000):
            arch = NB201Arch(tuple(int(o) for o in rng.integers(0, len(OP_NAMES), len(EDGES))))
            if max_params is None or self.num_params(arch) < max_params:
                return arch
        raise ValueError(f"max_params={max_params!r}: no NB201 cell found below this parameter count")

    def mutate(self, arch: NB201Arch, rng: Seed = None) -> NB201Arch:
        rng = as_rng(rng)
        edge = pick(range(len(EDGES)), rng)
        new_op = pick([o for o in range(len(OP_NAMES)) if o != arch.ops[edge]], rng)
        ops = list(arch.ops)
        ops[edge] = new_op
        return NB201Arch(tuple(ops))

    def crossover(self, a: NB201Arch, b: NB201Arch, rng: Seed = None) -> NB201Arch:
        """Each edge's operation from either parent with equal probability."""
        rng = as_rng(rng)
        take_a = rng.random(len(EDGES)) < 0.5
        return NB201Arch(tuple(x if t else y for x, y, t in zip(a.ops, b.ops, take_a)))

    def size(self) -> int:
        return len(OP_NAMES) ** len(EDGES)

    def all_architectures(self) -> list[NB201Arch]:
        """Every cell, in NASLib tuple order."""
        return [NB201Arch(ops) for ops in itertools.product(range(len(OP_NAMES)), repeat=len(EDGES))]

    def canonical(self, arch: NB201Arch) -> NB201Arch:
        """The same network with every dead edge (on no live input->output path) set to
        'none': cells with the same canonical form compute the same function.

        Example:
            >>> NB201Space().canonical(NB201Arch((2, 1, 1, 1, 1, 1)))  # edge (1,2) leads nowhere
            NB201Arch(ops=(1, 1, 1, 1, 1, 1))
        """
        return NB201Arch(_canonical_ops(arch.ops))

    @staticmethod
    def is_disconnected(arch: NB201Arch) -> bool:
        """True when no path of non-'none' edges joins the cell's input to its output."""
        return not live_paths(np.asarray([arch.ops])).any()

    # --- networks -----------------------------------------------------------------------
    def build(self, arch: NB201Arch, input_shape: tuple[int, int, int] = (3, 32, 32),
              num_classes: int = 10) -> nn.Module:
        return NB201Network(arch, tuple(input_shape), num_classes, self.channels, self.cells_per_stage)

    def _stage_channels(self) -> list[int]:
        return [self.channels * 2**s for s in range(3)]

    def layer_shapes(self, arch: NB201Arch, input_shape: tuple[int, int, int] = (3, 32, 32),
                     num_classes: int = 10) -> list[Shape]:
        c0 = self._stage_channels()
        shapes: list[Shape] = [(input_shape[0] * 9, c0[0])]
        for stage, c in enumerate(c0):
            if stage > 0:
                c_in = c0[stage - 1]
                shapes += [(c_in * 9, c), (c * 9, c), (c_in, c)]
            cell = [(c * _CONV_KERNEL[op] ** 2, c) for op in arch.ops if op in _CONV_KERNEL]
            shapes += cell * self.cells_per_stage
        shapes.append((c0[-1], num_classes))
        return shapes

    def num_params(self, arch: NB201Arch, input_shape: tuple[int, int, int] = (3, 32, 32),
                   num_classes: int = 10) -> int:
        weights = sum(r * c for r, c in self.layer_shapes(arch, input_shape, num_classes))
        c0 = self._stage_channels()
        n_convs = sum(op in _CONV_KERNEL for op in arch.ops)
        bn = 2 * c0[0]  # stem
        bn += sum(2 * c * n_convs * self.cells_per_stage for c in c0)
        bn += sum(2 * 2 * c for c in c0[1:])  # reduction blocks: conv_a and conv_b
        bn += 2 * c0[-1]  # lastact
        return weights + bn + num_classes  # classifier bias

    def layers(self, arch: NB201Arch, input_shape: tuple[int, int, int] = (3, 32, 32),
               num_classes: int = 10) -> list[LayerSpec]:
        """Every step of one inference in forward order, with module names of ``build(arch)``.

        A conv edge carries its ReLU (on its input) and BatchNorm as digital operations; an
        average-pool edge is a digital step (one op per input element of each 3x3 window, as
        ``count_include_pad=False`` averages); skip and none edges cost nothing; each node
        sums its live incoming edges (one op per element for each edge after the first).

        Example:
            >>> steps = NB201Space().layers(NB201Arch((2, 1, 1, 1, 1, 1)))
            >>> [s.name for s in steps[:2]]
            ['stem.0', 'cells.0.edges.0.1']
        """
        h, w = input_shape[1], input_shape[2]
        c0 = self._stage_channels()
        out = [LayerSpec("stem.0", "conv", input_shape[0] * 9, c0[0], h * w, 2 * c0[0] * h * w)]
        # forward order of a cell's edges: grouped by their end node
        order = [k for dst in (2, 3, 4) for k, (_, d) in enumerate(EDGES) if d == dst]
        index = 0
        for stage, c in enumerate(c0):
            if stage > 0:
                c_in, name = c0[stage - 1], f"cells.{index}"
                h2, w2 = conv_output_size(h, 3, 2), conv_output_size(w, 3, 2)
                pix = h2 * w2
                out += [
                    LayerSpec(f"{name}.conv_a.1", "conv", c_in * 9, c, pix, c_in * h * w + 2 * c * pix),
                    LayerSpec(f"{name}.conv_b.1", "conv", c * 9, c, pix, c * pix + 2 * c * pix),
                    # the 2x2 average pool (ceil mode) reads every input element once
                    LayerSpec(f"{name}.downsample.0", "digital", 0, 0, pix, c_in * h * w),
                    LayerSpec(f"{name}.downsample.1", "conv", c_in, c, pix, 0),
                    LayerSpec(f"{name} (sum)", "digital", 0, 0, pix, c * pix),
                ]
                h, w, index = h2, w2, index + 1
            pix = h * w
            for _ in range(self.cells_per_stage):
                name = f"cells.{index}"
                for k in order:
                    op = arch.ops[k]
                    if op in _CONV_KERNEL:
                        out.append(LayerSpec(f"{name}.edges.{k}.1", "conv", c * _CONV_KERNEL[op] ** 2, c, pix,
                                             3 * c * pix))
                    elif op == AVGPOOL:
                        out.append(LayerSpec(f"{name}.edges.{k}", "digital", 0, 0, pix,
                                             _window_reads(h, w, c)))
                for dst in (2, 3, 4):
                    live = sum(arch.ops[k] != NONE for k, (_, d) in enumerate(EDGES) if d == dst)
                    if live > 1:
                        out.append(LayerSpec(f"{name} (node {dst} sum)", "digital", 0, 0, pix,
                                             (live - 1) * c * pix))
                index += 1
        c = c0[-1]
        out.append(LayerSpec("lastact", "digital", 0, 0, h * w, 3 * c * h * w))
        out.append(LayerSpec("pool", "digital", 0, 0, 1, c * h * w))
        out.append(LayerSpec("classifier", "linear", c, num_classes, 1, num_classes))
        return out

    # --- features -----------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    def encode(self, arch: NB201Arch) -> np.ndarray:
        """One-hot operation per edge (30 values)."""
        vec = np.zeros((len(EDGES), len(OP_NAMES)))
        vec[np.arange(len(EDGES)), arch.ops] = 1.0
        return vec.ravel()

    def encode_many(self, archs) -> np.ndarray:
        ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(-1, len(EDGES))
        out = np.zeros((len(ops), len(EDGES), len(OP_NAMES)))
        rows = np.arange(len(ops))[:, None]
        out[rows, np.arange(len(EDGES))[None, :], ops] = 1.0
        return out.reshape(len(ops), len(EDGES) * len(OP_NAMES))  # -1 fails for zero archs


def _window_reads(h: int, w: int, channels: int) -> int:
    """Input elements read by a 3x3, stride-1, padding-1 pool over an h x w map (padding
    excluded), summed over the output: per side, 3 per position less 1 at each border."""
    def side(n: int) -> int:
        return 3 * n - 2 if n > 1 else 1

    return channels * side(h) * side(w)


@functools.lru_cache(maxsize=None)  # at most 15,625 cells; the search loop asks for thousands per round
def _canonical_ops(ops: tuple[int, ...]) -> tuple[int, ...]:
    live = live_edges(np.asarray([ops]))[0]
    return tuple(int(o) if ok else NONE for o, ok in zip(ops, live))


def live_paths(ops: np.ndarray) -> np.ndarray:
    """(n, 4) bool: which of the PATHS of each cell (rows of an (n, 6) op array) are live,
    i.e. have no 'none' edge."""
    return np.stack([np.all(ops[:, list(p)] != NONE, axis=1) for p in PATHS], axis=1)


def live_edges(ops: np.ndarray) -> np.ndarray:
    """(n, 6) bool: which edges of each cell lie on a live path (the others do nothing)."""
    path_live = live_paths(ops)
    edge_live = np.zeros(ops.shape, dtype=bool)
    for k, p in enumerate(PATHS):
        edge_live[:, list(p)] |= path_live[:, [k]]
    return edge_live
