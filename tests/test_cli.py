"""The analognas command line, run as a user would (subprocess, real files)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from analognas.cli import default_surrogate_path, main
from search_spaces import NB201Space
from surrogate.domain import shape_text
from surrogate.model import domain_of

SHIPPED_RESNET = default_surrogate_path("resnet_like")
SHIPPED_NB201 = default_surrogate_path("nb201")
SHIPPED_DOMAIN = domain_of(SHIPPED_RESNET)
SHAPE = shape_text(SHIPPED_DOMAIN.input_shape)  # the shipped table's inputs, e.g. 1x14x14
# the table the shipped surrogate was fitted on (its metadata names it, first of its tables)
SHIPPED_TABLE = Path(__file__).parents[1] / SHIPPED_DOMAIN.table.split(", ")[0]


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
    assert set(result["predicted"]) == {"acc_1d_score", "acc_1d_std", "avm"}
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert "parameters" in proc.stdout


def test_surrogate_train_reports_cross_validation_and_saves_a_loadable_model(tmp_path):
    from surrogate import AnalogSurrogate

    results = SHIPPED_TABLE
    proc = run_cli("surrogate", "train", "--space", "resnet_like", "--results", str(results),
                   "--output", str(tmp_path / "sur"), "--cv", "3", "--trees", "25")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("3-fold cross-validated Kendall tau"))
    assert lines[head + 1].split() == ["acc_1d", "acc_1d_std", "avm"]
    ours, plain = (lines[head + 2].split()[-3:], lines[head + 3].split()[-3:])
    assert lines[head + 3].strip().startswith("plain XGBoost, raw encoding")
    model = AnalogSurrogate.load(tmp_path / "sur")
    assert model.space.name == "resnet_like" and model.n_train_["acc_1d"] >= 10
    assert {b.num_boosted_rounds() for b in model.boosters_.values()} == {25}
    # what it was fitted on is recorded (issue 16 item 4): the table's task, range, rows and CV tau
    d = model.domain_
    task = json.loads(results.with_suffix(".provenance.json").read_text())["settings"]
    assert (d.dataset, list(d.input_shape), d.num_classes) == (
        task["dataset"]["name"], task["dataset"]["input_shape"], task["dataset"]["num_classes"])
    assert d.n_rows == model.n_train_["acc_1d"] and d.params_min < d.params_max < task["max_params"]
    assert d.cv_folds == 3 and set(d.cv_kendall_tau) == {"acc_1d", "acc_1d_std", "avm"}
    assert ours == [f"{d.cv_kendall_tau[t]:.3f}" for t in ("acc_1d", "acc_1d_std", "avm")]
    assert plain == [f"{d.cv_baseline_kendall_tau[t]:.3f}" for t in ("acc_1d", "acc_1d_std", "avm")]
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


# --- issue 17 (a user's first hour) and issue 16 item 4 (answers inside the data) ---------------


def test_search_time_budget_is_the_budget_used(tmp_path):
    proc = run_cli("search", "--time-budget", "2", "--population", "10", "--output", str(tmp_path),
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["elapsed_s"] >= 1.8, result["message"]
    assert result["message"].startswith("time budget of 2 s reached")


def test_search_help_says_which_limit_ends_a_run(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the run uses all of it unless --iterations ends it first" in text
    assert "default: none; the time budget ends the run" in text


def test_search_result_states_the_surrogate_its_domain_and_trust(tmp_path, capsys):
    assert main(["search", "--time-budget", "1", "--population", "20", "--output", str(tmp_path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "result.json").read_text())
    domain = result["surrogate"]["domain"]
    assert result["surrogate"]["path"] == str(SHIPPED_RESNET)
    assert domain == json.loads(json.dumps(SHIPPED_DOMAIN.to_dict()))
    assert domain["params_min"] < domain["params_max"]
    assert set(domain["cv_kendall_tau"]) == {"acc_1d", "acc_1d_std", "avm"}
    # defaults come from the surrogate's table, so the answer lies inside it
    assert result["constraints"]["input_shape"] == domain["input_shape"]
    assert result["constraints"]["max_params"] == domain["params_max"] + 1
    assert domain["params_min"] <= result["params"] <= domain["params_max"]
    assert result["inside_domain"] and result["outside_domain"] == []
    assert f"fitted on space resnet_like, dataset {domain['dataset']}, inputs {SHAPE}" in out
    assert f"cross-validated Kendall tau acc_1d {domain['cv_kendall_tau']['acc_1d']:.2f}" in out
    assert "inside the surrogate's domain" in out
    # names match what is computed
    assert "acc_1d ranking score" in out and "not a predicted accuracy" in out
    assert "z(acc_1d score) - z(log acc_1d_std)" in result["objective"]["computes"]
    assert result["predicted"]["acc_1d_std"] >= 0


def test_search_outside_the_surrogates_domain_says_so(tmp_path, capsys):
    assert main(["search", "--time-budget", "1", "--population", "20", "--input-shape", "3,32,32",
                 "--max-params", "400000", "--output", str(tmp_path), "--no-progress"]) == 0
    captured = capsys.readouterr()
    result = json.loads((tmp_path / "result.json").read_text())
    assert not result["inside_domain"]
    assert any(f"input shape 3x32x32 differs from the table's {SHAPE}" in r for r in result["outside_domain"])
    assert "OUTSIDE the surrogate's domain" in captured.out
    assert "--max-params 400,000 reaches beyond the surrogate's table" in captured.err


def test_search_takes_the_space_from_the_surrogate_and_refuses_a_mismatch(tmp_path, capsys):
    assert main(["search", "--surrogate", str(SHIPPED_NB201), "--time-budget", "1", "--population", "20",
                 "--output", str(tmp_path / "a"), "--no-progress"]) == 0
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert result["space"] == "nb201" and result["constraints"]["input_shape"] == [3, 32, 32]
    capsys.readouterr()
    assert main(["search", "--surrogate", str(SHIPPED_NB201), "--space", "resnet_like",
                 "--output", str(tmp_path / "b"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fitted for space 'nb201'" in err and "--space resnet_like" in err
    assert not (tmp_path / "b").exists()


def test_search_refuses_max_avm_zero_as_no_network_is_predicted_below_it(capsys):
    with pytest.raises(SystemExit) as e:
        main(["search", "--max-avm", "0"])
    assert e.value.code == 2 and "--max-avm: 0.0 is not allowed" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_damaged_surrogate_file_is_a_one_line_error_naming_it(tmp_path, damage):
    import shutil

    folder = tmp_path / "sur"
    shutil.copytree(SHIPPED_RESNET, folder)
    model = folder / "avm.json"
    model.write_bytes(b"" if damage == "empty" else model.read_bytes()[:5000])
    proc = run_cli("search", "--surrogate", str(folder), "--output", str(tmp_path / "out"), "--no-progress")
    assert proc.returncode == 2, proc.stderr  # an empty file used to abort the process (SIGABRT)
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and str(model) in err, err
    assert ("empty model file (0 bytes)" if damage == "empty" else "damaged model file") in err


def test_search_with_a_tiny_budget_is_a_one_line_error(tmp_path, capsys):
    assert main(["search", "--time-budget", "0.01", "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--time-budget 0.01" in err and "nothing was written" in err
    assert not (tmp_path / "out").exists()


def test_search_output_is_checked_before_the_work_and_never_replaced(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    assert main(["search", "--output", str(afile), "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err and afile.read_text() == "keep"
    out = tmp_path / "run"
    args = ["search", "--time-budget", "1", "--population", "20", "--output", str(out), "--no-progress"]
    assert main(args) == 0
    before = (out / "history.csv").read_bytes()
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds result.json, history.csv, pareto.png" in capsys.readouterr().err
    assert (out / "history.csv").read_bytes() == before
    assert main([*args, "--overwrite", "--seed", "1"]) == 0


def test_interrupted_search_saves_the_history_and_best_so_far(tmp_path):
    env = {"OMP_NUM_THREADS": "1", "PATH": "", "PYTHONUNBUFFERED": "1"}
    # a Ctrl-C at a terminal: SIGINT's default action restored in the child, since a runner started
    # in the background (`nohup ... &`) passes SIGINT on ignored, and Python then never raises
    # KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "analognas.cli", "search", "--time-budget", "120",
                             "--output", str(tmp_path)], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    # the bar's postfix appears once the first population is scored (a fixed sleep is too
    # short on a loaded machine)
    while b"scored=" not in seen:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, seen.decode()
        seen += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    result = json.loads((tmp_path / "result.json").read_text())
    history = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert result["interrupted"] and len(history) - 1 == result["n_scored"] > 0
    assert "acc_1d_score" in history[0].split(",")  # named as in result.json
    assert f"saved the {result['n_scored']:,} architectures scored so far" in err.decode()
    assert result["elapsed_s"] < 60


def test_sample_prints_its_size_and_is_capped_by_default(capsys):
    assert main(["sample"]) == 0
    captured = capsys.readouterr()
    arch = json.loads(captured.out)
    from search_spaces import ResNetLikeSpace

    params = ResNetLikeSpace().num_params(ResNetLikeSpace().from_dict(arch), SHIPPED_DOMAIN.input_shape, 10)
    line = captured.err.strip()
    assert line.startswith(f"{params:,} parameters") and f"for {SHAPE} inputs" in line
    domain = json.loads((SHIPPED_RESNET / "metadata.json").read_text())["domain"]
    assert params <= domain["params_max"] and f"below {domain['params_max'] + 1:,} parameters" in line
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "one above the largest network in the surrogate's table" in " ".join(capsys.readouterr().out.split())


def test_sample_into_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "analognas.cli", "sample"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    proc.stdout.close()  # like `| head -1` gone before the first write
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err


def test_evaluate_checks_output_and_device_before_training(tmp_path, capsys):
    import torch

    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "evaluation.json").write_text("{}")
    start = time.perf_counter()
    assert main(["evaluate", str(arch), "--space", "nb201", "--output", str(tmp_path / "out")]) == 2
    assert "already holds evaluation.json" in capsys.readouterr().err
    assert main(["evaluate", str(arch), "--space", "nb201", "--output", str(tmp_path / "out" / "evaluation.json")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert time.perf_counter() - start < 5  # refused before any training
    if not torch.cuda.is_available():
        assert main(["evaluate", str(arch), "--space", "nb201", "--device", "cuda",
                     "--output", str(tmp_path / "gpu")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--device cuda" in err and "CUDA is not available" in err


def test_evaluate_tells_an_analog_collapse_from_a_network_that_did_not_learn(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    # the digital network learns digits; output noise 50x its range drowns it on the analog tiles
    assert main(["evaluate", str(arch), "--space", "nb201", "--pretrain-epochs", "4", "--epochs", "1",
                 "--n-train", "300", "--n-test", "100", "--n-reps", "1", "--out-noise", "50",
                 "--output", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "evaluation.json").read_text())
    assert report["digital_acc"] >= 30 and report["near_chance"]
    err = capsys.readouterr().err
    assert "collapses on the analog hardware" in err and "has not learned" not in err


def test_evaluate_without_pretraining_reports_and_warns_near_chance(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    assert main(["evaluate", str(arch), "--space", "nb201", "--pretrain-epochs", "0", "--epochs", "1",
                 "--n-train", "100", "--n-test", "50", "--n-reps", "1", "--output", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "o" / "evaluation.json").read_text())
    assert report["digital_acc"] is None and "no digital pre-training" in captured.out
    assert report["near_chance"] == (report["acc_1d"] < 15.0)
    assert ("near chance" in captured.err) == report["near_chance"]


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="Fashion-MNIST not installed")
def test_evaluating_a_search_result_uses_the_surrogates_task(tmp_path, capsys):
    assert main(["search", "--time-budget", "1", "--population", "20", "--output", str(tmp_path / "s"),
                 "--no-progress"]) == 0
    searched = json.loads((tmp_path / "s" / "result.json").read_text())
    assert main(["evaluate", str(tmp_path / "s" / "result.json"), "--pretrain-epochs", "0", "--epochs", "1",
                 "--n-train", "64", "--n-test", "32", "--n-reps", "1", "--batch-size", "32",
                 "--output", str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    # the same task as the surrogate's table, so the same network size as the search reported
    assert report["dataset"] == SHIPPED_DOMAIN.dataset and report["params"] == searched["params"]


def test_interrupted_evaluate_says_plainly_that_nothing_is_kept(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))

    def ctrl_c(*_):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, ctrl_c)
    signal.setitimer(signal.ITIMER_REAL, 2.0)  # Ctrl-C two seconds in, during training
    try:
        code = main(["evaluate", str(arch), "--space", "nb201", "--epochs", "50", "--n-train", "300",
                     "--output", str(tmp_path / "out")])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        # a Ctrl-C landing inside torch.no_grad().__enter__ leaves autograd off in this process:
        # the CLI exits after it, but the tests that follow run in the same process
        torch.set_grad_enabled(True)
    assert code == 130
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == ("analognas evaluate: interrupted; nothing is kept: an evaluation is not "
                                    "checkpointed; rerun the command to start again")
    assert not (tmp_path / "out" / "evaluation.json").exists()


def test_search_says_when_its_answer_scores_above_every_measured_network(tmp_path, capsys):
    """result.json's above_table_score follows the surrogate's recorded top score; a copy of the
    shipped surrogate with that top set far below and far above shows both outcomes."""
    import shutil

    for top, expected in ((-1e9, True), (1e9, False)):
        sur = tmp_path / f"sur{expected}"
        shutil.copytree(SHIPPED_RESNET, sur)
        meta = json.loads((sur / "metadata.json").read_text())
        meta["domain"]["acc_1d_score_max"] = top
        (sur / "metadata.json").write_text(json.dumps(meta))
        out_dir = tmp_path / f"out{expected}"
        assert main(["search", "--surrogate", str(sur), "--time-budget", "1", "--population", "20",
                     "--output", str(out_dir), "--no-progress"]) == 0
        out = capsys.readouterr().out
        result = json.loads((out_dir / "result.json").read_text())
        assert result["above_table_score"] is expected
        assert ("is above that of every network the surrogate was fitted on" in out) is expected
