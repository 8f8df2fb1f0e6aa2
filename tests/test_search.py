"""The constrained evolutionary search: constraints, budget, reproducibility, memory, optimum."""

from __future__ import annotations

import doctest
import importlib
import time

import numpy as np
import pandas as pd
import pytest
from _search_toys import NB201Toy, ResNetToy, fitted_resnet_surrogate

from analognas.search import (
    Archive,
    Constraints,
    EncodedArchive,
    EvolutionarySearch,
    Objective,
    pareto_front,
    spread_out,
)
from search_spaces import NB201Arch, NB201Space, ResNetLikeSpace, as_rng


# --- Constraints ------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, field", [
    ({"max_params": 0}, "max_params"), ({"max_params": 1.5}, "max_params"),
    ({"max_tiles": -3}, "max_tiles"), ({"max_avm": float("nan")}, "max_avm"),
    ({"max_avm": "1"}, "max_avm"), ({"tile_size": 0}, "tile_size"),
    ({"input_shape": (3, 32)}, "input_shape"), ({"num_classes": 0}, "num_classes"),
])
def test_constraints_reject_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Constraints(**kwargs)


def test_violation_is_zero_exactly_when_strictly_below_every_limit():
    c = Constraints(max_params=100, max_avm=1.0, max_tiles=10)
    v = c.violation(np.array([99, 100, 50, 50, 150]), np.array([9, 9, 10, 9, 9]),
                    np.array([0.9, 0.9, 0.9, 1.0, 0.9]))
    assert v[0] == 0 and (v[1:] > 0).all()
    assert v[4] > v[1]  # further over the limit, more infeasible
    assert c.exact_violation(99, 9) == 0 and c.exact_violation(100, 9) > 0
    assert (Constraints().violation(np.array([10**9]), np.array([10**6]), np.array([50.0])) == 0).all()


def test_objective_acc_over_std_uses_a_frozen_reference():
    obj = Objective("acc_1d/std")
    ref = {"acc_1d": np.array([-2.0, 0.0, 1.0, 3.0]), "acc_1d_std": np.array([0.5, 1.0, 2.0, 4.0])}
    obj.calibrate(ref)
    one = {"acc_1d": np.array([1.0]), "acc_1d_std": np.array([1.0])}
    first = obj(one)
    obj.calibrate({"acc_1d": np.array([100.0, 200.0]), "acc_1d_std": np.array([9.0, 9.0])})
    assert obj(one) == first  # the reference never moves, so scores never depend on the batch
    more_acc = obj({"acc_1d": np.array([2.0]), "acc_1d_std": np.array([1.0])})
    less_std = obj({"acc_1d": np.array([1.0]), "acc_1d_std": np.array([0.5])})
    assert more_acc > first and less_std > first
    # a zero or negative predicted spread is floored, not a crash or an infinite score
    assert np.isfinite(obj({"acc_1d": np.array([1.0]), "acc_1d_std": np.array([-1.0])})).all()
    with pytest.raises(ValueError, match="objective"):
        Objective("accuracy")


@pytest.mark.parametrize("n, levels", [(300, 6), (700, 40), (1500, None)])
def test_pareto_front_matches_brute_force(n, levels):
    # ties (few levels) and continuous values; sizes that span several chunks
    rng = np.random.default_rng(n)
    draw = (lambda: rng.integers(0, levels, n).astype(float)) if levels else (lambda: rng.random(n))
    df = pd.DataFrame({"acc_1d": draw(), "avm": draw(), "params": draw()})
    front = set(pareto_front(df).index)
    x = df.to_numpy(dtype=float) * np.array([-1, 1, 1])  # all minimised
    brute = {i for i in range(len(df))
             if not any((x[j] <= x[i]).all() and (x[j] < x[i]).any() for j in range(len(df)))}
    assert front == brute and len(front) > 1


def test_spread_out_covers_the_operations():
    space = NB201Space()
    pool = space.sample_many(400, rng=0)
    picks = spread_out(space, list(dict.fromkeys(pool)), 25, np.random.default_rng(0))
    assert len(set(picks)) == 25
    ops = np.array([a.ops for a in picks])
    assert all(len(set(ops[:, e])) == 5 for e in range(6))  # every op on every edge


# --- EvolutionarySearch ----------------------------------------------------------------------
def nb201_search(**kwargs):
    args = {"population_size": 40, "iterations": 30, "progress": False, "seed": 0}
    args.update(kwargs)
    surrogate = args.pop("surrogate", None) or NB201Toy()
    return EvolutionarySearch(NB201Space(), surrogate, **args)


