"""Provenance that adds up (issue 16 item 2): every row belongs to a recorded run, no index is
repeated, and a SIGKILL at any point leaves table and run log consistent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from _build_script import DATA, EVALUATION, SPACE, TRAINING
from analognas.dataset import ResultsTable, build_dataset, provenance_path, read_results, table_columns
from analognas.provenance import check_provenance

SCRIPT = Path(__file__).with_name("_build_script.py")
SHIPPED = Path(__file__).parents[1] / "analognas" / "data" / "resnet_like" / "results.csv"


def build(path, n):
    return build_dataset(SPACE, path, n, training=TRAINING, evaluation=EVALUATION, seed=0, progress=False, **DATA)


def runs(path):
    return json.loads(provenance_path(path).read_text())["runs"]


def rows(path: Path) -> int:
    return max(len(path.read_bytes().split(b"\n")) - 2, 0) if path.exists() else 0


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("prov") / "results.csv"
    build(path, 2)
    return path


def copy(table, tmp_path, name="copy.csv"):
    path = tmp_path / name
    path.write_bytes(table.read_bytes())
    provenance_path(path).write_bytes(provenance_path(table).read_bytes())
    return path


def test_a_build_records_its_run_and_tags_its_rows(table):
    (run,) = runs(table)
    assert run["id"] == 1 and run["kind"] == "build" and run["outcome"] == "completed"
    assert run["started"] <= run["finished"] and run["new_rows"] == 2
    assert run["git"] is None or len(run["git"]["commit"]) == 40
    assert {"analognas", "torch", "aihwkit"} <= set(run["versions"]) and run["argv"]
    assert list(pd.read_csv(table)["run"]) == [1, 1]
    report = check_provenance(table)
    assert report.consistent, report.format()
    assert report.runs[0]["rows"] == 2
    # the run's wall time, and the cost of a record that a build's planning needs
    from datetime import datetime
    wall = (datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"])).total_seconds()
    assert report.runs[0]["wall_s"] == wall >= 0
    assert f"recorded 2 new rows ({wall / 2:.0f} s wall per new row)" in report.format()


def test_a_build_leaves_no_lock_file_and_a_stale_one_does_not_block(table, tmp_path):
    lock = table.with_name(table.name + ".lock")
    assert not lock.exists()  # issue 17: every build left a 0-byte results.csv.lock behind
    path = copy(table, tmp_path)
    stale = path.with_name(path.name + ".lock")
    stale.touch()  # what a SIGKILLed build leaves: a lock file nobody holds
    build(path, 2)
    assert not stale.exists()


def test_a_second_row_at_a_held_index_is_refused(table, tmp_path):
    path = copy(table, tmp_path)
    before = path.read_bytes()
    t = ResultsTable(path, table_columns(EVALUATION))
    row = pd.read_csv(path).iloc[0].to_dict()
    row["arch"] = '{"ops":[1,1,1,1,1,1]}'
    with pytest.raises(ValueError, match="index 0 is already held"):
        t.append(row)
    assert path.read_bytes() == before


def _kill_when(proc, ready, what, deadline_s=90):
    deadline = time.monotonic() + deadline_s
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, f"the build never reached: {what}"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigterm_stops_a_build_cleanly_and_the_run_log_says_so(tmp_path):
    # a build in the background ignores SIGINT; SIGTERM (kill, a batch scheduler) is its Ctrl-C
    path = tmp_path / "term.csv"
    proc = subprocess.Popen([sys.executable, "-m", "analognas.cli", "dataset", "build", "--space", "nb201",
                             "--output", str(path), "--n-archs", "6", "--dataset", "digits", "--n-train", "200",
                             "--n-test", "100", "--pretrain-epochs", "1", "--epochs", "1", "--n-reps", "2",
                             "--num-threads", "1", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, OMP_NUM_THREADS="1"))
    deadline = time.monotonic() + 300
    while rows(path) < 1:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the build never wrote a row"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 143, err
    assert "analognas dataset build: terminated (SIGTERM); the finished rows are saved in the table" in err
    assert "Traceback" not in err
    last = runs(path)[-1]
    assert last["finished"] and last["outcome"].startswith("stopped: Terminated")
    assert 1 <= last["new_rows"] == rows(path) < 6 and check_provenance(path).consistent


def test_sigkill_at_several_points_leaves_a_consistent_table_and_resume_completes(tmp_path):
    path, n = tmp_path / "killed.csv", 5
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SCRIPT.parent), os.environ.get("PYTHONPATH", "")]))
    # kill points: right after the run is recorded (no row yet), after 1 more row, after 2 more
    points = [("run recorded, no row yet", lambda k: (provenance_path(path).exists() and len(runs(path)) == k
                                                      and rows(path) == 0)),
              ("1 row", lambda k: rows(path) >= 1), ("3 rows", lambda k: rows(path) >= 3)]
    for k, (what, reached) in enumerate(points, start=1):
        proc = subprocess.Popen([sys.executable, str(SCRIPT), str(path), str(n)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _kill_when(proc, lambda: reached(k), what)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        report = check_provenance(path)
        assert report.consistent, f"after a kill at '{what}':\n{report.format()}"
        assert runs(path)[-1]["finished"] is None  # the killed run is recognised as interrupted
        assert any(f"run {k} was interrupted" in note for note in report.notes)
        assert sum(r["rows"] for r in report.runs) == report.n_rows
    df = build(path, n)
    assert list(df["index"]) == list(range(n)) and df["arch_json"].is_unique
    report = check_provenance(path)
    assert report.consistent, report.format()
    recorded = runs(path)
    assert [r["outcome"] for r in recorded] == ["interrupted"] * 3 + ["completed"]
    assert [r["new_rows"] for r in recorded] == [r["rows"] for r in report.runs]
    assert sum(r["new_rows"] for r in recorded) == n and recorded[0]["new_rows"] == 0
    assert not path.with_name(path.name + ".lock").exists()


@pytest.mark.parametrize("damage, problem", [
    ("repeat", "index 0 appears 2 times"),
    ("count", "run 1 records 5 new rows; the table holds 2"),
    ("stray", "name a run that is not recorded"),
    ("arch_seed", "arch_seed other than arch_seed"),
    ("seed", "seed other than the table's 0"),
])
def test_check_finds_each_kind_of_inconsistency(table, tmp_path, damage, problem):
    path = copy(table, tmp_path)
    df = pd.read_csv(path, keep_default_na=False)
    prov = json.loads(provenance_path(path).read_text())
    if damage == "repeat":  # the shipped table's fault: a second network at a held index
        extra = df.iloc[[0]].assign(arch='{"ops":[1,1,1,1,1,1]}')
        df = pd.concat([df, extra])
        prov["runs"][0]["new_rows"] = 3
    elif damage == "count":
        prov["runs"][0]["new_rows"] = 5
    elif damage == "stray":
        df.loc[1, "run"] = 7
    elif damage == "arch_seed":
        df.loc[1, "arch_seed"] += 1
    elif damage == "seed":
        df.loc[1, "seed"] = 3
    df.to_csv(path, index=False)
    provenance_path(path).write_text(json.dumps(prov))
    report = check_provenance(path)
    assert not report.consistent
    assert any(problem in p for p in report.problems), report.format()


def test_check_on_the_shipped_table_reports_its_known_faults():
    report = check_provenance(SHIPPED)
    text = "\n".join(report.problems)
    for index in (0, 1, 3, 4):
        assert f"index {index} appears 2 times" in text
    assert "the runs record 28 new rows in all; the table holds 60" in text
    assert "run 3 never finished" in text


# --- checked reading (issue 17) -----------------------------------------------------------------
def _edit(table, tmp_path, line, column, value):
    path = copy(table, tmp_path, "edited.csv")
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    df.loc[line - 2, column] = value
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("line, column, value, allowed", [
    (3, "acc_1d", "1e9", r"a number in \[0, 100\]"),
    (2, "avm", "banana", r"a number in \[-100, 100\]"),
    (3, "acc_1d_std", "-0.5", r"a number in \[0, 100\] \(a spread"),
    (2, "index", "1.5", "an integer >= 0"),
    (2, "status", "done", "'ok' or 'failed'"),
    (3, "arch", '{"ops": [1, 2,', "an architecture as a JSON object"),
    (2, "arch", '{"ops": [9, 9, 9, 9, 9, 9]}', "an architecture of nb201"),
])
def test_a_bad_cell_is_a_one_line_error_naming_file_line_and_column(table, tmp_path, line, column, value, allowed):
    path = _edit(table, tmp_path, line, column, value)
    with pytest.raises(ValueError) as info:
        read_results(path, SPACE)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}, line {line}, column {column}: ")
    assert repr(value)[:20] in message or value[:10] in message
    assert pd.Series([message]).str.contains(f"allowed: {allowed}").item(), message


def test_a_garbage_line_is_an_error_not_dropped(table, tmp_path):
    path = copy(table, tmp_path, "garbage.csv")
    with open(path, "a") as f:
        f.write("this is not a row\n")
    with pytest.raises(ValueError, match=r"garbage.csv, line 4: 1 field\(s\), the header has 23"):
        read_results(path, SPACE)
    report = check_provenance(path)
    assert any("line 4: 1 field(s)" in p for p in report.problems)


def test_reading_a_table_with_repeated_indices_warns():
    with pytest.warns(UserWarning, match=r"indices \[0, 1, 3, 4\] appear more than once"):
        assert len(read_results(SHIPPED)) == 60


def test_check_tells_a_run_in_progress_from_an_interrupted_one(table, tmp_path):
    from analognas.dataset import _exclusive

    path = copy(table, tmp_path)
    prov = json.loads(provenance_path(path).read_text())
    prov["runs"].append(dict(prov["runs"][0], id=2, finished=None, outcome=None, new_rows=0))
    provenance_path(path).write_text(json.dumps(prov))
    with _exclusive(path):
        report = check_provenance(path)
        assert report.consistent and any("run 2 is in progress" in n for n in report.notes)
    report = check_provenance(path)
    assert report.consistent and any("run 2 was interrupted" in n for n in report.notes)


def test_a_table_without_provenance_is_consistent_only_while_it_has_no_rows(table, tmp_path):
    path = tmp_path / "header.csv"
    path.write_bytes(table.read_bytes().split(b"\n")[0] + b"\n")  # killed before its run was recorded
    assert check_provenance(path).consistent
    path.write_bytes(table.read_bytes())
    assert any("no provenance file" in p for p in check_provenance(path).problems)
