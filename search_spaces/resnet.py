"""The ResNet-like macro search space of AnalogNAS (Benmeziane et al., 2023, Table I).

A network is a first convolution (``out_channel0`` channels, ``kernel0`` x ``kernel0``)
followed by 1-5 main blocks. Main block i holds ``residual_blocks`` residual blocks of one
``block_type``; each residual block sums ``branches`` parallel branches (plus a shortcut for
the residual types) and its output channels are those of the previous main block times
``widen``. Every main block after the first halves the feature map with its first residual
block. Global average pooling and a linear classifier end the network.

Block types:
    A: basic 2-conv (3x3, 3x3) branches, with a residual shortcut
    B: bottleneck 3-conv (1x1, 3x3, 1x1) branches, with a residual shortcut
    C: like A without the shortcut
    D: like B without the shortcut

Example:
    >>> space = ResNetLikeSpace()
    >>> arch = space.from_dict({"out_channel0": 16, "kernel0": 3,
    ...     "blocks": [{"block_type": "A", "residual_blocks": 3, "branches": 1, "widen": 1}]})
    >>> space.num_params(arch, input_shape=(3, 32, 32), num_classes=10)
    14650
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import (InvalidArchitectureError, LayerSpec, SearchSpace, Seed, Shape, as_rng, check_choice, check_keys,
                   conv_output_size, paused_gc, pick)

OUT_CHANNEL0 = (8, 12, 16, 32, 48, 64)
KERNEL0 = (3, 5, 7)
BLOCK_TYPES = ("A", "B", "C", "D")
RESIDUAL_BLOCKS = tuple(range(1, 17))
BRANCHES = tuple(range(1, 13))
WIDEN = tuple(range(1, 5))
MAX_MAIN_BLOCKS = 5

_BOTTLENECK = {"A": False, "B": True, "C": False, "D": True}
_RESIDUAL = {"A": True, "B": True, "C": False, "D": False}
#: The partner types reached by the depth (basic <-> bottleneck) and the "other"
#: (residual <-> plain) mutations; ``resnet_arrays`` derives its column permutations from them.
SWAP_BOTTLENECK = {"A": "B", "B": "A", "C": "D", "D": "C"}
SWAP_RESIDUAL = {"A": "C", "C": "A", "B": "D", "D": "B"}

_ALLOWED = {
    "out_channel0": OUT_CHANNEL0,
    "kernel0": KERNEL0,
    "block_type": BLOCK_TYPES,
    "residual_blocks": RESIDUAL_BLOCKS,
    "branches": BRANCHES,
    "widen": WIDEN,
}
_TOP_KEYS = ("out_channel0", "kernel0", "blocks")
_BLOCK_KEYS = ("block_type", "residual_blocks", "branches", "widen")
_SLOT_FIELDS = tuple(f"type_{t}" for t in BLOCK_TYPES) + ("residual_blocks", "branches", "widen")
# decode_many's integer code of an encoded main-block slot (the one-hot type, then the fields)
_SLOT_CODE = np.array([k << 15 for k in range(len(BLOCK_TYPES))] + [1 << 10, 1 << 5, 1], dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class MainBlock:
    """One main block: ``residual_blocks`` residual blocks of ``branches`` parallel branches.

    Example:
        >>> MainBlock("A", residual_blocks=3, branches=1, widen=2).to_dict()["widen"]
        2
    """

    block_type: str
    residual_blocks: int
    branches: int
    widen: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ResNetArch:
    """A point of the ResNet-like space; ``blocks`` holds the 1-5 main blocks in order.

    Example:
        >>> arch = ResNetArch(16, 3, (MainBlock("A", 3, 1, 1),))
        >>> arch.to_dict()["blocks"][0]["block_type"]
        'A'
    """

    out_channel0: int
    kernel0: int
    blocks: tuple[MainBlock, ...]
    # The search hashes each architecture several times (archive, caches, sets); the generated
    # hash walks every block each time, so it is computed once, when first asked for (a
    # mutation builds intermediate architectures that are never hashed).
    _hash: int | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A list would make the value unhashable; accept one and store the tuple.
        if not isinstance(self.blocks, tuple):
            object.__setattr__(self, "blocks", tuple(self.blocks))

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.out_channel0, self.kernel0, self.blocks))
            object.__setattr__(self, "_hash", h)
        return h

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Rebuild through the constructor: string hashes differ between processes, so a
        # pickled _hash would be wrong in another one (e.g. a Dask worker).
        return ResNetArch, (self.out_channel0, self.kernel0, self.blocks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_channel0": self.out_channel0,
            "kernel0": self.kernel0,
            "blocks": [b.to_dict() for b in self.blocks],
        }


def _cifar_resnet(n: int) -> ResNetArch:
    """The CIFAR ResNet-(6n+2) of He et al.: 16/32/64 channels, n basic blocks per stage."""
    return ResNetArch(16, 3, (MainBlock("A", n, 1, 1), MainBlock("A", n, 1, 2), MainBlock("A", n, 1, 2)))


def resnet20() -> ResNetArch:
    """CIFAR ResNet-20 (about 0.27 M parameters for 3x32x32 inputs and 10 classes).

    Shortcuts that change shape are 1x1 convolutions (He et al.'s option B), so the count is
    a few thousand above the 0.27 M of the zero-padding variant.

    Example:
        >>> ResNetLikeSpace().num_params(resnet20())
        272474
    """
    return _cifar_resnet(3)


def resnet32() -> ResNetArch:
    """CIFAR ResNet-32 (about 0.46 M parameters for 3x32x32 inputs and 10 classes)."""
    return _cifar_resnet(5)


def resnet56() -> ResNetArch:
    """CIFAR ResNet-56 (about 0.85 M parameters for 3x32x32 inputs and 10 classes)."""
    return _cifar_resnet(9)


REFERENCE_NETWORKS: dict[str, ResNetArch] = {
    "resnet20": resnet20(),
    "resnet32": resnet32(),
    "resnet56": resnet56(),
}


# --- shapes and parameter counts (shared by layer_shapes, num_params and nothing else) ---
def _branch_shapes(block_type: str, c_in: int, c_out: int) -> list[Shape]:
    """(rows, cols) of one branch's convolutions, in the order the network applies them."""
    if _BOTTLENECK[block_type]:
        mid = max(c_out // 4, 1)
        return [(c_in, mid), (mid * 9, mid), (mid, c_out)]
    return [(c_in * 9, c_out), (c_out * 9, c_out)]


def _needs_projection(block_type: str, c_in: int, c_out: int, stride: int) -> bool:
    """Residual types need a 1x1 conv + BN shortcut when the shape changes."""
    return _RESIDUAL[block_type] and (stride != 1 or c_in != c_out)


def _conv_bn_params(shapes: Sequence[Shape]) -> int:
    # Every convolution here is followed by a BatchNorm with a weight and a bias per channel.
    return sum(r * c + 2 * c for r, c in shapes)


@functools.lru_cache(maxsize=1 << 16)
def _main_block_params(block: MainBlock, c_in: int, stride: int) -> int:
    """Parameters of one main block; cached because the search counts the same ones often."""
    t, c_out = block.block_type, c_in * block.widen
    first = block.branches * _conv_bn_params(_branch_shapes(t, c_in, c_out))
    if _needs_projection(t, c_in, c_out, stride):
        first += _conv_bn_params([(c_in, c_out)])
    rest = block.branches * _conv_bn_params(_branch_shapes(t, c_out, c_out))
    return first + (block.residual_blocks - 1) * rest


def _strides(n_blocks: int) -> list[int]:
    return [1] + [2] * (n_blocks - 1)


# --- the network ----------------------------------------------------------------------
def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out)]