def test_finds_the_known_optimum_of_a_toy_surrogate():
    toy = NB201Toy()
    best, best_acc = toy.optimum(max_avm=1.0)
    for seed in (0, 1, 2):
        result = nb201_search(surrogate=toy, constraints=Constraints(max_avm=1.0), objective="acc_1d",
                              seed=seed).run()
        assert result.feasible
        assert result.best == best and result.best_prediction["acc_1d"] == pytest.approx(best_acc)
        # ... having scored a small part of the 15,625 cells
        assert result.n_scored < 2000


def test_same_seed_same_result_and_history_has_no_duplicates():
    a = nb201_search(constraints=Constraints(max_avm=1.0), seed=7).run()
    b = nb201_search(constraints=Constraints(max_avm=1.0), seed=7).run()
    c = nb201_search(constraints=Constraints(max_avm=1.0), seed=8).run()
    assert a.best == b.best
    pd.testing.assert_frame_equal(a.history, b.history)
    assert not a.history["arch"].equals(c.history["arch"])
    assert not a.history["arch"].duplicated().any()
    assert list(a.history.columns) == ["generation", "arch", "acc_1d", "acc_1d_std", "avm", "params",
                                       "tiles", "feasible", "violation", "objective"]
    assert a.history["generation"].is_monotonic_increasing
    assert a.history["generation"].max() == 30


class TwoOpSpace(NB201Space):
    """NB201 cells using only skip and conv3x3: 64 architectures, quick to exhaust."""

    def sample(self, rng=None, max_params=None):
        return NB201Arch(tuple(int(o) for o in as_rng(rng).choice([0, 2], 6)))

    def mutate(self, arch, rng=None):
        e = int(as_rng(rng).integers(6))
        return NB201Arch(arch.ops[:e] + (2 - arch.ops[e],) + arch.ops[e + 1:])

    def size(self):
        return 64


def test_small_space_is_exhausted_without_duplicates():
    result = EvolutionarySearch(TwoOpSpace(), NB201Toy(), population_size=20, iterations=1000, seed=0,
                                progress=False).run()
    assert "exhausted" in result.message
    assert len(result.history) > 50
    assert not result.history["arch"].duplicated().any()


RESNET_LIMITS = Constraints(max_params=300_000, max_tiles=30, max_avm=0.4)


def _check_exact(space, c, arch):
    assert space.num_params(arch, c.input_shape, c.num_classes) < c.max_params
    assert space.num_tiles(arch, c.tile_size, c.input_shape, c.num_classes) < c.max_tiles


def test_returned_architectures_satisfy_the_exact_constraints():
    space = ResNetLikeSpace()
    c = RESNET_LIMITS
    result = EvolutionarySearch(space, ResNetToy(space), c, population_size=40, iterations=8, seed=0,
                                progress=False).run()
    assert result.feasible
    _check_exact(space, c, result.best)
    assert result.best_prediction["avm"] < c.max_avm
    assert result.best_prediction["tiles"] < c.max_tiles
    assert len(result.pareto_front) > 0
    for arch in result.pareto_front["arch"]:
        _check_exact(space, c, arch)
    assert (result.pareto_front["avm"] < c.max_avm).all()
    # every row the history calls feasible is, with counts from the space itself
    feasible = result.history[result.history["feasible"]]
    for arch, params in zip(feasible["arch"][:50], feasible["params"][:50]):
        assert params == space.num_params(arch)
        _check_exact(space, c, arch)
    # the best is the feasible row with the highest objective
    assert result.best_prediction["objective"] == feasible["objective"].max()


def test_nothing_feasible_returns_the_least_infeasible_and_says_so():
    result = nb201_search(constraints=Constraints(max_avm=-10.0), iterations=5).run()
    assert not result.feasible
    assert "no feasible" in result.message and "least infeasible" in result.message
    assert result.best_prediction["violation"] == result.history["violation"].min()
    assert len(result.pareto_front) == 0


def test_parameter_cap_below_every_network_is_reported_not_hidden():
    space = NB201Space()
    smallest = min(space.num_params(a) for a in space.all_architectures())
    result = nb201_search(constraints=Constraints(max_params=smallest), iterations=3).run()
    assert not result.feasible
    assert "max_params" in result.message


def test_custom_objective_and_initial_population():
    seeds = [NB201Space().from_dict({"ops": [1, 1, 1, 1, 1, 1]})]
    result = nb201_search(objective=lambda df: -df["params"], initial_population=seeds, iterations=5).run()
    assert result.history["arch"].iloc[0] == seeds[0]
    assert result.best_prediction["objective"] == -result.history["params"].min()


@pytest.mark.parametrize("kwargs", [
    {"population_size": 1}, {"iterations": -1}, {"time_budget_s": 0}, {"crossover_prob": 1.5},
    {"mutation_rate": -0.1}, {"batch_size": 0}, {"objective": "loss"},
])
def test_search_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        nb201_search(**kwargs)


