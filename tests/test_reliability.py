"""Test-retest reliability (issue 16 item 1): ICC(1,1) and the retest side table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from _build_script import DATA, EVALUATION, SPACE, TRAINING
from analognas.dataset import build_dataset, provenance_path, read_results
from analognas.provenance import check_provenance
from analognas.reliability import (icc_1_1, icc_1_k, icc_interval, reliability, retest, tau_ceiling,
                                   variance_components)
from analognas.sweep import read_tables
from surrogate.metrics import kendall_tau

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; their ICC(1,1) is .17
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_icc_matches_shrout_and_fleiss():
    assert round(icc_1_1(SHROUT_FLEISS), 2) == 0.17
    low, high = icc_interval(SHROUT_FLEISS)
    assert low < 0.17 < high and -1 < low < 0 < high < 1


def test_icc_of_the_mean_matches_shrout_and_fleiss_and_spearman_brown():
    assert round(icc_1_k(SHROUT_FLEISS), 2) == 0.44  # their Table 2: ICC(1,4) = .44
    low, high = icc_interval(SHROUT_FLEISS, average=True)
    assert low < icc_1_k(SHROUT_FLEISS) < high < 1
    # the mean of k runs: the Spearman-Brown step-up of one run's reliability
    r, k = icc_1_1(SHROUT_FLEISS), SHROUT_FLEISS.shape[1]
    assert icc_1_k(SHROUT_FLEISS) == pytest.approx(k * r / (1 + (k - 1) * r))
    # between-network sd 1, noise sd 1: one run 0.5, the mean of two runs 1 / 1.5 = 0.667
    x = _two_measurements(2000, 1.0, 1.0, 0)
    assert icc_1_1(x) == pytest.approx(0.5, abs=0.04) and icc_1_k(x) == pytest.approx(2 / 3, abs=0.04)


def _two_measurements(n, signal_sd, noise_sd, seed):
    rng = np.random.default_rng(seed)
    truth = 80 + signal_sd * rng.standard_normal(n)
    return truth[:, None] + noise_sd * rng.standard_normal((n, 2))


def _oracle_tau(runs, signal_sd, noise_sd, seed):
    """Kendall tau between simulated true values and the mean of each network's runs."""
    rng = np.random.default_rng(seed)
    truth = signal_sd * rng.standard_normal(len(runs))
    measured = truth + noise_sd * rng.standard_normal(len(runs)) / np.sqrt(runs)
    return kendall_tau(truth, measured)


def _ceiling_ignoring_runs(sd_between, sd_noise, runs):
    """A plausible wrong ceiling: one run's reliability for every network, the repeats ignored."""
    return 2 / np.pi * np.arcsin(np.sqrt(sd_between**2 / (sd_between**2 + sd_noise**2)))


@pytest.mark.parametrize("signal_sd, noise_sd", [(1.0, 1.0), (3.4, 3.2), (1.0, 0.3)])
def test_tau_ceiling_is_the_tau_of_a_perfect_model_against_noisy_runs(signal_sd, noise_sd):
    # a table like the shipped one: most networks measured once, some twice, a few three times
    runs = np.array([1] * 200 + [2] * 80 + [3] * 20)
    simulated = np.mean([_oracle_tau(runs, signal_sd, noise_sd, seed) for seed in range(40)])
    assert tau_ceiling(signal_sd, noise_sd, runs) == pytest.approx(simulated, abs=0.01)
    # the test's power: a ceiling that ignores the repeated runs misses by more than 0.01
    if noise_sd > 0.5:
        assert abs(_ceiling_ignoring_runs(signal_sd, noise_sd, runs) - simulated) > 0.02
    # one count for all: (2/pi) asin(sqrt(ICC(1,k)))
    for k in (1, 2):
        icc = signal_sd**2 / (signal_sd**2 + noise_sd**2 / k)
        assert tau_ceiling(signal_sd, noise_sd, [k] * 30) == pytest.approx(2 / np.pi * np.arcsin(np.sqrt(icc)))


