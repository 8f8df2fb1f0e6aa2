"""The surrogate-assisted loop: exact budget, no repeated queries, real XGBoost surrogate."""

from __future__ import annotations

import pandas as pd
import pytest
from _search_toys import NB201Toy

from analognas.loop import LoopResult, OracleScorer, SurrogateAssistedSearch, table_oracle
from analognas.search import Constraints
from search_spaces import NB201Arch, NB201Space

SMALL_TREES = {"n_estimators": 40}


def small_surrogate(space, seed):
    from surrogate import AnalogSurrogate

    params = {k: SMALL_TREES for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}
    return AnalogSurrogate(space, params=params, seed=seed, n_jobs=1)


class CountingOracle:
    """A closed-form 'training run' that records every architecture it is asked about."""

    def __init__(self) -> None:
        self.toy = NB201Toy()
        self.asked: list = []

    def __call__(self, archs):
        self.asked.extend(archs)
        pred = self.toy.predict(archs)
        pred["acc_1d"] = 80 + 2 * pred["acc_1d"]  # an accuracy-like scale
        return pred


def test_loop_spends_exactly_n_queries_and_never_asks_twice():
    oracle = CountingOracle()
    loop = SurrogateAssistedSearch(NB201Space(), oracle, small_surrogate, Constraints(max_avm=1.0),
                                   n_initial=8, n_queries=27, batch_per_round=7,
                                   search_kwargs={"population_size": 40, "iterations": 10},
                                   seed=0, progress=False)
    result = loop.run()
    assert isinstance(result, LoopResult)
    assert len(oracle.asked) == 27 and len(set(oracle.asked)) == 27
    assert list(result.queried["arch"]) == oracle.asked
    assert result.queried["round"].tolist() == [0] * 8 + [1] * 7 + [2] * 7 + [3] * 5
    # the answer is the best *truly* feasible evaluated architecture
    feasible = result.queried[result.queried["avm"] < 1.0]
    assert result.feasible and result.best_metrics["acc_1d"] == feasible["acc_1d"].max()
    assert result.best_metrics["avm"] < 1.0


def test_loop_on_the_bench_beats_its_initial_sample():
    from surrogate import load_analognas_bench

    bench = load_analognas_bench()
    loop = SurrogateAssistedSearch(NB201Space(), table_oracle(bench), small_surrogate,
                                   Constraints(max_avm=1.0), n_initial=15, n_queries=45,
                                   batch_per_round=15, search_kwargs={"population_size": 60, "iterations": 15},
                                   seed=1, progress=False)
    result = loop.run()
    q = result.queried
    assert not q["arch"].duplicated().any() and len(q) == 45
    initial_best = q[(q["round"] == 0) & q["feasible"]]["acc_1d"].max()
    assert result.best_metrics["acc_1d"] >= initial_best
    # the surrogate-chosen queries are much better than random ones on average
    assert q[q["round"] > 0]["acc_1d"].mean() > bench["acc_1d"].mean() + 5


def test_same_seed_same_queries():
    def run():
        return SurrogateAssistedSearch(NB201Space(), CountingOracle(), small_surrogate, Constraints(max_avm=1.0),
                                       n_initial=6, n_queries=12, batch_per_round=6,
                                       search_kwargs={"population_size": 30, "iterations": 5},
                                       seed=5, progress=False).run()

    assert run().queried["arch"].tolist() == run().queried["arch"].tolist()


def test_table_oracle_and_oracle_scorer():
    table = pd.DataFrame({"arch": [NB201Arch((0,) * 6), NB201Arch((2,) * 6)], "acc_1d": [10.0, 90.0],
                          "acc_1d_std": [0.1, 0.2], "avm": [0.0, 1.5]})
    oracle = table_oracle(table)
    got = oracle([NB201Arch((2,) * 6)])
    assert got.to_dict("records") == [{"acc_1d": 90.0, "acc_1d_std": 0.2, "avm": 1.5}]
    assert OracleScorer(oracle).predict([NB201Arch((0,) * 6)])["acc_1d"].item() == 10.0
    with pytest.raises(KeyError, match="not in the oracle"):
        oracle([NB201Arch((3,) * 6)])
    with pytest.raises(ValueError, match="column"):
        table_oracle(table.drop(columns="avm"))