def test_archive_never_scores_twice():
    toy = NB201Toy()
    archive = Archive(NB201Space(), toy, Constraints(), "acc_1d", batch_size=10)
    archs = NB201Space().sample_many(30, rng=0)
    first = archive.score(archs + archs, generation=0)
    again = archive.score(archs, generation=1)
    assert len(first) == len(set(archs)) and len(again) == 0
    assert toy.calls == int(np.ceil(len(set(archs)) / 10))


def test_encoded_archive_scores_rows_once_with_the_surrogates_predictions():
    surrogate = fitted_resnet_surrogate()
    space = surrogate.space
    c = Constraints(max_params=1_000_000, max_avm=1.0, input_shape=(1, 28, 28), num_classes=7, tile_size=128)
    archive = EncodedArchive(space, surrogate, c, "acc_1d", batch_size=16)
    archs = space.sample_many(40, 3)
    enc = space.encode_many(archs)
    first = archive.score_encoded(np.concatenate([enc, enc[:10]]), generation=0)
    assert len(first) == len(set(archs)) and len(archive.score(archs[:5], generation=1)) == 0
    assert archs[0] in archive and space.mutate(archs[0], 0) not in archive
    history = archive.history()
    assert list(history["arch"]) == list(dict.fromkeys(archs))
    expected = surrogate.predict(list(history["arch"]))
    np.testing.assert_array_equal(history["acc_1d"], expected["acc_1d"])
    np.testing.assert_array_equal(history["avm"], expected["avm"])
    assert history["params"].tolist() == [space.num_params(a, (1, 28, 28), 7) for a in history["arch"]]
    assert history["tiles"].tolist() == [space.num_tiles(a, 128, (1, 28, 28), 7) for a in history["arch"]]
    with pytest.raises(TypeError, match="encoded"):
        EncodedArchive(NB201Space(), surrogate, c)


@pytest.mark.parametrize("encoded", [None, False])
def test_resnet_like_search_on_encodings_or_objects_meets_the_exact_limits(encoded):
    surrogate = fitted_resnet_surrogate()
    space = surrogate.space
    c = Constraints(max_params=400_000, max_tiles=40, max_avm=1.5)
    run = lambda seed: EvolutionarySearch(space, surrogate, c, population_size=60, iterations=15,  # noqa: E731
                                          seed=seed, encoded=encoded, progress=False).run()
    result = run(0)
    history = result.history
    assert result.feasible and result.n_scored == len(history) > 400
    _check_exact(space, c, result.best)
    assert history["arch"].is_unique
    assert result.best_prediction["objective"] == history.loc[history["feasible"], "objective"].max()
    for arch in history.loc[history["generation"] > 0, "arch"]:
        _check_exact(space, c, arch)  # children that break an exact limit are never scored
    again = run(0)
    assert list(again.history["arch"]) == list(history["arch"])
    assert list(run(1).history["arch"]) != list(history["arch"])


@pytest.mark.parametrize("encoded", [None, False])
def test_a_cap_that_few_networks_meet_still_fills_every_generation(encoded):
    space = ResNetLikeSpace()
    cap = space.num_params(space.smallest()) + 3000  # most mutations break it
    result = EvolutionarySearch(space, ResNetToy(space), Constraints(max_params=cap), population_size=40,
                                iterations=10, seed=0, encoded=encoded, progress=False).run()
    history = result.history
    assert result.feasible and history["arch"].is_unique
    assert (history["params"] < cap).all()
    assert history.groupby("generation").size().tolist() == [40] + [20] * 10


def test_encoded_search_sizes_its_draws_by_the_share_of_children_within_the_limits(monkeypatch):
    # Each round of drawing children costs a whole batch's mutation and counting; a search whose
    # population presses against the cap should need about one round per generation, not several.
    space = ResNetLikeSpace()
    cap = space.num_params(space.smallest()) + 3000  # most mutations break it
    rounds = []
    check = EncodedArchive.exact_violation_encoded
    monkeypatch.setattr(EncodedArchive, "exact_violation_encoded",
                        lambda self, enc: rounds.append(len(enc)) or check(self, enc))
    result = EvolutionarySearch(space, fitted_resnet_surrogate(), Constraints(max_params=cap), population_size=40,
                                iterations=30, seed=0, progress=False).run()
    assert result.n_scored == 40 + 30 * 20 and (result.history["params"] < cap).all()
    assert len(rounds) <= 2 * 30, rounds  # 37 rounds; 326 before draws counted the share within the cap


def test_encoded_search_needs_a_space_with_encoded_operations():
    with pytest.raises(ValueError, match="encoded"):
        nb201_search(encoded=True)
    with pytest.raises(ValueError, match="encoded='yes'.*None, True or False"):
        EvolutionarySearch(ResNetLikeSpace(), ResNetToy(ResNetLikeSpace()), encoded="yes")


