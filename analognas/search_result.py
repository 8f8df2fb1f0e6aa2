"""What a search returns: :class:`SearchResult`, whose history and Pareto front are tabulated
from the search's archive when first read."""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # the archive builds results: importing it here at run time would be a cycle
    from analognas.archive import Archive

__all__ = ["SearchResult", "HISTORY_COLUMNS", "empty_history"]

#: the columns of ``SearchResult.history``, in order
HISTORY_COLUMNS = ("generation", "arch", "acc_1d", "acc_1d_std", "avm", "params", "tiles", "feasible",
                   "violation", "objective")


def empty_history() -> pd.DataFrame:
    """A history with its columns and no rows.

    Example:
        >>> empty_history().columns.tolist()[:3], len(empty_history())
        (['generation', 'arch', 'acc_1d'], 0)
    """
    return pd.DataFrame({c: pd.Series(dtype=object if c == "arch" else float) for c in HISTORY_COLUMNS})


@dataclasses.dataclass
class SearchResult:
    """What a search returns.

    Attributes:
        best: the best feasible architecture (or the least infeasible when ``feasible`` is False).
        best_prediction: its predicted acc_1d, acc_1d_std, avm, exact params and tiles,
            objective and violation.
        feasible: whether ``best`` satisfies every constraint.
        message: how the search ended, in words.
        elapsed_s: wall-clock seconds of ``run``.
        n_scored: architectures scored.
        interrupted: whether Ctrl-C ended the search before its limits did.
        history: one row per scored architecture (no duplicates), in scoring order: generation,
            arch, acc_1d, acc_1d_std, avm (predicted), params, tiles (exact; tiles <NA> unless
            counted, see ``count_tiles``), feasible, violation, objective.
        pareto_front: the feasible architectures of ``history`` that no other feasible one
            beats on predicted acc_1d (max), avm (min) and params (min) at once.

    ``history`` and ``pareto_front`` are built from the search's archive when first read
    (a search scores 100,000s of candidates; ``run`` returns without tabulating them).
    """

    best: Any
    best_prediction: dict[str, float]
    feasible: bool
    message: str
    elapsed_s: float = 0.0
    n_scored: int = 0
    archive: Archive | None = dataclasses.field(default=None, repr=False, compare=False)
    #: True when Ctrl-C ended the search early (``best`` is the best of what was scored)
    interrupted: bool = False

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        if self.archive is None:
            return empty_history()
        return self.archive.history(self.n_scored)

    @functools.cached_property
    def pareto_front(self) -> pd.DataFrame:
        if self.archive is None:
            return empty_history()
        return self.archive.front(self.history)
