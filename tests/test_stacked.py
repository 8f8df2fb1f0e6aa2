"""Stacking the surrogate's XGBoost models into one multi-output model changes no prediction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb

from _search_toys import fitted_resnet_surrogate

from surrogate.stacked import stack_boosters


def _data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)) * [1, 10, 100, 1, 1, 5]
    return X, X[:, 0] * 2 + np.sin(X[:, 1]) + rng.normal(0, 0.1, n)


def test_stacked_columns_equal_each_model_bit_for_bit():
    X, y = _data()
    reg = xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(X, y).get_booster()
    deep = xgb.XGBRegressor(n_estimators=7, max_depth=6, base_score=3.5).fit(X, -y).get_booster()
    rank = xgb.XGBRanker(objective="rank:pairwise", n_estimators=20).fit(
        X, np.argsort(np.argsort(y)), qid=np.zeros(len(y), dtype=int)).get_booster()
    stacked = stack_boosters([reg, deep, rank])
    assert stacked is not None
    X_new = _data(500, 1)[0]
    got = stacked.inplace_predict(X_new)
    assert got.shape == (500, 3)
    for k, booster in enumerate([reg, deep, rank]):
        assert np.array_equal(got[:, k], booster.inplace_predict(X_new))


def test_models_it_cannot_stack_give_none():
    X, y = _data()
    reg = xgb.XGBRegressor(n_estimators=5).fit(X, y).get_booster()
    linear = xgb.XGBRegressor(booster="gblinear", n_estimators=5).fit(X, y).get_booster()
    logistic = xgb.XGBClassifier(n_estimators=5).fit(X, y > 0).get_booster()
    assert stack_boosters([reg, linear]) is None
    assert stack_boosters([reg, logistic]) is None  # a sigmoid output is not a sum of trees
    assert stack_boosters([reg]) is None


def test_surrogate_predictions_are_those_of_its_separate_models():
    model = fitted_resnet_surrogate({"acc_1d_ranker": 30, "acc_1d_regressor": 12, "acc_1d_std": 25, "avm": 40})
    space = model.space
    new = space.sample_many(300, 1)
    stacked = model.predict(new)
    assert model._stacked is not None and model._stacked[1] is not None  # the fast path ran
    model._stacked = (model.boosters_, None)  # the fallback: one model at a time
    separate = model.predict(new)
    pd.testing.assert_frame_equal(stacked, separate, check_exact=True)
    pd.testing.assert_frame_equal(model.predict_encoded(space.encode_many(new)), separate, check_exact=True)
