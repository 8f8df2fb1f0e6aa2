"""benchmark_surrogate on a slice of the real bench (skipped without analog-nasbench)."""

from __future__ import annotations

import pytest

from surrogate import bench, benchmark_surrogate, format_summary, summarize


@pytest.fixture(scope="module")
def small_bench():
    try:
        bench.find_bench_file()
    except ImportError as e:
        pytest.skip(f"analog-nasbench is not installed ({e})")
    return bench.load_analognas_bench().sample(1500, random_state=0).reset_index(drop=True)


def test_benchmark_table_and_summary(small_bench):
    df = benchmark_surrogate(train_sizes=(100,), seeds=2, table=small_bench, progress=False, k=20)
    assert len(df) == 2 * 2 * 3  # seeds x methods x targets
    assert set(df["method"]) == {"analognas", "onehot_xgb"}
    assert {"kendall_tau", "spearman", "ndcg@20", "precision@20"} <= set(df.columns)
    summary = summarize(df)
    assert len(summary) == 2 * 3 and (summary["seeds"] == 2).all()
    acc = summary[summary.target == "acc_1d"].set_index("method")["kendall_tau_mean"]
    # features and the ranker beat plain one-hot XGBoost clearly, even on 100 cells
    assert acc["analognas"] > acc["onehot_xgb"] + 0.1
    text = format_summary(summary, ["kendall_tau"])
    assert "±" in text and "onehot_xgb" in text
    with pytest.raises(ValueError, match="train_sizes"):
        benchmark_surrogate(train_sizes=(5000,), seeds=1, table=small_bench, progress=False)
