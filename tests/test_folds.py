"""Cross-validation folds keep identical networks together; the plain XGBoost baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search_spaces import NB201Space
from surrogate import AnalogSurrogate
from surrogate.folds import fold_taus, grouped_folds, network_groups, plain_xgboost_taus

SMALL = {k: {"n_estimators": 40, "learning_rate": 0.1}
         for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}


def _repeated_noise_table(n_networks: int = 40, copies: int = 3, seed: int = 0):
    """Each network ``copies`` times with the same labels; the labels are noise, unrelated to
    the network, so no model can rank networks it has not seen."""
    space = NB201Space()
    rng = np.random.default_rng(seed)
    archs = space.sample_many(n_networks, rng=seed)
    labels = pd.DataFrame({t: rng.normal(size=n_networks) for t in ("acc_1d", "acc_1d_std", "avm")})
    rows = np.repeat(np.arange(n_networks), copies)
    return space, [archs[i] for i in rows], labels.iloc[rows].reset_index(drop=True)


def test_every_copy_of_a_network_lands_in_the_same_fold_and_folds_partition_the_rows():
    space, archs, _ = _repeated_noise_table()
    groups = network_groups(space, archs)
    folds = grouped_folds(groups, cv=5, seed=3)
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests) == list(range(len(archs)))
    for train, test in folds:
        assert not set(train) & set(test)
        assert not {groups[i] for i in train} & {groups[i] for i in test}
    assert [t.tolist() for _, t in grouped_folds(groups, 5, 3)] == [t.tolist() for _, t in folds]
    assert [t.tolist() for _, t in grouped_folds(groups, 5, 4)] != [t.tolist() for _, t in folds]


def test_grouped_folds_refuse_bad_cv_and_too_few_networks():
    with pytest.raises(ValueError, match="cv=1 is not allowed"):
        grouped_folds(["a", "b", "c"], cv=1, seed=0)
    with pytest.raises(ValueError, match=r"^cv=3 is not allowed; allowed: at most the number of distinct networks \(2\)$"):
        grouped_folds(["a", "b", "a", "b"], cv=3, seed=0)


def test_repeated_networks_do_not_inflate_the_cross_validated_tau():
    """Labels are noise per network. With folds that split copies, a model recalls the copy it
    was trained on and scores well; grouped folds give about 0. The first half is the power
    check: the same data through ungrouped folds (every row its own group) scores high."""
    space, archs, table = _repeated_noise_table()
    model = AnalogSurrogate(space, params=SMALL, seed=0)

    def fit_predict(train, test, frame):
        m = AnalogSurrogate(space, params=SMALL, seed=0)
        m.fit([archs[i] for i in train], frame.iloc[train].reset_index(drop=True))
        return m.predict([archs[i] for i in test])

    leaky = fold_taus(space, archs, table, fit_predict, cv=5, seed=0, groups=range(len(archs)))
    assert leaky["acc_1d"] > 0.4
    grouped = model.cross_validate(archs, table, cv=5, seed=0)
    assert abs(grouped["acc_1d"]) < 0.2 and abs(grouped["avm"]) < 0.2


def test_plain_xgboost_baseline_learns_a_signal_and_not_noise():
    space = NB201Space()
    archs = space.sample_many(120, rng=1)
    signal = pd.DataFrame({"acc_1d": [sum(a.ops) for a in archs], "acc_1d_std": [a.ops[0] for a in archs],
                           "avm": [a.ops[2] - a.ops[4] for a in archs]})
    taus = plain_xgboost_taus(space, archs, signal, cv=4, seed=0)
    assert taus["acc_1d"] > 0.45 and taus["avm"] > 0.45
    assert plain_xgboost_taus(space, archs, signal, cv=4, seed=0) == taus
    noise = signal.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert abs(plain_xgboost_taus(space, archs, noise, cv=4, seed=0)["acc_1d"]) < 0.2


def test_repeated_taus_are_the_mean_and_sd_over_the_seeds_given():
    from surrogate.folds import repeated_taus

    seen = []
    mean, sd = repeated_taus(lambda s: seen.append(s) or {"acc_1d": float(s), "avm": 1.0}, seeds=[3, 5, 7])
    assert seen == [3, 5, 7]
    assert mean == {"acc_1d": 5.0, "avm": 1.0} and sd == {"acc_1d": 2.0, "avm": 0.0}
    assert all(v != v for v in repeated_taus(lambda s: {"avm": 0.3}, seeds=[0])[1].values())  # NaN: one split
