"""Progress bars (tqdm) that suit a terminal and a log file alike.

A bar redraws on every update that comes ``mininterval`` seconds after the last redraw. On a
terminal a redraw overwrites the line; in a file or a pipe each one stays as a line of the
log, so there the bars redraw rarely.

Example:
    >>> progress_bar(total=3, disable=True).mininterval in (0.1, 10.0)
    True
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_interval() -> float:
    """Seconds between redraws: 0.1 when stderr is a terminal, 10 when it is a file or a pipe."""
    try:
        return 0.1 if sys.stderr.isatty() else 10.0
    except (AttributeError, ValueError):  # stderr replaced or closed
        return 10.0


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """``tqdm(*args, **kwargs)`` redrawing at most every :func:`progress_interval` seconds
    (unless ``mininterval`` is given)."""
    kwargs.setdefault("mininterval", progress_interval())
    return tqdm(*args, **kwargs)
