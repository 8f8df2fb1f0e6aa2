"""The search under energy, latency and chip limits from the IMC cost model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _search_toys import NB201Toy, ResNetToy

from analognas.cost import HERMES_FOUR_PHASE, network_cost
from analognas.search import Constraints, EvolutionarySearch
from search_spaces import NB201Space, ResNetLikeSpace


@pytest.mark.parametrize("kwargs, message", [
    ({"max_energy_j": 0.0}, "max_energy_j=0.0 is not allowed"),
    ({"max_latency_s": -1e-3}, "max_latency_s=-0.001 is not allowed"),
    ({"max_latency_s": float("inf")}, "max_latency_s=inf is not allowed"),
    ({"max_chips": 0}, "max_chips=0 is not allowed"),
    ({"max_chips": 1.5}, "max_chips=1.5 is not allowed"),
    ({"chip": "hermes"}, "chip='hermes' is not allowed"),
])
def test_cost_limits_reject_bad_values_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Constraints(**kwargs)


def test_cost_violation_is_zero_exactly_below_every_limit():
    c = Constraints(max_energy_j=1e-5, max_latency_s=1e-3, max_chips=1)
    totals = {"energy_j": np.array([9e-6, 1e-5, 9e-6, 9e-6, 3e-5]), "latency_s": np.array([5e-4, 5e-4, 2e-3, 5e-4, 5e-4]),
              "chips": np.array([1, 1, 1, 2, 1])}
    v = c.cost_violation(totals)
    assert v[0] == 0 and (v[1:] > 0).all() and v[4] > v[1]
    assert c.has_exact and c.has_cost and not Constraints(max_params=10).has_cost


def _check_costs(space, c, arch):
    cost = network_cost(space, arch, c.chip, c.input_shape, c.num_classes)
    assert cost.energy_j < c.max_energy_j and cost.latency_s < c.max_latency_s and cost.chips < c.max_chips + 1
    return cost


@pytest.mark.parametrize("encoded", [None, False])
def test_resnet_like_search_meets_the_cost_limits(encoded):
    space = ResNetLikeSpace()
    free = Constraints(max_params=2_000_000)
    c = Constraints(max_params=2_000_000, max_energy_j=100e-6, max_latency_s=2e-3, max_chips=2)
    run = lambda k: EvolutionarySearch(space, ResNetToy(space), k, population_size=30, iterations=4,  # noqa: E731
                                       seed=0, encoded=encoded, progress=False).run()
    unlimited = run(free)
    # the toy prefers big networks: without the limits the best breaks them (the limit binds)
    best_free = network_cost(space, unlimited.best)
    assert best_free.energy_j >= c.max_energy_j or best_free.chips > c.max_chips
    result = run(c)
    assert result.feasible
    _check_costs(space, c, result.best)
    history = result.history
    if encoded is None:  # (the object path tops a generation up with random samples when few children fit)
        for arch in history.loc[history["generation"] > 0, "arch"][:40]:
            _check_costs(space, c, arch)  # children that break a cost limit are never scored
    for arch in history.loc[history["feasible"], "arch"][:40]:
        _check_costs(space, c, arch)
    for arch in history.loc[~history["feasible"], "arch"][:40]:
        with pytest.raises(AssertionError):
            _check_costs(space, c, arch)


def test_nb201_search_meets_an_energy_limit_on_another_chip():
    space = NB201Space()
    c = Constraints(max_avm=3.0, max_energy_j=2e-4, chip=HERMES_FOUR_PHASE)
    result = EvolutionarySearch(space, NB201Toy(), c, population_size=20, iterations=5, seed=0,
                                progress=False).run()
    assert result.feasible
    cost = network_cost(space, result.best, HERMES_FOUR_PHASE)
    assert cost.energy_j < 2e-4
    infeasible = result.history[~result.history["feasible"]]
    over = [network_cost(space, a, HERMES_FOUR_PHASE).energy_j >= 2e-4 for a in infeasible["arch"]]
    pred_ok = infeasible["avm"].to_numpy() < 3.0
    assert all(o for o, ok in zip(over, pred_ok) if ok)  # infeasible only for a reason that holds


def test_the_active_learning_loop_refuses_cost_limits_it_does_not_check():
    from analognas.loop import SurrogateAssistedSearch

    with pytest.raises(ValueError, match="max_energy_j, max_latency_s and max_chips are not supported by the surrogate-assisted loop"):
        SurrogateAssistedSearch(NB201Space(), oracle=lambda archs: None, constraints=Constraints(max_chips=1))


def test_with_cost_limits_energy_is_a_fourth_objective_of_the_pareto_front():
    from analognas.search import pareto_front

    space = NB201Space()
    c = Constraints(max_avm=3.0, max_energy_j=2e-4)
    result = EvolutionarySearch(space, NB201Toy(), c, population_size=20, iterations=5, seed=0,
                                progress=False).run()
    front = result.pareto_front
    energy = [network_cost(space, a).energy_j for a in front["arch"]]
    assert np.allclose(front["energy_j"], energy) and (front["energy_j"] < 2e-4).all()
    assert {"latency_s", "chips"} <= set(front.columns)
    # a front on three objectives drops rows that only energy keeps
    feasible = result.history[result.history["feasible"]]
    assert len(front) >= len(pareto_front(feasible))
    df = pd.DataFrame({"acc_1d": [1, 2, 2], "avm": [0.5, 1.0, 2.0], "params": [10, 10, 10], "energy_j": [1, 5, 0]})
    assert pareto_front(df).index.tolist() == [1, 0] and pareto_front(df, ("energy_j",)).index.tolist() == [1, 2, 0]
