"""The search benchmark on AnalogNAS-Bench: JSON form, checks against the table, throughput."""

from __future__ import annotations

import json

import pytest
from _search_toys import NB201Toy
from test_loop import small_surrogate

from analognas.search import Constraints
from analognas.search_bench import benchmark_search, measure_throughput, summarize_search
from search_spaces import NB201Space


@pytest.fixture(scope="module")
def bench():
    from surrogate import load_analognas_bench

    return load_analognas_bench()


def test_bench_facts_behind_the_targets(bench):
    feasible = bench[bench["avm"] < 1.0]
    assert len(feasible) == 967
    assert feasible["acc_1d"].max() == pytest.approx(90.53)
    summary = summarize_search({"x": [{"seed": 0, "arch": [2, 2, 0, 4, 2, 1], "acc_1d": 90.53},
                                      {"seed": 1, "arch": [2, 0, 2, 0, 3, 0], "acc_1d": 90.11}]}, bench)
    assert summary.attrs["n_feasible"] == 967 and summary.attrs["best_feasible"] == pytest.approx(90.53)
    row = summary.loc["x"]
    assert row["mean"] == pytest.approx(90.32) and row["regret"] == pytest.approx(0.21)
    assert row["found"] == 2 and row["hit_best"] == 1
    assert row["sem"] == pytest.approx(0.42 / 2)  # std 0.297 over sqrt(2) seeds


def test_summary_checks_every_entry_against_the_table(bench):
    with pytest.raises(ValueError, match="table says"):
        summarize_search({"x": [{"seed": 0, "arch": [2, 2, 0, 4, 2, 1], "acc_1d": 91.0}]}, bench)
    infeasible = bench.loc[bench["avm"] >= 1.0].iloc[0]
    with pytest.raises(ValueError, match="avm"):
        summarize_search({"x": [{"seed": 0, "arch": list(infeasible["arch"].ops),
                                 "acc_1d": infeasible["acc_1d"]}]}, bench)


def test_benchmark_json_form(bench):
    kwargs = {"evolution": {"surrogate_factory": small_surrogate, "n_initial": 10, "batch_per_round": 10,
                            "search_kwargs": {"population_size": 40, "iterations": 8}}}
    results = benchmark_search(seeds=2, queries=20, max_avm=1.0, progress=False, table=bench,
                               method_kwargs=kwargs)
    assert list(results) == ["evolution", "random", "nsga2"]
    json.loads(json.dumps(results))  # plain JSON types only
    for method, entries in results.items():
        assert [e["seed"] for e in entries] == [0, 1]
        for e in entries:
            assert set(e) == {"seed", "arch", "acc_1d"}
            # a method that evaluated nothing feasible reports None (rare with 100 queries)
            assert (e["arch"] is None) == (e["acc_1d"] is None)
            if e["arch"] is not None:
                assert len(e["arch"]) == 6 and all(isinstance(o, int) for o in e["arch"])
    summary = summarize_search(results, bench)  # raises if any entry disagrees with the bench
    assert (summary["seeds"] == 2).all() and summary.loc["evolution", "found"] == 2
    with pytest.raises(ValueError, match="method"):
        benchmark_search(seeds=1, methods=("grid",), table=bench)


def test_measure_throughput_counts_scored_candidates():
    rate = measure_throughput(NB201Space(), NB201Toy(), seconds=0.5, constraints=Constraints(max_avm=1.0))
    assert rate > 100
