"""Ranking metrics for surrogates: does the predicted order match the true one?

All functions take ``y_true`` and ``y_pred`` (1-D, same length) where *larger is better*;
for a quantity where smaller is better (AVM, spread) pass both negated.

- :func:`kendall_tau`: Kendall's tau-b (ties counted as in scipy), in [-1, 1].
- :func:`spearman_rho`: Spearman's rank correlation, in [-1, 1].
- :func:`ndcg_at_k`: normalised discounted cumulative gain of the predicted top k, in [0, 1].
- :func:`precision_at_k`: share of the predicted top k that are truly in the top k, in [0, 1].

Example:
    >>> kendall_tau([1, 2, 3, 4], [10, 20, 40, 30])
    0.6666666666666669
    >>> precision_at_k([1, 2, 3, 4], [10, 20, 40, 30], k=2)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from analognas.checks import check_int

ArrayLike = Sequence[float] | np.ndarray


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("y_true and y_pred are empty")
    if np.isnan(t).any() or np.isnan(p).any():
        raise ValueError("y_true and y_pred must not contain NaN")
    return t, p


def kendall_tau(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Kendall's tau-b between true values and predictions (NaN when either is constant).

    Example:
        >>> kendall_tau([1, 2, 3], [3, 2, 1])
        -1.0
    """
    t, p = _pair(y_true, y_pred)
    return float(stats.kendalltau(t, p).statistic)


def spearman_rho(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Spearman's rank correlation (Pearson correlation of average ranks).

    Example:
        >>> spearman_rho([1, 2, 3], [1, 3, 2])
        0.5
    """
    t, p = _pair(y_true, y_pred)
    return float(stats.spearmanr(t, p).statistic)


def _top_k_by_prediction(p: np.ndarray, k: int) -> np.ndarray:
    # A stable sort on -p: among tied predictions the earlier item wins, so results are
    # deterministic and never depend on the sort algorithm.
    return np.argsort(-p, kind="stable")[:k]


def ndcg_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int = 10, gain: str = "rank") -> float:
    """NDCG@k: DCG of the k items ranked highest by ``y_pred`` over the best possible DCG.

    DCG@k = sum over positions i = 0..k-1 of ``rel[item_i] / log2(i + 2)``.

    ``gain`` sets each item's relevance ``rel``:
        - ``"rank"`` (default): ``max(0, k - r)`` where ``r`` is the number of items with a
          strictly larger ``y_true`` (the true best gets k, the true k-th best gets 1, the rest
          0; tied items share the better rank). Only the true top k count, so the score reflects
          the head of the ranking even when the values are all close (e.g. accuracies 85-90 %).
        - ``"value"``: ``y_true`` itself (must be non-negative), as in scikit-learn's
          ``ndcg_score`` for untied predictions.

    Example:
        >>> ndcg_at_k([3, 2, 1], [3, 2, 1], k=2)
        1.0
        >>> round(ndcg_at_k([0, 0, 1], [3, 2, 1], k=1, gain="value"), 3)
        0.0
    """
    t, p = _pair(y_true, y_pred)
    k = min(check_int("k", k, 1), t.size)
    if gain == "rank":
        rank = stats.rankdata(-t, method="min") - 1  # items strictly better than each one
        rel = np.maximum(0.0, k - rank)
    elif gain == "value":
        if (t < 0).any():
            raise ValueError('gain="value" needs non-negative y_true; use gain="rank"')
        rel = t
    else:
        raise ValueError(f"gain={gain!r} is not allowed; use 'rank' or 'value'")
    discount = 1.0 / np.log2(np.arange(k) + 2.0)
    dcg = float(rel[_top_k_by_prediction(p, k)] @ discount)
    ideal = float(np.sort(rel)[::-1][:k] @ discount)
    return dcg / ideal if ideal > 0 else float("nan")


def precision_at_k(y_true: ArrayLike, y_pred: ArrayLike, k: int = 10) -> float:
    """Share of the k items ranked highest by ``y_pred`` that are in the true top k.

    An item counts as "in the true top k" when its true value is at least the k-th largest
    true value, so ties at the boundary are never held against the prediction.

    Example:
        >>> precision_at_k([5, 4, 3, 2, 1], [1, 5, 4, 3, 2], k=2)
        0.5
    """
    t, p = _pair(y_true, y_pred)
    k = min(check_int("k", k, 1), t.size)
    kth_best = np.sort(t)[::-1][k - 1]
    return float(np.mean(t[_top_k_by_prediction(p, k)] >= kth_best))
