"""CLI of the table tools: `analognas dataset check`, `analognas loop` (errors are one line)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analognas.cli import main

SHIPPED = Path(__file__).parents[1] / "analognas" / "data" / "resnet_like" / "results.csv"


def test_dataset_check_on_the_shipped_table_reports_and_exits_1(capsys):
    assert main(["dataset", "check", str(SHIPPED)]) == 1
    out = capsys.readouterr().out
    assert "index 0 appears 2 times" in out and "PROBLEM" in out and "4 recorded runs" in out


def test_loop_refuses_a_table_it_cannot_extend_in_one_line(tmp_path, capsys):
    path = tmp_path / "old.csv"
    shutil.copy(SHIPPED, path)
    shutil.copy(SHIPPED.with_suffix(".provenance.json"), path.with_suffix(".provenance.json"))
    before = path.read_bytes()
    assert main(["loop", "--results", str(path), "--budget", "1", "--dataset", "digits", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("analognas loop: error: ") and "\n" not in err and "use a new path" in err
    assert path.read_bytes() == before and not path.with_name("old.csv.lock").exists()


def test_loop_budget_must_be_positive(capsys):
    with pytest.raises(SystemExit) as info:
        main(["loop", "--results", "x.csv", "--budget", "0"])
    assert info.value.code == 2 and "--budget" in capsys.readouterr().err


def test_new_commands_have_help(capsys):
    for args in (["dataset", "check"], ["dataset", "retest"], ["loop"]):
        with pytest.raises(SystemExit) as e:
            main([*args, "--help"])
        assert e.value.code == 0
        assert f"usage: analognas {' '.join(args)}" in capsys.readouterr().out
