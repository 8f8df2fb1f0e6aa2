"""The analognas command line, run as a user would (subprocess, real files)."""

import json
import subprocess
import sys

import pytest

from analognas.cli import default_surrogate_path, main
from search_spaces import NB201Space


def run_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "analognas.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={"OMP_NUM_THREADS": "1", "PATH": ""})


@pytest.mark.parametrize("space", ["nb201", "resnet_like"])
def test_search_on_shipped_surrogate_writes_result(tmp_path, space):
    if not (default_surrogate_path(space) / "metadata.json").is_file():
        pytest.fail(f"the shipped surrogate for {space} is missing")
    proc = run_cli("search", "--space", space, "--time-budget", "3", "--population", "40",
                   "--max-params", "400000", "--output", str(tmp_path), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert {"arch", "predicted", "params", "tiles"} <= set(result)
    assert result["params"] < 400_000
    assert set(result["predicted"]) == {"acc_1d", "acc_1d_std", "avm"}
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert "parameters" in proc.stdout


def test_surrogate_train_reports_cross_validation_and_saves_a_loadable_model(tmp_path):
    from surrogate import AnalogSurrogate

    results = default_surrogate_path("resnet_like").parent / "results.csv"  # the shipped table
    proc = run_cli("surrogate", "train", "--space", "resnet_like", "--results", str(results),
                   "--output", str(tmp_path / "sur"), "--cv", "3", "--trees", "25")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("3-fold cross-validated Kendall tau"))
    assert all(f"{t} " in line for t in ("acc_1d", "acc_1d_std", "avm"))
    model = AnalogSurrogate.load(tmp_path / "sur")
    assert model.space.name == "resnet_like" and model.n_train_["acc_1d"] >= 10
    assert {b.num_boosted_rounds() for b in model.boosters_.values()} == {25}
    bad = run_cli("surrogate", "train", "--space", "resnet_like", "--results", str(results),
                  "--output", str(tmp_path / "bad"), "--trees", "0")
    assert bad.returncode != 0 and "--trees" in bad.stderr


def test_bench_throughput_repeats_and_reports_the_median():
    proc = run_cli("bench", "throughput", "--space", "resnet_like", "--seconds", "0.3", "--repeats", "3")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    median, runs = line.split(": ", 1)[1].split(" candidates")[0], line.split("median of 3 runs: ")[1].split(";")[0]
    rates = sorted(int(r.replace(",", "")) for r in runs.split(" / "))
    assert int(median.replace(",", "")) == rates[1] > 0


def test_bench_throughput_under_the_searchs_limits():
    # 2 s: under tight limits a cold process may spend a few tenths of a second on the initial
    # population before it scores anything (0.3 s once measured 0 on a busy machine)
    proc = run_cli("bench", "throughput", "--space", "resnet_like", "--seconds", "2",
                   "--max-params", "400000", "--max-tiles", "40", "--tile-size", "256")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert "max_params 400000, max_tiles 40;" in line
    assert int(line.split(": ", 1)[1].split(" candidates")[0].replace(",", "")) > 0
    assert "no limits" in run_cli("bench", "throughput", "--space", "resnet_like", "--seconds", "0.3").stdout


def test_bench_search_runs_the_seeds_from_first_seed(tmp_path):
    out = tmp_path / "search.json"
    proc = run_cli("bench", "search", "--methods", "random", "--seeds", "2", "--first-seed", "5",
                   "--queries", "20", "--json", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert [e["seed"] for e in json.loads(out.read_text())["random"]] == [5, 6]
    assert "sem" in proc.stdout.splitlines()[0]
    assert run_cli("bench", "search", "--first-seed", "-1").returncode == 2


def test_evaluate_writes_metrics(tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    proc = run_cli("evaluate", str(arch), "--space", "nb201", "--dataset", "digits",
                   "--pretrain-epochs", "1", "--epochs", "1", "--n-reps", "2", "--n-train", "300",
                   "--n-test", "200", "--output", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    for key in ("acc_1d", "acc_1d_std", "avm", "acc_by_time", "params", "tiles", "status"):
        assert key in report
    assert report["status"] == "ok" and 0.0 <= report["acc_1d"] <= 100.0
    assert report["params"] == NB201Space().num_params(NB201Space().from_dict({"ops": [3, 1, 0, 1, 0, 3]}),
                                                       (1, 8, 8), 10)
    assert set(report["acc_by_time"]) == {"1", "3600", "86400", "2592000"}


def test_bad_architecture_file_gives_one_line_naming_the_field(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 9, 1, 0, 3]}))
    assert main(["evaluate", str(arch), "--space", "nb201"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ops[edge (1,4)]=9" in err


def test_missing_file_and_bad_option_are_clear(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.json")]) == 2
    assert "nope.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["search", "--max-params", "-5"])
    assert e.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err


def test_unknown_device_is_rejected_before_training(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    assert main(["evaluate", str(arch), "--space", "nb201", "--device", "tpu"]) == 2
    assert "device" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    for args in (["search"], ["evaluate"], ["dataset", "build"], ["surrogate", "train"],
                 ["bench", "search"], ["bench", "surrogate"], ["bench", "train"], ["sample"]):
        with pytest.raises(SystemExit) as e:
            main([*args, "--help"])
        assert e.value.code == 0
        assert f"usage: analognas {' '.join(args)}" in capsys.readouterr().out
