"""The interface every search space implements.

An architecture is an immutable, hashable value in canonical form (a frozen dataclass
with a ``to_dict()`` method). A search space knows how to sample, validate, mutate,
build, count and encode its architectures; it holds no state besides its settings.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import gc
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

Seed = int | np.random.Generator | None
Shape = tuple[int, int]


class InvalidArchitectureError(ValueError):
    """An architecture (or its dict form) is not in the search space.

    The message names the field, the bad value and what is allowed.
    """


def as_rng(seed: Seed) -> np.random.Generator:
    """Return a numpy Generator from an int seed, a Generator (passed through) or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")


def pick(options: Sequence[Any], rng: np.random.Generator) -> Any:
    """One of ``options``, uniformly, with a single scalar draw.

    The search mutates tens of thousands of architectures per second, and
    ``rng.choice(list)`` costs ~10x more than ``rng.random()`` (it builds an array each call).

    Example:
        >>> pick(("A", "B"), np.random.default_rng(0)) in ("A", "B")
        True
    """
    return options[int(rng.random() * len(options))]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block that makes many objects without
    cycles (decoding 100,000 architectures). Each collection walks every live object, so
    with a large archive alive they cost more than the objects themselves (3x measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_choice(field: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` as a plain Python value if it is one of ``allowed``, else raise.

    Bools are not ints; numpy integers are (and come back as ``int``).
    """
    # numpy integers (from arrays or pandas) count as ints; bools never do.
    kind = int if isinstance(value, np.integer) else type(value)
    if isinstance(value, (bool, np.bool_)) or kind is not type(allowed[0]) or value not in allowed:
        raise InvalidArchitectureError(
            f"{field}={value!r} is not allowed; allowed values: {list(allowed)}"
        )
    return kind(value)


def check_keys(where: str, d: Mapping[str, Any], required: Iterable[str]) -> None:
    """Raise InvalidArchitectureError for a non-mapping, a missing key or an unknown key."""
    if not isinstance(d, Mapping):
        raise InvalidArchitectureError(f"{where} must be a dict, got {type(d).__name__}")
    required = list(required)
    missing = [k for k in required if k not in d]
    unknown = [k for k in d if k not in required]
    if missing:
        raise InvalidArchitectureError(f"{where} is missing key(s) {missing}; required: {required}")
    if unknown:
        raise InvalidArchitectureError(f"{where} has unknown key(s) {unknown}; allowed: {required}")


LAYER_KINDS = ("conv", "linear", "digital")


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One step of a network's inference, as a weight-stationary accelerator runs it.

    Analog steps (``kind`` "conv" or "linear") hold a ``rows`` x ``cols`` weight matrix
    (input channels times kernel area, by output channels) and push ``positions`` input
    vectors through it per inference (the output positions of a convolution, 1 for a linear
    layer: aihwkit's reuse factor). Digital steps (``kind`` "digital", ``rows = cols = 0``)
    are what runs between the crossbars. ``digital_ops`` counts, per inference, the digital
    operations of the step: BatchNorm scale and shift (2 per element), activations (1 per
    element), residual and branch additions (1 per element), pooling (1 per input element of
    each window) and biases (1 per output). ``name`` is the module name in ``build(arch)``
    for analog steps.

    Example:
        >>> LayerSpec("stem.0", "conv", rows=27, cols=16, positions=1024, digital_ops=49152).kind
        'conv'
    """

    name: str
    kind: str
    rows: int
    cols: int
    positions: int
    digital_ops: int

    @property
    def is_analog(self) -> bool:
        """True for a step with a weight matrix on crossbars (conv or linear)."""
        return self.kind != "digital"


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Output side of a convolution or pooling with padding ``kernel // 2`` (odd kernels)."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def tiles_for_shape(rows: int, cols: int, tile_size: int) -> int:
    """Crossbar tiles needed for a rows x cols weight matrix split into tile_size squares."""
    return math.ceil(rows / tile_size) * math.ceil(cols / tile_size)


class SearchSpace(abc.ABC):
    """Common interface of the ResNet-like macro space and the NAS-Bench-201 cell space.

    Subclasses define the architecture value type and the methods below. ``input_shape`` is
    (channels, height, width); ``num_classes`` the classifier's outputs.
    """

    #: short identifier stored with datasets and surrogates ("resnet_like", "nb201")
    name: str = ""

    # --- values -------------------------------------------------------------------------
    @abc.abstractmethod
    def sample(self, rng: Seed = None, max_params: int | None = None) -> Any:
        """Draw one architecture in canonical form (optionally below ``max_params`` parameters)."""

    def sample_many(self, n: int, rng: Seed = None, max_params: int | None = None, **kwargs: Any) -> list[Any]:
        """Draw ``n`` architectures (duplicates possible) from one random stream; keyword
        arguments go to ``sample`` (e.g. the ResNet-like space's ``input_shape``)."""
        rng = as_rng(rng)
        return [self.sample(rng, max_params=max_params, **kwargs) for _ in range(n)]

    @abc.abstractmethod
    def from_dict(self, d: Mapping[str, Any]) -> Any:
        """Build a validated, canonical architecture from its dict form."""

    def validate(self, arch_or_dict: Any) -> Any:
        """Return the canonical architecture, or raise InvalidArchitectureError naming the field."""
        if isinstance(arch_or_dict, Mapping):
            return self.from_dict(arch_or_dict)
        if not isinstance(arch_or_dict, self.arch_type):
            raise InvalidArchitectureError(
                f"architecture must be a {self.arch_type.__name__} or a dict, "
                f"got {type(arch_or_dict).__name__}"
            )
        return self.from_dict(arch_or_dict.to_dict())

    @property
    @abc.abstractmethod
    def arch_type(self) -> type:
        """The class of this space's architecture values."""

    @abc.abstractmethod
    def mutate(self, arch: Any, rng: Seed = None) -> Any:
        """Return a valid architecture that differs from ``arch``."""

    def crossover(self, a: Any, b: Any, rng: Seed = None) -> Any:
        """Combine two parents into one child; spaces without a natural crossover mutate ``a``."""
        return self.mutate(a, rng)

    def canonical(self, arch: Any) -> Any:
        """A representative of the architectures that build the same network as ``arch``
        (``arch`` itself where every encoding is a distinct network)."""
        return arch

    @abc.abstractmethod
    def size(self) -> int:
        """Number of distinct canonical architectures."""

    # --- networks -----------------------------------------------------------------------
    @abc.abstractmethod
    def build(
        self, arch: Any, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
    ) -> torch.nn.Module:
        """A plain digital torch module for ``arch``; nothing else happens here."""

    @abc.abstractmethod
    def layer_shapes(
        self, arch: Any, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
    ) -> list[Shape]:
        """(rows, cols) of every conv / linear weight as a crossbar sees it, without building."""

    @abc.abstractmethod
    def num_params(
        self, arch: Any, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
    ) -> int:
        """Exact number of parameters of ``build(arch, ...)``, computed without building it."""

    def num_tiles(
        self,
        arch: Any,
        tile_size: int = 512,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 10,
    ) -> int:
        """Crossbar tiles needed when each weight matrix is split into tile_size x tile_size tiles."""
        if tile_size < 1:
            raise ValueError(f"tile_size={tile_size!r} must be a positive integer")
        shapes = self.layer_shapes(arch, input_shape, num_classes)
        return sum(tiles_for_shape(r, c, tile_size) for r, c in shapes)

    def layers(
        self, arch: Any, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10
    ) -> list[LayerSpec]:
        """Every step of one inference in forward order (see :class:`LayerSpec`), without
        building; the analog steps have the shapes of ``layer_shapes``. The cost model
        (``analognas.cost``) reads it."""
        raise NotImplementedError(f"{type(self).__name__} does not describe its layers")

    # --- features -----------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the entries of ``encode``'s vector."""

    @abc.abstractmethod
    def encode(self, arch: Any) -> np.ndarray:
        """Fixed-length float vector describing ``arch`` (see ``feature_names``)."""

    def encode_many(self, archs: Sequence[Any]) -> np.ndarray:
        """Stack ``encode`` over many architectures into a (n, n_features) float array."""
        if len(archs) == 0:
            return np.zeros((0, len(self.feature_names)))
        return np.stack([self.encode(a) for a in archs])

    # --- vectorised operations on encodings (optional) ----------------------------------
    #: True when the space implements the four methods below. The evolutionary search then
    #: keeps its candidates as rows of ``encode_many`` and mutates, crosses and counts whole
    #: batches at once; Python objects are made only for what it returns.
    has_encoded_ops: bool = False

    def decode_many(self, enc: np.ndarray) -> list[Any]:
        """Architectures of rows produced by ``encode_many`` or the methods below."""
        raise NotImplementedError(f"{type(self).__name__} has no encoded operations")

    def mutate_encoded(self, enc: np.ndarray, rng: Seed = None) -> np.ndarray:
        """``mutate`` applied to every row: each output row differs from its input row."""
        raise NotImplementedError(f"{type(self).__name__} has no encoded operations")

    def crossover_encoded(self, a: np.ndarray, b: np.ndarray, rng: Seed = None) -> np.ndarray:
        """``crossover`` of rows ``a[i]`` and ``b[i]`` for every i."""
        raise NotImplementedError(f"{type(self).__name__} has no encoded operations")

    def counts_encoded(self, enc: np.ndarray, tile_size: int = 512,
                       input_shape: tuple[int, int, int] = (3, 32, 32),
                       num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``(num_params, num_tiles)`` of every row, as two integer arrays."""
        raise NotImplementedError(f"{type(self).__name__} has no encoded operations")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