def test_tau_ceiling_from_measured_pairs_and_its_limits():
    x = _two_measurements(3000, 2.0, 1.0, 3)
    between, noise = variance_components(x)
    assert between == pytest.approx(2.0, rel=0.05) and noise == pytest.approx(1.0, rel=0.05)
    assert tau_ceiling(1.0, 0.0, [1, 1, 1]) == pytest.approx(1.0) # no noise: a perfect model ranks perfectly
    assert np.isnan(tau_ceiling(0.0, 1.0, [1, 1, 1]))  # no spread between networks: nothing to rank
    assert np.isnan(tau_ceiling(1.0, 1.0, [2]))  # one network: no pair
    with pytest.raises(ValueError, match="runs=0 is not allowed"):
        tau_ceiling(1.0, 1.0, [1, 0])
    with pytest.raises(ValueError, match=r"sd_between, sd_noise=\(-1.0, 1.0\) is not allowed"):
        tau_ceiling(-1.0, 1.0, [1, 1])


def test_icc_is_the_share_of_variance_between_networks():
    # between-network sd 1, noise sd 0.5: share 1 / 1.25 = 0.8
    icc = [icc_1_1(_two_measurements(400, 1.0, 0.5, seed)) for seed in range(5)]
    assert abs(np.mean(icc) - 0.8) < 0.04
    assert icc_1_1(_two_measurements(400, 1.0, 0.1, 0)) > 0.95  # real signal: high
    # pure noise: about 0 (MSB / (MSB + MSW), a tempting shortcut, gives about 0.5)
    assert abs(icc_1_1(_two_measurements(400, 0.0, 1.0, 0))) < 0.12
    # a shift between the two measurements is disagreement, not signal
    x = _two_measurements(400, 1.0, 0.1, 1)
    x[:, 1] += 2.0
    assert icc_1_1(x) < 0.3


def test_reliability_pairs_rows_by_index_and_reports_each_metric():
    x = {m: _two_measurements(50, s, 0.2, i) for i, (m, s) in enumerate((("acc_1d", 2.0), ("avm", 0.0), ("acc_1d_std", 1.0)))}
    arch = [f'{{"n":{i}}}' for i in range(50)]
    first = pd.DataFrame({"index": range(50), "arch_json": arch, **{m: v[:, 0] for m, v in x.items()}})
    second = pd.DataFrame({"index": range(50), "arch_json": arch, **{m: v[:, 1] for m, v in x.items()}})
    second.loc[3, "avm"] = np.nan  # a failed measurement drops out
    rel = reliability(first, second.iloc[::-1]).set_index("metric")
    assert rel.loc["acc_1d", "icc"] > 0.9 and abs(rel.loc["avm", "icc"]) < 0.35
    assert rel.loc["avm", "n"] == 49 and rel.loc["acc_1d", "n"] == 50
    assert rel.loc["acc_1d", "sd_between"] == pytest.approx(2.0, rel=0.3)
    # the ceilings: (2/pi) asin(sqrt(reliability)) of one run and of the mean of two
    for col, icc in (("tau_ceiling", "icc"), ("tau_ceiling_mean", "icc_mean")):
        assert rel.loc["acc_1d", col] == pytest.approx(2 / np.pi * np.arcsin(np.sqrt(rel.loc["acc_1d", icc])))
    assert rel.loc["acc_1d", "tau_ceiling"] < rel.loc["acc_1d", "tau_ceiling_mean"] < 1
    second.loc[0, "arch_json"] = "other"
    with pytest.raises(ValueError, match=r"indices \[0\] hold different networks"):
        reliability(first, second)


