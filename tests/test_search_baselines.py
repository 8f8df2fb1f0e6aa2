"""Random search and Optuna NSGA-II: same interface, same constraints, no duplicates."""

from __future__ import annotations

import time

import pytest
from _search_toys import NB201Toy, ResNetToy

from analognas.baselines import NSGA2Search, RandomSearch, suggest_architecture
from analognas.search import Constraints
from search_spaces import NB201Space, ResNetLikeSpace

LIMITS = Constraints(max_params=300_000, max_tiles=30, max_avm=0.4)


def _check(space, c, result):
    assert result.feasible, result.message
    arch = result.best
    assert space.num_params(arch, c.input_shape, c.num_classes) < c.max_params
    assert space.num_tiles(arch, c.tile_size, c.input_shape, c.num_classes) < c.max_tiles
    assert result.best_prediction["avm"] < c.max_avm
    assert not result.history["arch"].duplicated().any()
    for a in result.pareto_front["arch"]:
        assert space.num_params(a) < c.max_params and space.num_tiles(a) < c.max_tiles


def test_random_search_respects_constraints_and_is_reproducible():
    space = ResNetLikeSpace()
    a = RandomSearch(space, ResNetToy(space), LIMITS, n_samples=300, seed=1, batch_size=64, progress=False).run()
    b = RandomSearch(space, ResNetToy(space), LIMITS, n_samples=300, seed=1, batch_size=64, progress=False).run()
    _check(space, LIMITS, a)
    assert a.n_scored == 300 and a.best == b.best
    assert (a.history["params"] < LIMITS.max_params).all()  # sampled below the cap


def test_random_search_stops_at_the_time_budget():
    space = NB201Space()
    start = time.perf_counter()
    result = RandomSearch(space, NB201Toy(), n_samples=10**9, time_budget_s=0.5, batch_size=200,
                          progress=False).run()
    assert time.perf_counter() - start < 1.5
    assert "time budget" in result.message or "exhausted" in result.message


def test_nsga2_respects_constraints_on_resnet_space():
    space = ResNetLikeSpace()
    result = NSGA2Search(space, ResNetToy(space), LIMITS, n_trials=300, population_size=30, seed=0,
                         progress=False).run()
    _check(space, LIMITS, result)
    assert result.n_scored == 300


def test_nsga2_on_nb201_improves_on_its_first_generation_and_is_reproducible():
    toy = NB201Toy()
    c = Constraints(max_avm=1.0)
    a = NSGA2Search(NB201Space(), toy, c, objective="acc_1d", n_trials=400, population_size=40, seed=3,
                    progress=False).run()
    b = NSGA2Search(NB201Space(), toy, c, objective="acc_1d", n_trials=400, population_size=40, seed=3,
                    progress=False).run()
    _check(NB201Space(), Constraints(max_params=10**9, max_tiles=10**9, max_avm=1.0), a)
    assert a.best == b.best and a.n_scored == 400
    first = a.history[(a.history["generation"] == 0) & a.history["feasible"]]["acc_1d"].max()
    assert a.best_prediction["acc_1d"] > first


def test_suggest_needs_a_mapping_for_unknown_spaces():
    optuna = pytest.importorskip("optuna")

    class Other(NB201Space):
        name = "other"

    trial = optuna.create_study().ask()
    assert isinstance(suggest_architecture(trial, NB201Space()), NB201Space().arch_type)
    with pytest.raises(TypeError, match="suggest"):
        suggest_architecture(trial, Other())
