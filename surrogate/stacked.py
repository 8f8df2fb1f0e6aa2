"""Several single-output XGBoost models as one multi-output model, for faster prediction.

The search asks the surrogate's four models for predictions on batches of about a hundred
candidates. Each ``inplace_predict`` call costs a fixed 150-200 microseconds besides the
trees (measured with XGBoost 3.2 on this project's 2-core machine), which at that batch
size is about half of the call. :func:`stack_boosters` joins the models' trees into one
model whose output column k is model k's raw output, so one call does the work of four.

XGBoost's JSON model format has a documented schema; the stacked model is built from
it and, before it is used, checked on probe rows: its columns must equal each model's
own predictions bit for bit. When anything differs (another XGBoost version, a model
kind this does not handle) :func:`stack_boosters` returns None and the caller predicts
with the models one by one.

Example:
    >>> import numpy as np, xgboost as xgb
    >>> X = np.random.default_rng(0).random((50, 3)); y = X @ [1.0, 2.0, 3.0]
    >>> a = xgb.train({"max_depth": 2}, xgb.DMatrix(X, y), 5)
    >>> b = xgb.train({"max_depth": 3}, xgb.DMatrix(X, -y), 8)
    >>> both = stack_boosters([a, b])
    >>> bool((both.inplace_predict(X)[:, 1] == b.inplace_predict(X)).all())
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import xgboost as xgb

#: objectives whose prediction is the raw sum of the trees plus the base score
_IDENTITY_OBJECTIVES = {"reg:squarederror", "rank:pairwise", "rank:ndcg", "rank:map"}
_N_PROBE_ROWS = 256


def _leaf_tree(tree_id: int, n_features: int) -> dict[str, Any]:
    """A tree of a single leaf worth 0 (pads models with fewer rounds)."""
    return {
        "base_weights": [0.0], "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [], "default_left": [0], "id": tree_id, "left_children": [-1],
        "loss_changes": [0.0], "parents": [2147483647], "right_children": [-1], "split_conditions": [0.0],
        "split_indices": [0], "split_type": [0], "sum_hessian": [0.0],
        "tree_param": {"num_deleted": "0", "num_feature": str(n_features), "num_nodes": "1",
                       "size_leaf_vector": "1"},
    }


def _stacked_json(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON of a model with one output per input model (ValueError if one does not fit)."""
    base_scores, tree_lists = [], []
    for m in models:
        learner = m["learner"]
        params = learner["learner_model_param"]
        booster = learner["gradient_booster"]
        if booster.get("name") != "gbtree" or learner["objective"]["name"] not in _IDENTITY_OBJECTIVES:
            raise ValueError("only gbtree models with an identity-link objective can be stacked")
        model = booster["model"]
        if int(params["num_target"]) != 1 or int(params.get("num_class", 0)) > 1 \
                or int(model["gbtree_model_param"]["num_parallel_tree"]) != 1 \
                or any(model.get("cats", {}).get("enc", [])):
            raise ValueError("only single-output models without categorical features can be stacked")
        scores = json.loads(params["base_score"].replace("E", "e")) if params["base_score"].startswith("[") \
            else [float(params["base_score"])]
        base_scores.append(float(scores[0]))
        tree_lists.append(model["trees"])
    n_features = {m["learner"]["learner_model_param"]["num_feature"] for m in models}
    if len(n_features) != 1:
        raise ValueError("the models have different numbers of features")
    n_feat = int(n_features.pop())
    trees, info = [], []
    for r in range(max(len(t) for t in tree_lists)):  # round by round: one tree per output
        for k, tree_list in enumerate(tree_lists):
            tree = dict(tree_list[r]) if r < len(tree_list) else _leaf_tree(0, n_feat)
            tree["id"] = len(trees)
            trees.append(tree)
            info.append(k)
    first = models[0]
    learner = first["learner"]
    n_out = len(models)
    return {
        "version": first["version"],
        "learner": {
            "attributes": {},
            "feature_names": learner.get("feature_names", []),
            "feature_types": learner.get("feature_types", []),
            "gradient_booster": {
                "name": "gbtree",
                "model": {
                    **{k: v for k, v in learner["gradient_booster"]["model"].items()
                       if k not in ("trees", "tree_info", "iteration_indptr", "gbtree_model_param")},
                    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(len(trees))},
                    "iteration_indptr": list(range(0, len(trees) + 1, n_out)),
                    "tree_info": info,
                    "trees": trees,
                },
            },
            "learner_model_param": {
                "base_score": "[" + ",".join(repr(s) for s in base_scores) + "]",
                "boost_from_average": "1", "num_class": "0", "num_feature": str(n_feat),
                "num_target": str(n_out),
            },
            "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
    }


def stack_boosters(boosters: Sequence[xgb.Booster], nthread: int = 1) -> xgb.Booster | None:
    """One booster whose ``inplace_predict`` column k equals ``boosters[k].inplace_predict``,
    or None when they cannot be stacked or the check on probe rows finds any difference."""
    boosters = list(boosters)
    if len(boosters) < 2:
        return None
    try:
        spec = _stacked_json([json.loads(bytes(b.save_raw(raw_format="json"))) for b in boosters])
        stacked = xgb.Booster()
        stacked.load_model(bytearray(json.dumps(spec).encode()))
        stacked.set_param({"nthread": nthread})
    except (ValueError, KeyError, TypeError, xgb.core.XGBoostError):
        return None
    # probe rows at the scales features take (wide normals, and the small integers of
    # encodings); they do not reach every branch, but a model that differs shows on them
    n_features = boosters[0].num_features()
    rng = np.random.default_rng(0)
    probe = rng.normal(scale=100.0, size=(_N_PROBE_ROWS, n_features)).astype(np.float32)
    probe[: _N_PROBE_ROWS // 2] = rng.integers(0, 65, size=(_N_PROBE_ROWS // 2, n_features))
    got = np.asarray(stacked.inplace_predict(probe)).reshape(_N_PROBE_ROWS, -1)
    if got.shape[1] != len(boosters):
        return None
    for k, b in enumerate(boosters):
        if not np.array_equal(got[:, k], b.inplace_predict(probe)):
            return None
    return stacked