def test_retest_re_evaluates_table_networks_with_another_seed(tmp_path, capsys):
    path = tmp_path / "t.csv"
    build_dataset(SPACE, path, 3, training=TRAINING, evaluation=EVALUATION, seed=0, progress=False, **DATA)
    with pytest.raises(ValueError, match="seed=0 is not allowed"):
        retest(path, n=2, seed=0, space=SPACE, progress=False)
    with pytest.raises(ValueError, match="n=4 is not allowed"):
        retest(path, n=4, seed=1, space=SPACE, progress=False)
    result = retest(path, n=2, seed=1, space=SPACE, progress=False)
    assert result.path.name == "t.retest-seed1.csv"
    table, again = read_results(path, SPACE), result.table
    assert len(again) == 2 and set(again["index"]) <= set(table["index"])
    pairs = table.merge(again, on="index")
    assert (pairs["arch_json_x"] == pairs["arch_json_y"]).all()  # the same networks...
    assert (pairs["arch_seed_x"] != pairs["arch_seed_y"]).all()  # ...trained with other seeds
    assert set(result.reliability["metric"]) == {"acc_1d", "avm", "acc_1d_std"}
    assert (result.reliability["n"] == 2).all()
    prov = json.loads(provenance_path(result.path).read_text())
    assert prov["settings"]["seed"] == 1 and prov["runs"][0]["kind"] == "retest"
    assert prov["settings"]["training"] == json.loads(provenance_path(path).read_text())["settings"]["training"]
    assert check_provenance(result.path).consistent
    retest(path, n=2, seed=1, space=SPACE, progress=False)  # resumed: nothing left to do
    assert len(read_results(result.path, SPACE)) == 2
    # the table and its retest as repeated runs: one row per network, the mean of its runs
    both = read_tables([path, result.path], SPACE).averaged().frame.set_index("index")
    assert len(both) == len(table) and sorted(both["runs"]) == [1, 2, 2]
    for i, row in both.iterrows():
        runs = [t.set_index("index")["avm"].get(i) for t in (table, again)]
        assert row["avm"] == pytest.approx(np.nanmean([v for v in runs if v is not None]))
    assert (both["table"] == str(path)).all()  # the retest stands for the table's hardware
    # n=None: every network, so that the two tables are two runs of each
    assert sorted(retest(path, n=None, seed=1, space=SPACE, progress=False).table["index"]) == sorted(table["index"])
    _check_reports_the_reliability_so_far(path, result.path, capsys)


def _check_reports_the_reliability_so_far(path, side, capsys):
    """`analognas dataset check` of a retest side table (3 networks measured twice) also
    reports their reliability, read only."""
    import shutil

    from analognas.cli import main
    from analognas.reliability import retested_table

    capsys.readouterr()
    assert retested_table(side) == path and retested_table(path) is None
    assert main(["dataset", "check", str(side)]) == 0
    out = capsys.readouterr().out
    assert f"measures networks of {path} again" in out
    expected = reliability(read_results(path, SPACE), read_results(side, SPACE)).set_index("metric")
    line = next(x for x in out.splitlines() if x.split()[:1] == ["avm"]).split()
    assert int(line[1]) == 3 and float(line[2]) == pytest.approx(expected.loc["avm", "icc"], abs=5e-4)
    assert main(["dataset", "check", str(path)]) == 0  # the table itself is no retest
    assert "reliability" not in capsys.readouterr().out
    # moved together to another folder: the table is found beside its retest
    moved = path.parent / "moved"
    moved.mkdir()
    for f in (path, provenance_path(path), side, provenance_path(side)):
        shutil.move(f, moved / f.name)
    assert retested_table(moved / side.name) == moved / path.name
    # a table that can no longer be read: a note, and the check's own verdict
    main_table = moved / path.name
    frame = pd.read_csv(main_table)
    frame.loc[0, "acc_1d"] = 250.0  # not an accuracy: read_results refuses the table
    frame.to_csv(main_table, index=False)
    assert main(["dataset", "check", str(moved / side.name)]) == 0
    out = capsys.readouterr().out
    note = next(x for x in out.splitlines() if "no reliability reported" in x)
    assert "column acc_1d" in note and "icc" not in out
    main_table.unlink()
    assert main(["dataset", "check", str(moved / side.name)]) == 0
    out = capsys.readouterr().out
    assert "is not found" in out and "no reliability reported" in out and "icc" not in out
