"""IMC costs on the command line: search limits and result.json, evaluate's report, bench cost."""

import json

import pytest

from analognas.cli import main
from analognas.cost import HERMES_FOUR_PHASE, HERMES_ONE_PHASE, network_cost
from analognas.data import DATASET_SHAPES, load_dataset
from search_spaces import NB201Space, ResNetLikeSpace, get_space, resnet20


@pytest.mark.parametrize("space, limit", [("nb201", 3e-4), ("resnet_like", 6e-4)])
def test_search_meets_an_energy_limit_and_reports_the_costs(tmp_path, capsys, space, limit):
    code = main(["search", "--space", space, "--time-budget", "2", "--population", "30", "--iterations", "3",
                 "--max-params", "400000", "--max-energy-j", str(limit), "--max-chips", "1", "--chip", "four-phase",
                 "--output", str(tmp_path), "--no-progress"])
    assert code == 0
    result = json.loads((tmp_path / "result.json").read_text())
    s = get_space(space)
    k = result["constraints"]  # the input shape defaults to the surrogate's table's
    cost = network_cost(s, s.from_dict(result["arch"]), HERMES_FOUR_PHASE, tuple(k["input_shape"]), k["num_classes"])
    assert result["feasible"] and result["cost"] == cost.summary()
    assert cost.energy_j < limit and cost.chips == 1
    assert result["constraints"]["max_energy_j"] == limit and result["constraints"]["chip"]["tops"] == 16.1
    out = capsys.readouterr().out
    assert "HERMES four-phase:" in out and "µJ" in out


def test_search_refuses_a_negative_energy_budget_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["search", "--max-energy-j", "-1"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--max-energy-j" in err and "must be a positive number" in err


def test_bench_cost_prints_the_reference_table_and_takes_more_networks(tmp_path, capsys):
    arch = tmp_path / "searched.json"
    arch.write_text(json.dumps({"arch": {"ops": [2, 2, 0, 3, 0, 4]}}))  # a search result.json works too
    assert main(["bench", "cost", "--arch", str(arch), "--space", "nb201", "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    table = json.loads((tmp_path / "c.json").read_text())["table"]
    assert [(r["network"], r["mode"]) for r in table] == [
        (n, m) for n in ("resnet20", "resnet32", str(arch)) for m in ("one-phase", "four-phase")]
    r20 = network_cost(ResNetLikeSpace(), resnet20(), HERMES_ONE_PHASE)
    assert table[0]["tiles"] == r20.tiles and table[0]["energy_uJ"] == pytest.approx(r20.energy_j * 1e6)
    assert "| resnet20 | one-phase | 272,474 | 38 |" in out


def test_dataset_shapes_are_those_load_dataset_gives():
    data = load_dataset("digits", n_train=10, n_test=10)
    assert DATASET_SHAPES["digits"] == (data.input_shape, data.num_classes)


def test_evaluate_reports_the_costs_under_both_hermes_modes(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    code = main(["evaluate", str(arch), "--space", "nb201", "--dataset", "digits", "--pretrain-epochs", "1",
                 "--epochs", "1", "--n-reps", "1", "--n-train", "64", "--n-test", "32",
                 "--output", str(tmp_path / "out")])
    assert code == 0
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    a = NB201Space().from_dict({"ops": [3, 1, 0, 1, 0, 3]})
    for mode, chip in (("one-phase", HERMES_ONE_PHASE), ("four-phase", HERMES_FOUR_PHASE)):
        assert report["cost"][mode] == network_cost(NB201Space(), a, chip, (1, 8, 8), 10).summary()
    assert "HERMES one-phase:" in capsys.readouterr().out
