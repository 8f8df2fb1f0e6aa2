"""Surrogate models of analog metrics, their features and metrics, and AnalogNAS-Bench.

Example:
    >>> from surrogate import kendall_tau
    >>> kendall_tau([1, 2, 3], [1, 2, 3])
    1.0
"""

from .bench import load_analognas_bench
from .benchmark import benchmark_surrogate, fit_bench_surrogate, format_summary, summarize
from .domain import SurrogateDomain
from .features import feature_matrix
from .metrics import kendall_tau, ndcg_at_k, precision_at_k, spearman_rho
from .model import AnalogSurrogate, NotFittedError, default_surrogate_path

__all__ = [
    "AnalogSurrogate",
    "NotFittedError",
    "SurrogateDomain",
    "default_surrogate_path",
    "load_analognas_bench",
    "feature_matrix",
    "kendall_tau",
    "spearman_rho",
    "ndcg_at_k",
    "precision_at_k",
    "benchmark_surrogate",
    "summarize",
    "format_summary",
    "fit_bench_surrogate",
]
