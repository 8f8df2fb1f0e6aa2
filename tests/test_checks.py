"""The shared value checks (analognas.checks), the messages of the classes that use them, and
the rule that no module imports another's private names."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import math
import re
from pathlib import Path

import numpy as np
import pytest
from _search_toys import NB201Toy

import analognas.checks
from analognas.checks import check_bool, check_choice, check_int, check_number, known_fields, not_allowed

ROOT = Path(__file__).resolve().parent.parent
STANDARD = re.compile(r"^\S+=.+ is not allowed; allowed: .+$")


def refusal(call, *args, **kwargs) -> str:
    """The message of the ValueError that ``call`` raises, checked to be one standard line."""
    with pytest.raises(ValueError) as e:
        call(*args, **kwargs)
    message = str(e.value)
    assert "\n" not in message and STANDARD.match(message), message
    return message


# --- check_int --------------------------------------------------------------------------------
def test_check_int_returns_a_plain_int_within_the_bounds():
    assert check_int("n", 3, 1) == 3
    value = check_int("n", np.int64(3), 1)
    assert value == 3 and type(value) is int
    assert check_int("n", -7) == -7
    assert check_int("bits", 24, 2, 24) == 24 and check_int("bits", 2, 2, 24) == 2


@pytest.mark.parametrize("value, minimum, maximum, allowed", [
    (0, 1, None, "a positive integer"),
    (True, 1, None, "a positive integer"),        # a bool is not an integer
    (np.bool_(True), 1, None, "a positive integer"),
    (2.0, 1, None, "a positive integer"),         # nor is an integral float
    ("3", None, None, "an integer"),
    (-1, 0, None, "an integer >= 0"),
    (25, 2, 24, "an integer from 2 to 24"),
    (5, None, 4, "an integer <= 4"),
    (None, 1, None, "a positive integer"),        # None only when none_ok
])
def test_check_int_refuses(value, minimum, maximum, allowed):
    message = refusal(check_int, "n", value, minimum, maximum)
    assert message == f"n={value!r} is not allowed; allowed: {allowed}"


def test_check_int_none_owner_words_and_numpy():
    assert check_int("n", None, 1, none_ok=True) is None
    assert refusal(check_int, "adc_bits", 1, 2, 24, none_ok="no quantisation", owner="AnalogHardware") == (
        "AnalogHardware.adc_bits=1 is not allowed; allowed: an integer from 2 to 24 or None (no quantisation)")
    assert refusal(check_int, "n", 0, 1, none_ok=True).endswith("allowed: a positive integer or None")
    assert refusal(check_int, "n", 0, 1, what="a positive count").endswith("allowed: a positive count")
    assert check_int("n", 3, 1, numpy=False) == 3
    assert "np.int64(3)" in refusal(check_int, "n", np.int64(3), 1, numpy=False)


# --- check_number -----------------------------------------------------------------------------
def test_check_number_returns_a_plain_float_for_any_real_number():
    for value in (2, 2.0, np.float32(2.0), np.float64(2.0), np.int64(2)):
        out = check_number("x", value, gt=0)
        assert out == 2.0 and type(out) is float
    assert check_number("x", -1e300) == -1e300
    assert check_number("x", 10**30) == 1e30
    assert check_number("t", math.inf, gt=0, allow_inf=True) == math.inf
    assert check_number("x", None, none_ok=True) is None


@pytest.mark.parametrize("value, bounds, allowed", [
    (0.0, {"gt": 0}, "a positive number"),
    (True, {}, "a number"),                        # a bool is not a number
    (np.bool_(False), {}, "a number"),
    ("1", {}, "a number"),
    (complex(1, 0), {}, "a number"),
    (float("nan"), {}, "a number"),
    (math.inf, {}, "a number"),                    # infinity only with allow_inf
    (-math.inf, {"ge": 0}, "a number >= 0"),
    (-0.5, {"ge": 0}, "a number >= 0"),
    (1.0, {"ge": 0, "lt": 1}, "a number in [0, 1)"),
    (1.5, {"ge": 0, "le": 1}, "a number from 0 to 1"),
    (0.0, {"gt": 0, "le": 1}, "a number in (0, 1]"),
    (3.0, {"gt": 0.5, "lt": 2.5}, "a number in (0.5, 2.5)"),
    (-2, {"gt": -1}, "a number > -1"),
    (7, {"le": 2}, "a number <= 2"),
    (7, {"lt": 2}, "a number < 2"),
])
def test_check_number_refuses(value, bounds, allowed):
    message = refusal(check_number, "x", value, **bounds)
    assert message == f"x={value!r} is not allowed; allowed: {allowed}"


def test_check_number_nan_is_refused_even_where_infinity_is_allowed():
    refusal(check_number, "t", float("nan"), gt=0, allow_inf=True)
    assert refusal(check_number, "t", 0, gt=0, allow_inf=True, none_ok="no budget").endswith(
        "allowed: a positive number or None (no budget)")


def test_check_number_numpy_false_takes_python_numbers_only():
    assert check_number("x", 0.5, numpy=False) == 0.5
    assert check_number("x", np.float64(0.5), numpy=False) == 0.5  # a float subclass: JSON writes it
    refusal(check_number, "x", np.float32(0.5), numpy=False)
    refusal(check_number, "x", np.int64(1), numpy=False)


# --- check_bool, check_choice -------------------------------------------------------------------
def test_check_bool():
    assert check_bool("b", True) is True and check_bool("b", np.bool_(False)) is False
    assert check_bool("b", None, none_ok=True) is None
    for value in (1, 0, "yes", None):
        assert refusal(check_bool, "b", value) == f"b={value!r} is not allowed; allowed: True or False"
    assert refusal(check_bool, "b", "yes", none_ok=True).endswith("allowed: None, True or False")
    refusal(check_bool, "b", np.bool_(True), numpy=False)


def test_check_choice():
    tables = {"none": "NONE", "layerwise": "LAYERWISE"}
    assert check_choice("remap", "layerwise", tables) == "layerwise"
    assert refusal(check_choice, "remap", "x", tables, owner="AnalogHardware") == (
        "AnalogHardware.remap='x' is not allowed; allowed: ['none', 'layerwise']")
    refusal(check_choice, "remap", ["none"], tables)           # unhashable: refused, not a TypeError
    refusal(check_choice, "remap", np.array(["none", "x"]), ("none",))  # no elementwise truth error
    assert check_choice("k", 1, (1, 2)) == 1
    refusal(check_choice, "k", True, (1, 2))                   # True == 1, but a bool is not an int
    assert check_choice("k", True, (True, None)) is True
    assert refusal(check_choice, "k", 3, (1, 2), what="1 or 2").endswith("allowed: 1 or 2")


def test_not_allowed_keeps_a_many_line_value_on_one_line():
    message = str(not_allowed("w", np.zeros((3, 2)), "a vector", owner="Layer"))
    assert "\n" not in message and message.startswith("Layer.w=array([[0., 0.], [0., 0.], [0., 0.]])")


def test_known_fields():
    @dataclasses.dataclass
    class Point:
        x: int = 0
        y: int = 0
        cache: dict = dataclasses.field(default_factory=dict, init=False)

    assert known_fields(Point, {"x": 1}) == {"x": 1}
    with pytest.raises(ValueError, match=r"^Point: unknown field\(s\) \['cache'\]; allowed: \['x', 'y'\]$"):
        known_fields(Point, {"cache": {}})
    with pytest.raises(TypeError, match="Point.from_dict needs a dict, got list"):
        known_fields(Point, [("x", 1)])


def test_the_examples_in_the_docstrings_hold():
    assert doctest.testmod(analognas.checks).failed == 0


# --- every class that checks its settings speaks the same way -----------------------------------
def _search(cls_name: str, **kwargs):
    from analognas import baselines, search
    from search_spaces import NB201Space

    cls = getattr(search, cls_name, None) or getattr(baselines, cls_name)
    return cls(NB201Space(), NB201Toy(), progress=False, **kwargs)


def _loop(**kwargs):
    from analognas.loop import SurrogateAssistedSearch
    from search_spaces import NB201Space

    return SurrogateAssistedSearch(NB201Space(), lambda archs: None, progress=False, **kwargs)


def _builder(tmp_path: Path, **kwargs):
    from analognas.dataset import DatasetBuilder

    return DatasetBuilder("nb201", tmp_path / "t.csv", **kwargs)


def _train_bench(**kwargs):
    from analognas.train_bench import benchmark_training

    return benchmark_training(verbose=False, **kwargs)


def _cases():
    from analognas import AnalogHardware, EvaluationConfig, TrainingConfig, load_dataset
    from analognas.claim import ClaimSettings
    from analognas.cost import IMCChip
    from analognas.distributed import DaskExecutor
    from analognas.search import Constraints
    from surrogate import AnalogSurrogate
    from surrogate.folds import grouped_folds
    from surrogate.metrics import ndcg_at_k
    from search_spaces import NB201Space

    return [
        (Constraints, {"max_params": 0}), (Constraints, {"max_tiles": 1.5}), (Constraints, {"max_avm": math.nan}),
        (Constraints, {"tile_size": True}), (Constraints, {"input_shape": (3, 32)}),
        (Constraints, {"num_classes": 0}), (Constraints, {"max_energy_j": 0.0}), (Constraints, {"max_chips": 0}),
        (_search, {"cls_name": "EvolutionarySearch", "population_size": 1}),
        (_search, {"cls_name": "EvolutionarySearch", "iterations": -1}),
        (_search, {"cls_name": "EvolutionarySearch", "time_budget_s": 0}),
        (_search, {"cls_name": "EvolutionarySearch", "mutation_rate": -0.1}),
        (_search, {"cls_name": "EvolutionarySearch", "crossover_prob": 1.5}),
        (_search, {"cls_name": "EvolutionarySearch", "batch_size": 0}),
        (_search, {"cls_name": "EvolutionarySearch", "encoded": "yes"}),
        (_search, {"cls_name": "RandomSearch", "n_samples": 0}),
        (_search, {"cls_name": "NSGA2Search", "population_size": 1}),
        (_loop, {"n_queries": 0}), (_loop, {"avm_margin": -1.0}), (_loop, {"min_feasible_prob": 1.5}),
        (_loop, {"n_seed_archs": -1}),
        (TrainingConfig, {"epochs": 1.5}), (TrainingConfig, {"momentum": 1.0}), (TrainingConfig, {"device": "gpu"}),
        (TrainingConfig, {"schedule": "step"}), (TrainingConfig, {"batch_size": np.int64(32)}),
        (EvaluationConfig, {"n_reps": 0}), (EvaluationConfig, {"batch_size": 0}),
        (IMCChip, {"cores": 0}), (IMCChip, {"adc_energy_share": 1.5}), (IMCChip, {"array_energy_by_use": "yes"}),
        (AnalogHardware, {"g_max": -1.0}), (AnalogHardware, {"adc_bits": 1}), (AnalogHardware, {"tile_outputs": -1}),
        (AnalogHardware, {"clip": "gauss"}), (AnalogHardware, {"noise_model": 3}),
        (AnalogHardware, {"input_range": 1}), (AnalogHardware, {"input_range_decay": 2.0}),
        (_builder, {"seed": -1}), (_builder, {"max_params": 0}), (_builder, {"sampling": "sobol"}),
        (_builder, {"n_train": 0}),
        (_train_bench, {"batch_size": 0}), (_train_bench, {"warmup": -1}),
        (load_dataset, {"name": "digits", "n_train": 0}), (load_dataset, {"name": "digits", "seed": "1"}),
        (DaskExecutor, {"n_workers": 0}), (DaskExecutor, {"retries": -1}),
        (ClaimSettings, {"n_seeds": 1}), (ClaimSettings, {"budgets": (100, 0)}), (ClaimSettings, {"budgets": ()}),
        (grouped_folds, {"groups": ["a", "b"], "seed": 0, "cv": 1}), (ndcg_at_k, {"y_true": [1, 2], "y_pred": [1, 2], "k": 0}),
        (AnalogSurrogate, {"space": NB201Space(), "params": {"acc_1d_blend": 2.0}}),
        (AnalogSurrogate, {"space": NB201Space(), "params": {"avm_per_error": "yes"}}),
        (AnalogSurrogate, {"space": NB201Space(), "params": {"avm": 3}}),
    ]


CASES = _cases()


def _field(kwargs: dict) -> str:
    return list(kwargs)[-1]  # the bad setting comes last; the others set the scene


@pytest.mark.parametrize("make, kwargs", CASES, ids=[f"{getattr(m, '__name__', m)}-{_field(k)}" for m, k in CASES])
def test_a_bad_setting_is_refused_in_the_standard_line(make, kwargs, tmp_path):
    field = _field(kwargs)
    if make is _builder:
        kwargs = {"tmp_path": tmp_path, **kwargs}
    message = refusal(make, **kwargs)
    assert field in message.split("=")[0], message


# --- no private names across modules -------------------------------------------------------------
PACKAGES = ("analognas", "surrogate", "search_spaces")


def _private_imports() -> set[tuple[str, str]]:
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                ours = isinstance(node, ast.ImportFrom) and (
                    node.level > 0 or (node.module or "").split(".")[0] in PACKAGES)
                if ours:
                    found |= {(path.relative_to(ROOT).as_posix(), a.name) for a in node.names if a.name.startswith("_")}
    return found


def test_no_module_imports_a_private_name_of_another():
    found = _private_imports()
    assert not found, f"private names cross modules (give them a public home): {sorted(found)}"
