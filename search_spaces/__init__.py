"""Search spaces: the ResNet-like macro space of AnalogNAS and the NAS-Bench-201 cell space.

Example:
    >>> space = get_space("resnet_like")
    >>> space.name
    'resnet_like'
"""

from typing import Any

from .base import InvalidArchitectureError, SearchSpace, as_rng
from .nb201 import NB201Arch, NB201Space
from .resnet import REFERENCE_NETWORKS, MainBlock, ResNetArch, ResNetLikeSpace, resnet20, resnet32, resnet56

#: search space classes by their ``name``
SPACES: dict[str, type[SearchSpace]] = {
    ResNetLikeSpace.name: ResNetLikeSpace,
    NB201Space.name: NB201Space,
}


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """The search space called ``name`` ("resnet_like" or "nb201"), built with ``kwargs``.

    Example:
        >>> get_space("nb201").size()
        15625
    """
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; allowed names: {sorted(SPACES)}")
    return SPACES[name](**kwargs)


__all__ = [
    "InvalidArchitectureError",
    "SearchSpace",
    "as_rng",
    "NB201Arch",
    "NB201Space",
    "ResNetLikeSpace",
    "ResNetArch",
    "MainBlock",
    "resnet20",
    "resnet32",
    "resnet56",
    "REFERENCE_NETWORKS",
    "SPACES",
    "get_space",
]