def _make_branch(block_type: str, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    if _BOTTLENECK[block_type]:
        mid = max(c_out // 4, 1)
        # The stride sits on the 3x3 conv (torchvision's ResNet v1.5).
        return nn.Sequential(
            *_conv_bn(c_in, mid, 1), nn.ReLU(inplace=True),
            *_conv_bn(mid, mid, 3, stride), nn.ReLU(inplace=True),
            *_conv_bn(mid, c_out, 1),
        )
    return nn.Sequential(*_conv_bn(c_in, c_out, 3, stride), nn.ReLU(inplace=True), *_conv_bn(c_out, c_out, 3))


class ResidualBlock(nn.Module):
    """Sum of ``branches`` parallel branches, plus a shortcut for types A and B, then ReLU."""

    def __init__(self, block_type: str, branches: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_make_branch(block_type, c_in, c_out, stride) for _ in range(branches))
        self.shortcut: nn.Module | None = None
        if _RESIDUAL[block_type]:
            self.shortcut = (nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
                             if _needs_projection(block_type, c_in, c_out, stride) else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class ResNetLikeNetwork(nn.Module):
    """The digital network of one ResNet-like architecture (see the module docstring).

    Example:
        >>> net = ResNetLikeNetwork(resnet20(), (1, 28, 28), num_classes=10)
        >>> tuple(net(torch.zeros(2, 1, 28, 28)).shape)
        (2, 10)
    """

    def __init__(self, arch: ResNetArch, input_shape: tuple[int, int, int] = (3, 32, 32),
                 num_classes: int = 10) -> None:
        super().__init__()
        c = arch.out_channel0
        self.stem = nn.Sequential(*_conv_bn(input_shape[0], c, arch.kernel0), nn.ReLU(inplace=True))
        stages = []
        for block, stride in zip(arch.blocks, _strides(len(arch.blocks))):
            c_out = c * block.widen
            layers = [ResidualBlock(block.block_type, block.branches, c, c_out, stride)]
            layers += [ResidualBlock(block.block_type, block.branches, c_out, c_out, 1)
                       for _ in range(block.residual_blocks - 1)]
            stages.append(nn.Sequential(*layers))
            c = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


# --- the space ------------------------------------------------------------------------
class ResNetLikeSpace(SearchSpace):
    """The ResNet-like macro space of AnalogNAS.

    Args:
        p_depth: probability that a mutation changes the depth (add/remove a main block or a
            residual block, basic <-> bottleneck).
        p_width: probability that it changes the width (add/remove a branch, the first conv's
            channels, a widening factor).
        p_other: probability that it adds/removes a residual connection or changes the first
            conv's kernel size.

    Each kind is applied independently with its probability; a draw that changes nothing is
    drawn again, so ``mutate`` always returns a different architecture.

    Example:
        >>> space = ResNetLikeSpace()
        >>> arch = space.sample(0, max_params=100_000)
        >>> space.num_params(arch) < 100_000
        True
        >>> space.mutate(arch, 0) != arch
        True
    """

    name = "resnet_like"

    def __init__(self, p_depth: float = 0.8, p_width: float = 0.8, p_other: float = 0.6) -> None:
        for field, p in (("p_depth", p_depth), ("p_width", p_width), ("p_other", p_other)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{field}={p!r} must be a probability in [0, 1]")
        if p_depth + p_width + p_other == 0:
            raise ValueError("at least one of p_depth, p_width, p_other must be positive")
        self.p_depth = p_depth
        self.p_width = p_width
        self.p_other = p_other
        self._feature_names = ["out_channel0", "kernel0", "n_blocks"] + [
            f"block{i + 1}_{f}" for i in range(MAX_MAIN_BLOCKS) for f in _SLOT_FIELDS
        ]

    def __repr__(self) -> str:
        return f"ResNetLikeSpace(p_depth={self.p_depth}, p_width={self.p_width}, p_other={self.p_other})"

    @property
    def arch_type(self) -> type:
        return ResNetArch

    # --- values -------------------------------------------------------------------------
    def from_dict(self, d: Mapping[str, Any]) -> ResNetArch:
        """Validate a dict (e.g. from JSON) and return the architecture.

        Example:
            >>> ResNetLikeSpace().from_dict(resnet20().to_dict()) == resnet20()
            True
        """
        check_keys("ResNet-like architecture", d, _TOP_KEYS)
        top = {field: check_choice(field, d[field], _ALLOWED[field]) for field in ("out_channel0", "kernel0")}
        blocks = d["blocks"]
        if not isinstance(blocks, (list, tuple)) or not 1 <= len(blocks) <= MAX_MAIN_BLOCKS:
            got = f"{len(blocks)} main blocks" if isinstance(blocks, (list, tuple)) else repr(blocks)
            raise InvalidArchitectureError(
                f"blocks={got} is not allowed; expected a list of 1..{MAX_MAIN_BLOCKS} main blocks"
            )
        parsed = []
        for i, b in enumerate(blocks):
            where = f"blocks[{i}]"
            check_keys(where, b, _BLOCK_KEYS)
            parsed.append(MainBlock(**{f: check_choice(f"{where}.{f}", b[f], _ALLOWED[f]) for f in _BLOCK_KEYS}))
        return ResNetArch(top["out_channel0"], top["kernel0"], tuple(parsed))

    @staticmethod
    def _random_block(rng: np.random.Generator) -> MainBlock:
        return MainBlock(pick(BLOCK_TYPES, rng), pick(RESIDUAL_BLOCKS, rng), pick(BRANCHES, rng), pick(WIDEN, rng))

    def smallest(self) -> ResNetArch:
        """The architecture with the fewest parameters (for any input shape and class count)."""
        # A bottleneck with widen 1 in the first main block has an identity shortcut, so
        # B and D tie; both are far smaller than the basic types.
        return ResNetArch(OUT_CHANNEL0[0], KERNEL0[0], (MainBlock("D", 1, 1, 1),))

    def sample(self, rng: Seed = None, max_params: int | None = None, *,
               input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> ResNetArch:
        """Draw every hyperparameter uniformly; with ``max_params``, shrink the draw below it.

        Shrinking takes random steps that each lower one hyperparameter (fewer branches or
        residual blocks, a smaller widening factor, channel count or kernel, one main block
        less, basic -> bottleneck) until the count is below the cap, so it ends in a few
        dozen steps. ``input_shape`` and ``num_classes`` are those the cap refers to.

        Example:
            >>> space = ResNetLikeSpace()
            >>> space.sample(1) == space.sample(1)
            True
        """
        rng = as_rng(rng)
        n_blocks = pick(range(1, MAX_MAIN_BLOCKS + 1), rng)
        arch = ResNetArch(pick(OUT_CHANNEL0, rng), pick(KERNEL0, rng),
                          tuple(self._random_block(rng) for _ in range(n_blocks)))
        if max_params is None:
            return arch
        self._check_cap(max_params, input_shape, num_classes)
        while self.num_params(arch, input_shape, num_classes) >= max_params:
            arch = self._shrink(arch, rng)
        return arch

    def _check_cap(self, max_params: int, input_shape: tuple[int, int, int], num_classes: int) -> None:
        least = self.num_params(self.smallest(), input_shape, num_classes)
        if max_params <= least:
            raise ValueError(
                f"max_params={max_params!r} is not above the smallest network of this space "
                f"({least} parameters for input_shape={tuple(input_shape)}, num_classes={num_classes})"
            )

    def _shrink(self, arch: ResNetArch, rng: np.random.Generator) -> ResNetArch:
        """One random step that lowers one hyperparameter; the fixpoint is ``smallest()``-sized."""
        blocks = arch.blocks
        steps: list[tuple[int | None, str]] = []  # (main block index or None for the stem, field)
        steps += [(None, f) for f in ("out_channel0", "kernel0") if getattr(arch, f) > _ALLOWED[f][0]]
        if len(blocks) > 1:
            steps.append((None, "blocks"))
        for i, b in enumerate(blocks):
            steps += [(i, f) for f in ("residual_blocks", "branches", "widen") if getattr(b, f) > 1]
            if not _BOTTLENECK[b.block_type]:
                steps.append((i, "block_type"))
        if not steps:  # unreachable while the cap is above smallest(), which sample checks
            raise ValueError("cannot shrink the architecture any further")
        i, field = pick(steps, rng)
        if field == "blocks":
            return _with_blocks(arch, _drop(blocks, pick(range(len(blocks)), rng)))
        if i is None:
            return dataclasses.replace(arch, **{field: _lower(getattr(arch, field), _ALLOWED[field], rng)})
        if field == "block_type":  # a bottleneck has far fewer weights than a basic branch
            return _with_block(arch, i, block_type=SWAP_BOTTLENECK[blocks[i].block_type])
        return _with_block(arch, i, **{field: _lower(getattr(blocks[i], field), _ALLOWED[field], rng)})

    def mutate(self, arch: ResNetArch, rng: Seed = None, max_params: int | None = None, *,
               input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10,
               max_tries: int = 1000) -> ResNetArch:
        """Apply each mutation kind with its probability; return a different (capped) arch.

        Within a kind one applicable mutation is chosen uniformly. With ``max_params`` the
        result stays below it (for ``input_shape`` / ``num_classes``); ValueError when no
        neighbour below the cap turns up in ``max_tries`` draws.

        The operators exist once, in :meth:`mutate_encoded`; this is that on a batch of one:
        ``mutate(arch, seed) == decode_many(mutate_encoded(encode_many([arch]), seed))[0]``.

        Example:
            >>> space = ResNetLikeSpace(p_depth=0.0, p_width=0.0, p_other=1.0)
            >>> child = space.mutate(resnet20(), 0)
            >>> child.blocks[0].block_type in ("A", "C") and child != resnet20()
            True
        """
        from . import resnet_arrays
        rng = as_rng(rng)
        enc = self.encode_many([arch])
        for _ in range(max_tries):
            child = self.decode_many(resnet_arrays.mutate(enc, rng, self._kinds(), max_tries))[0]
            if max_params is None or self.num_params(child, input_shape, num_classes) < max_params:
                return child
        cap = "" if max_params is None else f" below max_params={max_params}"
        raise ValueError(f"no different architecture{cap} in {max_tries} mutations of {arch}")

    def _kinds(self) -> tuple[tuple[str, float], ...]:
        """The mutation kinds with their probabilities, in the order they are applied."""
        return (("depth", self.p_depth), ("width", self.p_width), ("other", self.p_other))

    def crossover(self, a: ResNetArch, b: ResNetArch, rng: Seed = None) -> ResNetArch:
        """Stem fields and main-block count each from either parent; main block i from either
        parent that has one (whole blocks, so each stays a block one parent used).

        :meth:`crossover_encoded` on a batch of one, as :meth:`mutate` is.

        Example:
            >>> space = ResNetLikeSpace()
            >>> space.crossover(resnet20(), resnet20(), 0) == resnet20()
            True
        """
        from . import resnet_arrays
        enc = self.encode_many([a, b])
        return self.decode_many(resnet_arrays.crossover(enc[:1], enc[1:], as_rng(rng)))[0]

    def size(self) -> int:
        """Distinct architectures: every stem times every sequence of 1-5 main blocks.

        Example:
            >>> ResNetLikeSpace().size() > 10**17
            True
        """
        per_block = len(BLOCK_TYPES) * len(RESIDUAL_BLOCKS) * len(BRANCHES) * len(WIDEN)
        stems = len(OUT_CHANNEL0) * len(KERNEL0)
        return stems * sum(per_block**m for m in range(1, MAX_MAIN_BLOCKS + 1))

    # --- networks -----------------------------------------------------------------------
    def build(self, arch: ResNetArch, input_shape: tuple[int, int, int] = (3, 32, 32),
              num_classes: int = 10) -> nn.Module:
        return ResNetLikeNetwork(arch, tuple(input_shape), num_classes)

    def layer_shapes(self, arch: ResNetArch, input_shape: tuple[int, int, int] = (3, 32, 32),
                     num_classes: int = 10) -> list[Shape]:
        """Shapes in the order the built module registers its Conv2d / Linear layers.

        Example:
            >>> ResNetLikeSpace().layer_shapes(resnet20())[0]
            (27, 16)
        """
        c = arch.out_channel0
        shapes: list[Shape] = [(input_shape[0] * arch.kernel0**2, c)]
        for block, stride in zip(arch.blocks, _strides(len(arch.blocks))):
            t, c_out = block.block_type, c * block.widen
            for r in range(block.residual_blocks):
                c_in, s = (c, stride) if r == 0 else (c_out, 1)
                shapes += _branch_shapes(t, c_in, c_out) * block.branches
                if _needs_projection(t, c_in, c_out, s):
                    shapes.append((c_in, c_out))
            c = c_out
        shapes.append((c, num_classes))
        return shapes

    def num_params(self, arch: ResNetArch, input_shape: tuple[int, int, int] = (3, 32, 32),
                   num_classes: int = 10) -> int:
        """Exact parameter count in closed form, without building (a few microseconds).

        Example:
            >>> ResNetLikeSpace().num_params(resnet32())
            466906
        """
        c = arch.out_channel0
        total = _conv_bn_params([(input_shape[0] * arch.kernel0**2, c)])
        for block, stride in zip(arch.blocks, _strides(len(arch.blocks))):
            total += _main_block_params(block, c, stride)
            c *= block.widen
        return total + c * num_classes + num_classes  # classifier weight and bias

    def layers(self, arch: ResNetArch, input_shape: tuple[int, int, int] = (3, 32, 32),
               num_classes: int = 10) -> list[LayerSpec]:
        """Every step of one inference in forward order, with module names of ``build(arch)``.

        Each convolution carries its BatchNorm (and ReLU, where one follows inside the branch)
        as digital operations; each residual block ends with a digital step that sums its
        branches and shortcut and applies the ReLU; then global pooling and the classifier.

        Example:
            >>> steps = ResNetLikeSpace().layers(resnet20())
            >>> steps[0].name, steps[0].rows, steps[0].cols, steps[0].positions
            ('stem.0', 27, 16, 1024)
        """
        c, h, w = arch.out_channel0, input_shape[1], input_shape[2]
        k0 = arch.kernel0
        h, w = conv_output_size(h, k0, 1), conv_output_size(w, k0, 1)
        out: list[LayerSpec] = [LayerSpec("stem.0", "conv", input_shape[0] * k0**2, c, h * w, 3 * c * h * w)]
        for i, (block, stride) in enumerate(zip(arch.blocks, _strides(len(arch.blocks)))):
            t, c_out = block.block_type, c * block.widen
            for r in range(block.residual_blocks):
                c_in, s = (c, stride) if r == 0 else (c_out, 1)
                name = f"stages.{i}.{r}"
                h_out, w_out = conv_output_size(h, 3, s), conv_output_size(w, 3, s)
                # (rows, cols, output pixels) of each conv; the stride sits on the 3x3 conv
                if _BOTTLENECK[t]:
                    mid = max(c_out // 4, 1)
                    convs = [(c_in, mid, h * w), (mid * 9, mid, h_out * w_out), (mid, c_out, h_out * w_out)]
                else:
                    convs = [(c_in * 9, c_out, h_out * w_out), (c_out * 9, c_out, h_out * w_out)]
                for b in range(block.branches):
                    for j, (rows, cols, pixels) in enumerate(convs):
                        relu = j < len(convs) - 1  # BN then ReLU, except after the branch's last conv
                        out.append(LayerSpec(f"{name}.branches.{b}.{3 * j}", "conv", rows, cols, pixels,
                                             (3 if relu else 2) * cols * pixels))
                if _needs_projection(t, c_in, c_out, s):
                    out.append(LayerSpec(f"{name}.shortcut.0", "conv", c_in, c_out, h_out * w_out,
                                         2 * c_out * h_out * w_out))
                terms = block.branches + _RESIDUAL[t]  # summed, then one ReLU
                out.append(LayerSpec(f"{name} (sum, relu)", "digital", 0, 0, h_out * w_out,
                                     terms * c_out * h_out * w_out))
                h, w = h_out, w_out
            c = c_out
        out.append(LayerSpec("pool", "digital", 0, 0, 1, c * h * w))
        out.append(LayerSpec("classifier", "linear", c, num_classes, 1, num_classes))
        return out

    # --- features -----------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    def encode(self, arch: ResNetArch) -> np.ndarray:
        """out_channel0, kernel0, n_blocks, then per slot 1-5: type one-hot (A-D),
        residual_blocks, branches, widen; zeros for unused slots (38 values).

        Example:
            >>> ResNetLikeSpace().encode(resnet20())[:4].tolist()
            [16.0, 3.0, 3.0, 1.0]
        """
        return self.encode_many([arch])[0]

    def encode_many(self, archs: Sequence[ResNetArch]) -> np.ndarray:
        """``encode`` for many architectures at once, as an (n, 38) float array."""
        out = np.zeros((len(archs), len(self._feature_names)))
        width = len(_SLOT_FIELDS)
        type_index = {t: k for k, t in enumerate(BLOCK_TYPES)}
        for row, arch in zip(out, archs):  # a tight loop: 10,000 archs take ~20 ms
            row[0], row[1], row[2] = arch.out_channel0, arch.kernel0, len(arch.blocks)
            for i, b in enumerate(arch.blocks):
                base = 3 + i * width
                row[base + type_index[b.block_type]] = 1.0
                row[base + 4], row[base + 5], row[base + 6] = b.residual_blocks, b.branches, b.widen
        return out

    # --- vectorised operations on encodings -----------------------------------------------
    # (resnet_arrays imports this module's choices, hence the imports inside the methods)
    has_encoded_ops = True

    def decode_many(self, enc: np.ndarray) -> list[ResNetArch]:
        """Architectures of encoding rows (as made by ``encode_many``; not validated).

        Example:
            >>> space = ResNetLikeSpace()
            >>> space.decode_many(space.encode_many([resnet20()])) == [resnet20()]
            True
        """
        from . import resnet_arrays
        e = resnet_arrays.as_encodings(enc).astype(np.int64)
        # Each distinct main block is made once (``_block_of_code`` caches them), found
        # through one integer code per slot: type, then fields, 5 bits each.
        codes = (resnet_arrays.slots(e) @ _SLOT_CODE).tolist()
        with paused_gc():
            return [_new_arch(oc, k0, tuple(map(_block_of_code, ids[:nb])))
                    for (oc, k0, nb), ids in zip(e[:, :3].tolist(), codes)]

    def mutate_encoded(self, enc: np.ndarray, rng: Seed = None) -> np.ndarray:
        """``mutate`` on every row at once (same operators and probabilities).

        Example:
            >>> space = ResNetLikeSpace()
            >>> enc = space.encode_many(space.sample_many(3, 0))
            >>> bool((space.mutate_encoded(enc, 0) != enc).any(axis=1).all())
            True
        """
        from . import resnet_arrays
        return resnet_arrays.mutate(enc, as_rng(rng), self._kinds())

    def crossover_encoded(self, a: np.ndarray, b: np.ndarray, rng: Seed = None) -> np.ndarray:
        """``crossover`` of ``a[i]`` and ``b[i]`` for every row i."""
        from . import resnet_arrays
        return resnet_arrays.crossover(a, b, as_rng(rng))

    def counts_encoded(self, enc: np.ndarray, tile_size: int = 512,
                       input_shape: tuple[int, int, int] = (3, 32, 32),
                       num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(num_params, num_tiles)`` of every row, vectorised.

        Example:
            >>> space = ResNetLikeSpace()
            >>> params, tiles = space.counts_encoded(space.encode_many([resnet20()]))
            >>> int(params[0]) == space.num_params(resnet20()), int(tiles[0]) == space.num_tiles(resnet20())
            (True, True)
        """
        from . import resnet_arrays
        stats = resnet_arrays.layer_stats(enc, tuple(input_shape), num_classes, tile_size)
        return stats["params"], stats["tiles"]


def _new_arch(out_channel0: int, kernel0: int, blocks: tuple[MainBlock, ...]) -> ResNetArch:
    """``ResNetArch(out_channel0, kernel0, blocks)`` for values known to be valid, 4x faster
    than the frozen dataclass's constructor (decoding a search's history makes 100,000s)."""
    arch = object.__new__(ResNetArch)
    arch.__dict__.update(out_channel0=out_channel0, kernel0=kernel0, blocks=blocks, _hash=None)
    return arch


@functools.lru_cache(maxsize=1 << 12)
def _block_of_code(code: int) -> MainBlock:
    """The main block of ``decode_many``'s slot code, made once per code (a value, so shared;
    there are 3,072)."""
    return MainBlock(BLOCK_TYPES[code >> 15], (code >> 10) & 31, (code >> 5) & 31, code & 31)


def _with_blocks(arch: ResNetArch, blocks: tuple[MainBlock, ...]) -> ResNetArch:
    """``arch`` with other main blocks (the constructor: ``dataclasses.replace`` is 3x slower)."""
    return ResNetArch(arch.out_channel0, arch.kernel0, blocks)


def _with_block(arch: ResNetArch, i: int, **changes: Any) -> ResNetArch:
    """``arch`` with fields of main block ``i`` replaced."""
    b = arch.blocks[i]
    new = MainBlock(changes.get("block_type", b.block_type), changes.get("residual_blocks", b.residual_blocks),
                    changes.get("branches", b.branches), changes.get("widen", b.widen))
    return _with_blocks(arch, arch.blocks[:i] + (new,) + arch.blocks[i + 1:])


def _lower(value: int, allowed: Sequence[int], rng: np.random.Generator) -> int:
    # A uniform smaller value, not value - 1: shrinking then takes ~log steps, not one per unit.
    return pick([v for v in allowed if v < value], rng)


def _drop(blocks: tuple[MainBlock, ...], i: int) -> tuple[MainBlock, ...]:
    return blocks[:i] + blocks[i + 1:]