@pytest.mark.parametrize("kwargs", [
    {"n_initial": 50, "n_queries": 20}, {"n_queries": 0}, {"batch_per_round": 0},
    {"search_kwargs": {"seed": 3}}, {"avm_margin": -1.0}, {"min_feasible_prob": 1.5},
    {"local_fraction": -0.1}, {"n_local_parents": 0},
])
def test_loop_rejects_bad_settings(kwargs):
    name = next(iter(kwargs)) if len(kwargs) == 1 and "search_kwargs" not in kwargs else None
    with pytest.raises(ValueError, match=name):
        SurrogateAssistedSearch(NB201Space(), CountingOracle(), small_surrogate, **kwargs)


def test_loop_does_not_evaluate_another_encoding_of_an_evaluated_network():
    # NB201 cells with dead edges build the same network as their canonical form
    oracle = CountingOracle()
    space = NB201Space()
    SurrogateAssistedSearch(space, oracle, small_surrogate, Constraints(max_avm=1.0),
                            n_initial=8, n_queries=30, batch_per_round=11,
                            search_kwargs={"population_size": 40, "iterations": 10},
                            seed=1, progress=False).run()
    later = oracle.asked[8:]  # the initial sample is spread over the space, not screened
    seen = {space.canonical(a) for a in oracle.asked[:8]}
    for arch in later:
        assert space.canonical(arch) not in seen
        seen.add(space.canonical(arch))


def test_rank_puts_likely_infeasible_candidates_after_the_rest():
    from analognas.loop import _LoopState

    space = NB201Space()
    loop = SurrogateAssistedSearch(space, CountingOracle(), small_surrogate, Constraints(max_avm=1.0),
                                   min_feasible_prob=0.5, progress=False)
    archs = space.sample_many(3, rng=0)
    # the first has by far the best objective but a predicted AVM well above the limit
    cands = pd.DataFrame({"arch": pd.Series(archs, dtype=object), "acc_1d": [95.0, 85.0, 84.0],
                          "acc_1d_std": [0.2] * 3, "avm": [3.0, 0.2, 0.3],
                          "params": [1000] * 3, "tiles": pd.array([1] * 3, dtype="Int64")})
    queried = pd.DataFrame({"feasible": [True], "objective": [80.0]})
    errors = {"objective": (0.0, 1.0), "avm": (0.0, 0.2)}
    p = loop.feasible_probability(cands, errors)
    assert p[0] < 0.01 and p[1] > 0.99
    assert list(loop._rank(_LoopState(), cands.copy(), queried, errors)) == [1, 2, 0]
    # without the threshold the acquisition alone decides, and EI * P still ranks it last here,
    # but a huge objective edge wins
    loop.min_feasible_prob = 0.0
    cands.loc[0, "acc_1d"], cands.loc[0, "avm"] = 400.0, 1.1
    assert loop._rank(_LoopState(), cands.copy(), queried, errors)[0] == 0
    loop.min_feasible_prob = 0.5
    assert loop._rank(_LoopState(), cands.copy(), queried, errors)[0] == 1


