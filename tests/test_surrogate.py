"""AnalogSurrogate, its features and metrics: real XGBoost on small problems."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from search_spaces import MainBlock, NB201Arch, NB201Space, ResNetArch, ResNetLikeSpace, resnet20, resnet32
from surrogate import (AnalogSurrogate, NotFittedError, feature_matrix, kendall_tau, ndcg_at_k,
                       precision_at_k, spearman_rho)
from surrogate.features import RESNET_DERIVED
from surrogate.model import DEFAULT_TREE_PARAMS

SMALL = {k: {"n_estimators": 60} for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}


# --- metrics ---------------------------------------------------------------------------------
def test_rank_correlations_agree_with_scipy_including_ties():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 6, 40).astype(float)  # many ties
    p = t + rng.normal(0, 2, 40)
    assert kendall_tau(t, p) == pytest.approx(stats.kendalltau(t, p).statistic)
    assert spearman_rho(t, p) == pytest.approx(stats.spearmanr(t, p).statistic)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0


def test_ndcg_by_hand_and_against_sklearn():
    from sklearn.metrics import ndcg_score

    # rank gain, k=2: true best gets 2, second 1; predicted order puts the second first.
    got = ndcg_at_k([3.0, 2.0, 1.0], [0.5, 0.9, 0.1], k=2)
    ideal = 2 + 1 / math.log2(3)
    assert got == pytest.approx((1 + 2 / math.log2(3)) / ideal)
    rng = np.random.default_rng(1)
    t, p = rng.random(30), rng.random(30)
    assert ndcg_at_k(t, p, k=5, gain="value") == pytest.approx(ndcg_score([t], [p], k=5))
    assert ndcg_at_k(t, t, k=5) == 1.0
    # tied best values all count as the best
    assert ndcg_at_k([0, 0, 0, -5], [1, 2, 3, 0], k=2) == 1.0


def test_precision_at_k_and_argument_errors():
    assert precision_at_k([5, 4, 3, 2, 1], [1, 5, 4, 3, 2], k=2) == 0.5
    assert precision_at_k([5, 4, 3, 2, 1], [5, 4, 3, 2, 1], k=3) == 1.0
    assert precision_at_k([1, 1, 1, 0], [0, 1, 2, 3], k=2) == 0.5  # ties at the boundary count
    with pytest.raises(ValueError, match="k=0"):
        precision_at_k([1, 2], [1, 2], k=0)
    with pytest.raises(ValueError, match="3 values but y_pred has 2"):
        kendall_tau([1, 2, 3], [1, 2])


# --- features --------------------------------------------------------------------------------
def test_nb201_features_describe_the_cell_graph():
    space = NB201Space()
    cells = [NB201Arch((1,) * 6), NB201Arch((2,) * 6),
             # conv3x3 on (1,2) is dead: node 2 feeds nothing (edges (2,3), (2,4) are 'none')
             NB201Arch((2, 1, 0, 1, 1, 1))]
    X, names = feature_matrix(space, cells)
    f = [dict(zip(names, row)) for row in X]
    np.testing.assert_array_equal(X[:, :30], space.encode_many(cells))
    assert f[0]["is_disconnected"] == 1 and f[0]["n_live_paths"] == 0
    assert f[1]["n_live_paths"] == 4 and f[1]["max_path_convs"] == 3 and f[1]["n_live_conv3x3"] == 6
    assert f[2]["n_conv3x3"] == 1 and f[2]["n_live_conv3x3"] == 0 and f[2]["n_identity_paths"] == 1
    assert f[2]["eff_edge12_none"] == 1
    for row, cell in zip(f, cells):
        assert row["log_params"] == pytest.approx(math.log(space.num_params(cell)))
        assert row["tiles"] == space.num_tiles(cell)
    # another setting of the space gives other parameter counts
    X8, _ = feature_matrix(NB201Space(channels=8), cells)
    assert X8[1, names.index("log_params")] < X[1, names.index("log_params")]


def test_resnet_features_match_the_space():
    space = ResNetLikeSpace()
    archs = [resnet20(), resnet32()] + space.sample_many(150, rng=0, max_params=2_000_000)
    X, names = feature_matrix(space, archs)
    assert names[:len(space.feature_names)] == space.feature_names
    assert names[len(space.feature_names):] == RESNET_DERIVED
    col = {n: X[:, i] for i, n in enumerate(names)}
    assert col["depth"][0] == 19 and col["depth"][1] == 31  # 6n+1 convs of ResNet-(6n+2)
    np.testing.assert_array_equal(col["tiles"], [space.num_tiles(a) for a in archs])
    np.testing.assert_allclose(col["log_params"], [math.log(space.num_params(a)) for a in archs])
    plain = ResNetArch(16, 3, (MainBlock("C", 2, 3, 2), MainBlock("D", 1, 1, 1)))
    row = dict(zip(names, feature_matrix(space, [plain])[0][0]))
    assert row["frac_residual"] == 0 and row["n_bottleneck_blocks"] == 1 and row["total_branches"] == 4
    assert row["depth"] == 1 + 2 * 2 + 3 * 1
    np.testing.assert_array_equal(feature_matrix(space, archs[5:9])[0], X[5:9])  # rows do not depend on the batch


def test_resnet_macs_feature_counts_the_built_networks_convolutions():
    space = ResNetLikeSpace()
    archs = [resnet20()] + space.sample_many(6, rng=3, max_params=300_000)
    X, names = feature_matrix(space, archs)
    for arch, log_macs in zip(archs, X[:, names.index("log_macs")]):
        macs = []

        def count(module, inputs, out):
            macs.append(module.weight.numel() * out.shape[-2] * out.shape[-1])

        net = space.build(arch, (3, 32, 32), 10)
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.register_forward_hook(count)
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, 32, 32))
        # the feature is per pixel of the first main block's 32 x 32 maps
        assert math.exp(log_macs) * 32 * 32 == pytest.approx(sum(macs), rel=1e-12)


# --- the estimator ---------------------------------------------------------------------------
def _synthetic(space, n, seed):
    """NB201 cells whose 'accuracy' follows a known order: live conv3x3 > conv1x1, paths help."""
    archs = space.sample_many(n, rng=seed)
    X, names = feature_matrix(space, archs)
    f = {k: X[:, i] for i, k in enumerate(names)}
    acc = 10 * f["n_live_conv3x3"] + 4 * f["n_live_conv1x1"] + 3 * f["n_live_paths"] - 2 * f["n_avgpool3x3"]
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"acc_1d": acc + rng.normal(0, 0.5, n),
                          "acc_1d_std": 0.2 + 0.1 * f["n_avgpool3x3"] + rng.random(n) * 0.05,
                          "avm": 0.5 * f["n_live_skip"] - 0.3 * f["n_live_conv3x3"]})
    return archs, table


@pytest.fixture(scope="module")
def fitted():
    space = NB201Space()
    archs, table = _synthetic(space, 300, seed=0)
    return AnalogSurrogate(space, seed=0, n_jobs=1).fit(archs, table)


def test_known_order_is_learned(fitted):
    archs, table = _synthetic(fitted.space, 1000, seed=1)
    scores = fitted.score(archs, table)
    assert scores["acc_1d"] > 0.8
    assert scores["avm"] > 0.7 and scores["acc_1d_std"] > 0.5
    pred = fitted.predict(archs)
    assert list(pred.columns) == ["acc_1d", "acc_1d_std", "avm"] and len(pred) == 1000
    # the acc_1d score lives on the training labels' scale
    assert abs(pred["acc_1d"].mean() - table["acc_1d"].mean()) < table["acc_1d"].std()


def test_cross_validation_scores_unseen_folds_and_leaves_the_model_unfitted():
    space = NB201Space()
    archs, table = _synthetic(space, 120, seed=2)
    small = {k: {"n_estimators": 60, "learning_rate": 0.1}
             for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}
    model = AnalogSurrogate(space, params=small, seed=0)
    taus = model.cross_validate(archs, table, cv=4)
    assert set(taus) == {"acc_1d", "acc_1d_std", "avm"} and taus["acc_1d"] > 0.6 and taus["avm"] > 0.4
    assert model.cross_validate(archs, table, cv=4) == taus  # seeded folds and models
    # labels shuffled against the networks: nothing can be learnt, and the score says so
    noise = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    assert abs(model.cross_validate(archs, noise, cv=4)["acc_1d"]) < 0.2
    with pytest.raises(NotFittedError):
        model.predict(archs[:1])
    with pytest.raises(ValueError, match="cv=1"):
        model.cross_validate(archs, table, cv=1)
    with pytest.raises(ValueError, match="too few for cv=4"):
        model.cross_validate(archs[:7], table.iloc[:7], cv=4)


def test_prediction_does_not_depend_on_the_batch(fitted):
    archs = fitted.space.sample_many(50, rng=3)
    together = fitted.predict(archs)
    alone = pd.concat([fitted.predict([a]) for a in archs[:5]], ignore_index=True)
    pd.testing.assert_frame_equal(together.iloc[:5].reset_index(drop=True), alone)


def test_save_load_round_trip_gives_identical_predictions(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert meta["space"]["name"] == "nb201" and meta["space"]["settings"] == {"channels": 16, "cells_per_stage": 5}
    assert meta["feature_names"] == feature_matrix(NB201Space(), [])[1]
    assert {"xgboost", "numpy", "python"} <= set(meta["versions"])
    assert json.loads((tmp_path / "model" / "acc_1d_ranker.json").read_text())["learner"]
    archs = fitted.space.sample_many(500, rng=7)
    expected = fitted.predict(archs)
    for loaded in (AnalogSurrogate.load(tmp_path / "model"),
                   AnalogSurrogate.load(tmp_path / "model", space=NB201Space())):
        pd.testing.assert_frame_equal(loaded.predict(archs), expected, check_exact=True)
        assert loaded.params == fitted.params


def test_loading_for_another_space_or_feature_set_fails(fitted, tmp_path):
    path = fitted.save(tmp_path / "model")
    with pytest.raises(ValueError, match=r"made for NB201Space\(channels=16.*not for ResNetLikeSpace"):
        AnalogSurrogate.load(path, space=ResNetLikeSpace())
    with pytest.raises(ValueError, match="not for NB201Space\\(channels=8"):
        AnalogSurrogate.load(path, space=NB201Space(channels=8))
    meta_file = path / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["feature_names"] = meta["feature_names"][:-1] + ["old_feature"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"features differ.*old_feature.*refit"):
        AnalogSurrogate.load(path)


def test_unfitted_and_bad_inputs_give_clear_errors(tmp_path):
    space = NB201Space()
    model = AnalogSurrogate(space)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict([NB201Arch((2,) * 6)])
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")
    with pytest.raises(KeyError, match="no column 'avm'"):
        model.fit([NB201Arch((2,) * 6)] * 3, {"acc_1d": [1, 2, 3], "acc_1d_std": [1, 1, 1]})
    with pytest.raises(TypeError, match="NB201Arch"):
        model.fit([resnet20()] * 3, {"acc_1d": [1, 2, 3], "acc_1d_std": [1, 1, 1], "avm": [0, 0, 0]})
    with pytest.raises(ValueError, match="unknown params key 'acc'"):
        AnalogSurrogate(space, params={"acc": {}})


def test_failed_and_nan_rows_are_dropped_with_a_warning():
    space = NB201Space()
    archs, table = _synthetic(space, 60, seed=2)
    table["status"] = ["ok"] * 58 + ["failed"] * 2
    table.loc[:2, "avm"] = np.nan
    model = AnalogSurrogate(space, params=SMALL, n_jobs=1)
    with pytest.warns(UserWarning) as record:
        model.fit(archs, table)
    messages = " ".join(str(w.message) for w in record)
    assert "2 row(s) whose status is not 'ok'" in messages and "avm: dropping 3 row(s)" in messages
    assert model.n_train_ == {"acc_1d": 58, "acc_1d_std": 58, "avm": 55}
    assert np.isfinite(model.predict(archs).to_numpy()).all()


def test_resnet_like_space_works_end_to_end():
    space = ResNetLikeSpace()
    archs = space.sample_many(200, rng=1, max_params=1_000_000)
    logp = np.log([space.num_params(a) for a in archs])
    table = pd.DataFrame({"acc_1d": logp, "acc_1d_std": 1 / logp, "avm": -logp})
    model = AnalogSurrogate(space, params=SMALL, n_jobs=1).fit(archs[:120], table.iloc[:120])
    pred = model.predict(archs[120:])
    assert kendall_tau(logp[120:], pred["acc_1d"]) > 0.8
    assert kendall_tau(-logp[120:], pred["avm"]) > 0.8


def test_tuning_is_seeded_and_updates_params():
    space = NB201Space()
    archs, table = _synthetic(space, 60, seed=4)
    best = [AnalogSurrogate(space, n_jobs=1).tune(archs, table, n_trials=3, cv=2, seed=5) for _ in range(2)]
    assert best[0] == best[1] and set(best[0]) == {"acc_1d"}
    model = AnalogSurrogate(space, n_jobs=1)
    model.tune(archs, table, n_trials=2, cv=2, seed=5, targets=("avm",))
    # the first trial is the default setting
    assert model.params["avm"]["n_estimators"] == DEFAULT_TREE_PARAMS["n_estimators"]
    with pytest.raises(ValueError, match="cv=1"):
        model.tune(archs, table, cv=1)


def test_avm_is_modelled_as_a_share_of_the_error():
    space = NB201Space()
    archs, table = _synthetic(space, 200, seed=5)
    table["acc_1d"] = 50 + table["acc_1d"] / 2  # percent-like accuracies, 50-90
    table["avm"] = 0.05 * (100 - table["acc_1d"])  # drift loses a fixed share of the error
    test = space.sample_many(300, rng=6)
    shares = {}
    for per_error in (True, False):
        model = AnalogSurrogate(space, params={"avm_per_error": per_error}, n_jobs=1).fit(archs, table)
        pred = model.predict(test)
        shares[per_error] = pred["avm"] / (100 - pred["acc_1d"])
    # with the share model AVM follows the predicted accuracy exactly; on its own it does not
    assert np.allclose(shares[True], shares[True].median(), rtol=0.02)
    assert abs(shares[True].median() - 0.05) < 0.005
    assert shares[False].std() > 5 * shares[True].std()
    with pytest.raises(ValueError, match=r"avm_per_error.*'yes'.*True or False"):
        AnalogSurrogate(space, params={"avm_per_error": "yes"})


def test_a_model_saved_before_avm_per_error_loads_as_before(tmp_path):
    space = NB201Space()
    archs, table = _synthetic(space, 80, seed=6)
    old = AnalogSurrogate(space, params={**SMALL, "avm_per_error": False}, n_jobs=1).fit(archs, table)
    path = old.save(tmp_path / "old")
    meta = json.loads((path / "metadata.json").read_text())
    del meta["params"]["avm_per_error"]  # as written by earlier versions
    (path / "metadata.json").write_text(json.dumps(meta))
    loaded = AnalogSurrogate.load(path)
    assert loaded.params["avm_per_error"] is False
    pd.testing.assert_frame_equal(loaded.predict(archs), old.predict(archs), check_exact=True)


# --- issue 17: spreads are never negative; the domain is recorded; damaged files are named -------
def test_predicted_spread_is_never_negative():
    space = NB201Space()
    archs, table = _synthetic(space, 200, seed=3)
    table["acc_1d_std"] = table["avm"] / 10  # about half below 0: the regressor follows it there
    model = AnalogSurrogate(space, params=SMALL, n_jobs=1).fit(archs, table)
    X = model._features(archs)
    raw = model._from_raw("acc_1d_std", model._raw(X.astype(np.float32)), model.scaling_)
    assert (raw < 0).any()  # the model itself does predict negative spreads here
    assert (model.predict(archs)["acc_1d_std"] >= 0).all()
    assert (model.predict(archs)["avm"] < 0).any()  # AVM stays signed


def test_domain_is_recorded_at_fit_saved_and_read_back(tmp_path):
    import dataclasses

    from surrogate import SurrogateDomain
    from surrogate.model import domain_of

    space = NB201Space()
    archs, table = _synthetic(space, 80, seed=4)
    table["params"] = [space.num_params(a) for a in archs]
    model = AnalogSurrogate(space, params=SMALL, n_jobs=1).fit(archs, table)
    best = float(model.predict(archs)["acc_1d"].max())  # the top score it gives a measured network
    assert model.domain_ == SurrogateDomain(space="nb201", n_rows=80, params_min=int(table["params"].min()),
                                            params_max=int(table["params"].max()),
                                            acc_1d_score_max=pytest.approx(best))
    assert model.domain_.above_table(best + 1e-3) and not model.domain_.above_table(best - 1e-3)
    assert not SurrogateDomain(space="nb201").above_table(1e9)  # not recorded: no claim either way
    model.domain_ = dataclasses.replace(model.domain_, dataset="cifar10", input_shape=(3, 32, 32),
                                        cv_kendall_tau={"acc_1d": 0.5}, cv_folds=3)
    path = model.save(tmp_path / "m")
    assert AnalogSurrogate.load(path).domain_ == model.domain_ == domain_of(path)
    assert "dataset cifar10, inputs 3x32x32" in model.domain_.describe()
    assert model.domain_.outside(params=10**9) and not model.domain_.outside(params=int(table["params"].max()))
    # a model saved before domains existed still knows its space and rows
    meta = json.loads((path / "metadata.json").read_text())
    del meta["domain"]
    (path / "metadata.json").write_text(json.dumps(meta))
    assert AnalogSurrogate.load(path).domain_ == SurrogateDomain(space="nb201", n_rows=80)
    meta["domain"] = {"space": "nb201", "colour": "red"}
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="field 'domain'.*colour"):
        AnalogSurrogate.load(path)


def test_empty_or_truncated_model_file_is_an_error_naming_it(fitted, tmp_path):
    path = fitted.save(tmp_path / "m")
    good = (path / "avm.json").read_bytes()
    for damaged, message in ((b"", "empty model file"), (good[:3000], "damaged model file"),
                             (b'{"learner": 1}', "XGBoost cannot read this model")):
        (path / "avm.json").write_bytes(damaged)
        with pytest.raises(ValueError, match=message) as e:
            AnalogSurrogate.load(path)
        assert str(path / "avm.json") in str(e.value)
