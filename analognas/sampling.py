"""Drawing architectures for a search: below a parameter cap (:class:`Sampler`), without
repeats (:func:`unique_samples`, :func:`first_new`) and spread over the space
(:func:`spread_out`)."""

from __future__ import annotations

import time
from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from search_spaces.base import SearchSpace

__all__ = ["Sampler", "unique_samples", "first_new", "spread_out"]


class Sampler:
    """Draws architectures below ``max_params``, falling back to unconstrained sampling when the
    space finds none below the limit; ``note`` then says so, for the search's message.

    Example:
        >>> from search_spaces import NB201Space
        >>> draw = Sampler(NB201Space(), max_params=10**9)
        >>> arch = draw(np.random.default_rng(0))
        >>> draw.note
        ''
    """

    def __init__(self, space: SearchSpace, max_params: int | None) -> None:
        self.space = space
        self.max_params = max_params
        self.note = ""

    def __call__(self, rng: np.random.Generator) -> Any:
        if self.max_params is not None:
            try:
                return self.space.sample(rng, max_params=self.max_params)
            except ValueError as e:
                self.max_params = None
                self.note = f"sampling below max_params failed ({e}); sampled without the limit"
        return self.space.sample(rng)


def unique_samples(sampler: Sampler, rng: np.random.Generator, n: int, exclude: Container[Any],
                   deadline: float, max_misses: int = 200) -> list[Any]:
    """Up to ``n`` distinct samples not in ``exclude``; stops after ``max_misses`` repeats in a
    row (a small space is exhausted) or at the deadline (a ``time.perf_counter`` value).

    Example:
        >>> from search_spaces import NB201Space
        >>> archs = unique_samples(Sampler(NB201Space(), None), np.random.default_rng(0), 5, set(), float("inf"))
        >>> len(set(archs))
        5
    """
    out, seen, misses = [], set(), 0
    while len(out) < n and misses < max_misses:
        if len(out) % 64 == 0 and time.perf_counter() >= deadline:
            break
        a = sampler(rng)
        if a in seen or a in exclude:
            misses += 1
            continue
        misses = 0
        seen.add(a)
        out.append(a)
    return out


def first_new(keys: list[Any], *known: Container[Any]) -> list[int]:
    """Ascending positions of the first occurrence of each key of ``keys`` that is in none
    of the ``known`` containers.

    Example:
        >>> first_new(["a", "b", "a", "c"], {"b"})
        [0, 3]
    """
    # zip over the reversed keys leaves each key's first position in the dict (built in C)
    first = list(dict(zip(reversed(keys), range(len(keys) - 1, -1, -1))).items())
    for container in known:
        first = [(k, i) for k, i in first if k not in container]
    return sorted(i for _, i in first)


def spread_out(space: SearchSpace, pool: Sequence[Any], n: int, rng: np.random.Generator,
               fixed: Sequence[Any] = ()) -> list[Any]:
    """Pick ``n`` architectures of ``pool`` that cover the space: greedy farthest-point
    (max-min distance) selection on the standardised encodings, starting from ``fixed``
    (or from a random pool member).

    Example:
        >>> from search_spaces import NB201Space
        >>> space = NB201Space()
        >>> picks = spread_out(space, space.sample_many(500, 0), 50, np.random.default_rng(0))
        >>> len(set(picks))
        50
    """
    pool = list(pool)
    if n >= len(pool):
        return pool
    if n <= 0:
        return []
    x = np.asarray(space.encode_many(list(fixed) + pool), dtype=float)
    std = x.std(axis=0)
    x = x[:, std > 0] / std[std > 0]  # every feature counts the same, constant ones not at all
    anchors, cand = x[: len(fixed)], x[len(fixed):]
    sq = (cand**2).sum(1)
    if len(anchors):
        # squared distances through |a|^2 + |b|^2 - 2ab: no (pool x anchors x features) array
        d = (sq[:, None] + (anchors**2).sum(1)[None, :] - 2 * cand @ anchors.T).min(axis=1)
        picked: list[int] = []
    else:
        first = int(rng.integers(len(pool)))
        d = sq + sq[first] - 2 * cand @ cand[first]
        picked = [first]
    d[picked] = -np.inf
    while len(picked) < n:
        i = int(np.argmax(d))
        picked.append(i)
        d = np.minimum(d, sq + sq[i] - 2 * cand @ cand[i])
        d[i] = -np.inf
    return [pool[i] for i in picked]
