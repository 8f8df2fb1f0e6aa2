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


def test_retest_takes_a_count_or_all(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dataset", "retest", "--results", "x.csv", "--n", "some"])
    assert info.value.code == 2 and "--n: 'some' is not an integer" in capsys.readouterr().err
    # 'all' parses; the missing table is then the one-line error
    missing = tmp_path / "none.csv"
    assert main(["dataset", "retest", "--results", str(missing), "--n", "all"]) == 2
    assert capsys.readouterr().err == (f"analognas dataset retest: error: results={str(missing)!r} is not allowed; "
                                       "allowed: an existing results table (no such file)\n")
    # a table without its provenance cannot be measured again: the message names the file it needs
    missing.write_text("index,arch\n")
    assert main(["dataset", "retest", "--results", str(missing), "--n", "all"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.provenance.json" in err and f"results={str(missing)!r}" in err


def test_new_commands_have_help(capsys):
    for args in (["dataset", "check"], ["dataset", "retest"], ["loop"]):
        with pytest.raises(SystemExit) as e:
            main([*args, "--help"])
        assert e.value.code == 0
        assert f"usage: analognas {' '.join(args)}" in capsys.readouterr().out


def test_surrogate_train_on_a_table_with_a_bad_cell_is_one_line_naming_line_and_column(tmp_path, capsys):
    import csv
    import io

    lines = SHIPPED.read_text().split("\n")
    header = next(csv.reader(io.StringIO(lines[0])))
    row = next(csv.reader(io.StringIO(lines[2])))
    row[header.index("avm")] = "banana"  # issue 17: "could not convert string to float: 'banana'"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(row)
    lines[2] = buf.getvalue()
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines))
    code = main(["surrogate", "train", "--space", "resnet_like", "--results", str(path), "--output", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.endswith(f"{path}, line 3, column avm: 'banana' is not allowed; allowed: a number in [-100, 100] "
                        "(accuracy points lost to drift)")
    assert not (tmp_path / "s").exists()


def test_retest_refuses_a_table_with_repeated_indices(tmp_path, capsys):
    path = tmp_path / "old.csv"
    shutil.copy(SHIPPED, path)
    shutil.copy(SHIPPED.with_suffix(".provenance.json"), path.with_suffix(".provenance.json"))
    assert main(["dataset", "retest", "--results", str(path), "--n", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "indices [0, 1, 3, 4] appear more than once" in err and "\n" not in err
    assert not path.with_name("old.retest-seed1.csv").exists()


def test_surrogate_train_averages_the_tau_over_fold_splits(tmp_path, capsys):
    from search_spaces import get_space
    from surrogate import AnalogSurrogate
    from surrogate.model import MODEL_FILES

    table = SHIPPED.with_name("fmnist14.csv")
    assert main(["surrogate", "train", "--space", "resnet_like", "--results", str(table), "--output",
                 str(tmp_path / "s"), "--cv", "3", "--cv-repeats", "3", "--trees", "10", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validated Kendall tau (identical networks share a fold; mean and sd over 3 fold splits, " \
           "seeds 4-6)" in out
    domain = AnalogSurrogate.load(tmp_path / "s").domain_
    assert domain.cv_repeats == 3 and "mean of 3 fold splits" in domain.describe_quality()
    # the recorded tau is the mean over the splits with seeds 4, 5, 6, not one split's
    from analognas.sweep import read_tables
    t = read_tables([table], get_space("resnet_like")).averaged()
    model = AnalogSurrogate(t.space, params={k: {"n_estimators": 10} for k in MODEL_FILES}, seed=4)
    each = [model.cross_validate(t.archs, t.frame, cv=3, seed=s) for s in (4, 5, 6)]
    for metric in ("acc_1d", "avm"):
        values = [e[metric] for e in each]
        assert domain.cv_kendall_tau[metric] == pytest.approx(sum(values) / 3)
        assert domain.cv_kendall_tau_sd[metric] > 0  # the splits differ
        assert f"{sum(values) / 3:.3f} ± " in out