def test_time_budget_is_honoured_with_a_real_surrogate():
    surrogate = fitted_resnet_surrogate()
    space = surrogate.space
    start = time.perf_counter()
    result = EvolutionarySearch(space, surrogate, Constraints(max_params=1_000_000, max_avm=1.5),
                                iterations=10**6, time_budget_s=2.0, seed=0, progress=False).run()
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0
    assert "time budget" in result.message
    assert result.n_scored > 100
    _check_exact(space, Constraints(max_params=1_000_000, max_tiles=10**9), result.best)


# --- issue 17: the budget is the budget used; Ctrl-C keeps what was scored; names ----------------
def test_a_time_budget_without_iterations_is_used_in_full():
    # a small population on the toy makes 100 generations (the old default) take ~0.1 s
    budget = 1.0
    result = nb201_search(iterations=None, time_budget_s=budget, population_size=6).run()
    assert result.elapsed_s >= 0.9 * budget, result.message
    assert "time budget of 1 s reached" in result.message or "exhausted" in result.message
    # without a budget the default number of generations still ends the run
    assert "100 iterations done" in nb201_search(iterations=None, population_size=6).run().message


class _InterruptAfter:
    """The toy surrogate, with Ctrl-C arriving during its ``calls``-th prediction."""

    def __init__(self, calls: int) -> None:
        self.toy, self.calls = NB201Toy(), calls

    def predict(self, archs):
        self.calls -= 1
        if self.calls == 0:
            raise KeyboardInterrupt
        return self.toy.predict(archs)


def test_ctrl_c_returns_the_best_and_history_scored_so_far():
    result = nb201_search(surrogate=_InterruptAfter(4), iterations=50).run()
    assert result.interrupted and "interrupted" in result.message
    assert result.n_scored > 0 and len(result.history) == result.n_scored
    assert result.best_prediction["objective"] == result.history.loc[result.history["feasible"], "objective"].max()
    assert not nb201_search(iterations=2).run().interrupted


def test_progress_bar_names_the_objective_it_shows(capsys):
    nb201_search(iterations=3, progress=True).run()
    err = capsys.readouterr().err
    assert "best acc_1d/std=" in err and "best=" not in err
    assert "z(acc_1d score) - z(log acc_1d_std)" in Objective("acc_1d/std").formula


def test_timed_progress_bar_reads_as_words(capsys):
    """The timed bar once showed "30/30 s [, best ..., feasible=1, ...]": a stray comma, and a
    flag that read as a count."""
    nb201_search(iterations=None, time_budget_s=0.5, progress=True).run()
    err = capsys.readouterr().err
    assert "s, best acc_1d/std=" in err and "[," not in err, err[-300:]
    assert "feasible=yes" in err or "feasible=no" in err


def test_progress_bar_into_a_log_file_is_drawn_rarely_and_ends_with_the_final_state(capsys):
    """stderr is not a terminal under capsys, as in a piped log: thousands of generations used to
    write a redraw each; now at most one per progress_interval() seconds, plus the final one."""
    from analognas.progress import progress_interval

    assert progress_interval() == 10.0  # capsys' stderr is no terminal
    result = nb201_search(iterations=300, population_size=6, progress=True).run()
    err = capsys.readouterr().err
    redraws = err.count("\r") + err.count("\n")
    assert result.n_scored > 100 and redraws <= 6, (redraws, err[-300:])
    assert f"scored={result.n_scored}" in err.replace(" ", "")  # the last state is drawn


# --- issue 17: search.py split along its seams ---------------------------------------------------
#: the public names of analognas.search before it was split into problem, search_result, archive,
#: sampling and search
OLD_SEARCH_NAMES = ("PREDICTED", "DEFAULT_ITERATIONS", "Constraints", "ObjectiveLike", "Objective", "SearchResult",
                    "pareto_front", "Archive", "EncodedArchive", "spread_out", "SearchStrategy", "EvolutionarySearch")
SEARCH_MODULES = ("problem", "search_result", "archive", "sampling", "search")


def test_every_old_name_of_the_search_module_still_imports_from_it_and_has_one_home():
    search = importlib.import_module("analognas.search")
    assert sorted(search.__all__) == sorted(OLD_SEARCH_NAMES)
    homes = {name: module for module in SEARCH_MODULES
             for name in importlib.import_module(f"analognas.{module}").__all__}
    for name in OLD_SEARCH_NAMES:
        assert getattr(search, name) is getattr(importlib.import_module(f"analognas.{homes[name]}"), name), name


@pytest.mark.parametrize("module", SEARCH_MODULES)
def test_the_examples_of_the_search_modules_hold(module):
    result = doctest.testmod(importlib.import_module(f"analognas.{module}"))
    assert result.attempted > 0 and result.failed == 0
