"""Search spaces: the ResNet-like macro space of AnalogNAS and the NAS-Bench-201 cell space."""

from .base import InvalidArchitectureError, SearchSpace, as_rng
from .nb201 import NB201Arch, NB201Space

__all__ = ["InvalidArchitectureError", "SearchSpace", "as_rng", "NB201Arch", "NB201Space"]