# --- the loop on a results table with a real training oracle (issue 16 item 6) -----------------
def test_grow_table_trains_appends_refits_and_resumes_after_an_interruption(tmp_path):
    import json

    from _build_script import DATA, EVALUATION, SPACE, TRAINING
    from analognas.dataset import DatasetBuilder, provenance_path, read_results
    from analognas.loop import grow_table
    from analognas.provenance import check_provenance

    path = tmp_path / "grow.csv"
    builder = DatasetBuilder(SPACE, path, training=TRAINING, evaluation=EVALUATION, **DATA)
    builder.build(2, progress=False)  # a small sampled table to start from
    fits = []

    def interrupted_on_the_second_fit(space, seed):
        fits.append(seed)
        if len(fits) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C in round 2
        return small_surrogate(space, seed)

    kwargs = dict(budget=3, n_initial=2, batch_per_round=1, seed=0, progress=False,
                  search_kwargs={"population_size": 20, "iterations": 3})
    with pytest.raises(KeyboardInterrupt):
        grow_table(builder, surrogate_factory=interrupted_on_the_second_fit, **kwargs)
    runs = json.loads(provenance_path(path).read_text())["runs"]
    assert runs[-1]["kind"] == "loop" and runs[-1]["new_rows"] == 1
    assert runs[-1]["outcome"].startswith("stopped: KeyboardInterrupt")
    assert len(read_results(path, include_failed=True)) == 3  # the first loop evaluation is kept

    result = grow_table(builder, surrogate_factory=small_surrogate, **kwargs)  # resume: 2 left
    df = read_results(path, include_failed=True)
    # loop rows sit apart from the sampled sequence, which a later build may extend
    assert list(df["index"]) == [0, 1, 1_000_000, 1_000_001, 1_000_002] and df["arch_json"].is_unique
    assert (df["status"] == "ok").all() and df["acc_1d"].between(0, 100).all()
    assert list(df["run"]) == [1, 1, 2, 3, 3]
    assert (result.queried["round"] == -1).sum() == 3 and (result.queried["round"] > 0).sum() == 2
    assert "3 of the budget of 3 spent" in result.message
    report = check_provenance(path)
    assert report.consistent, report.format()

    again = grow_table(builder, surrogate_factory=small_surrogate, **kwargs)  # nothing left
    assert len(read_results(path, include_failed=True)) == 5 and "is spent" in again.message
    assert again.best_metrics["acc_1d"] == df["acc_1d"].max()


def test_known_evaluations_are_learnt_from_never_repeated_and_not_counted():
    space = NB201Space()
    known_archs = space.sample_many(6, rng=3)
    known = CountingOracle()(known_archs).assign(arch=pd.Series(known_archs, dtype=object))
    oracle = CountingOracle()
    result = SurrogateAssistedSearch(space, oracle, small_surrogate, Constraints(max_avm=1.0),
                                     n_initial=4, n_queries=5, batch_per_round=5,
                                     search_kwargs={"population_size": 30, "iterations": 5},
                                     seed=2, progress=False).run(known)
    assert len(oracle.asked) == 5 and not set(oracle.asked) & set(known_archs)  # 6 known >= n_initial: no initial sample
    assert result.queried["round"].tolist() == [-1] * 6 + [1] * 5
    with pytest.raises(ValueError, match="at least 2 evaluated"):
        SurrogateAssistedSearch(space, CountingOracle(), small_surrogate, n_initial=1, n_queries=3,
                                progress=False).run(known.iloc[:0])


def test_failed_trainings_are_kept_but_not_fitted_on():
    import warnings

    import numpy as np

    space = NB201Space()
    known_archs = space.sample_many(8, rng=5)
    known = CountingOracle()(known_archs).assign(arch=pd.Series(known_archs, dtype=object))
    known.loc[[2, 5], ["acc_1d", "acc_1d_std", "avm"]] = np.nan  # two trainings that failed
    oracle = CountingOracle()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the surrogate warns when it must drop rows itself
        result = SurrogateAssistedSearch(space, oracle, small_surrogate, Constraints(max_avm=1.0),
                                         n_initial=4, n_queries=4, batch_per_round=2,
                                         search_kwargs={"population_size": 30, "iterations": 5},
                                         seed=2, progress=False).run(known)
    assert len(result.queried) == 12 and result.queried["acc_1d"].isna().sum() == 2
    assert not set(oracle.asked) & set(known_archs)  # a failed network is not asked again either
