"""The claim scaffold (issue 16 item 5): reference ResNets, the summary's verdict, a quick run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from analognas import AnalogHardware, EvaluationConfig, TrainingConfig
from analognas.claim import (ClaimSettings, reference_resnet, run_claim, standard_resnets, summarize_claim,
                             table_best)
from analognas.dataset import sample_architectures
from analognas.io import read_json, write_json
from search_spaces import ResNetLikeSpace, resnet20, resnet32

from _tables import write_table


def test_standard_resnets_are_he_et_al_s_and_the_reference_is_the_deepest_16_channel_one():
    space = ResNetLikeSpace()
    nets = standard_resnets(space, 500_000, (3, 32, 32), 10)
    by_name = {name: arch for name, arch, _ in nets}
    assert by_name["ResNet-20 (16 channels)"] == resnet20() and by_name["ResNet-32 (16 channels)"] == resnet32()
    assert all(p <= 500_000 for _, _, p in nets) and [p for _, _, p in nets] == sorted(p for _, _, p in nets)
    name, arch, params = reference_resnet(space, 300_000, (3, 32, 32), 10)
    assert name == "ResNet-20 (16 channels)" and params == space.num_params(resnet20())
    assert reference_resnet(space, 500_000, (3, 32, 32), 10)[1] == resnet32()
    # too small for 16 channels: the widest first convolution that fits, at its largest depth
    assert reference_resnet(space, 50_000, (1, 28, 28), 10)[0] == "ResNet-8 (12 channels)"
    assert reference_resnet(space, 20_000, (1, 28, 28), 10)[0] == "ResNet-8 (8 channels)"
    with pytest.raises(ValueError, match="budget=1000 is not allowed"):
        reference_resnet(space, 1000, (3, 32, 32), 10)


def _runs(found_acc, ref_acc, found_avm, ref_avm, seeds=5, noise=0.3):
    rng = np.random.default_rng(0)
    rows = []
    for role, acc, avm in (("found", found_acc, found_avm), ("reference", ref_acc, ref_avm)):
        for s in range(seeds):
            rows.append({"budget": 1000, "role": role, "seed": s, "params": 900,
                         "acc_1d": acc + noise * rng.standard_normal(), "acc_1d_std": 0.5,
                         "avm": avm + 0.1 * rng.standard_normal(), "status": "ok"})
    return pd.DataFrame(rows)


def test_the_verdict_needs_both_a_gain_and_less_drift():
    summary, verdict = summarize_claim(_runs(85.0, 83.0, 1.0, 2.0))
    assert bool(verdict["target_met"].item())
    assert verdict["acc_1d_gain_low"].item() < 2.0 < verdict["acc_1d_gain_high"].item()
    found = summary.set_index("role").loc["found"]
    assert found["n"] == 5 and found["acc_1d_low"] < found["acc_1d"] < found["acc_1d_high"]
    assert not summarize_claim(_runs(85.0, 84.5, 1.0, 2.0))[1]["target_met"].item()  # gain < 1 point
    assert not summarize_claim(_runs(85.0, 83.0, 2.5, 2.0))[1]["target_met"].item()  # drifts more


def _digits_tables(tmp_path, first_acc, second_acc):
    """Four digits networks (fewest parameters first) in a table and its retest side table."""
    space = ResNetLikeSpace()
    archs = sample_architectures(space, 4, seed=0, max_params=20_000, input_shape=(1, 8, 8), num_classes=10)
    archs = sorted(archs, key=lambda a: space.num_params(a, (1, 8, 8), 10))
    params = [space.num_params(a, (1, 8, 8), 10) for a in archs]
    assert len(set(params)) == 4
    paths = [write_table(tmp_path / name, space, archs, acc, AnalogHardware())
             for name, acc in (("t.csv", first_acc), ("t.retest-seed1.csv", second_acc))]
    return space, archs, params, paths


def test_table_best_is_the_best_mean_over_runs_under_the_budget(tmp_path):
    # one run each: network 1's 80 % is the best; the means of two runs: 72, 70, 60, 89
    space, archs, params, tables = _digits_tables(tmp_path, [72.0, 80.0, 60.0, 90.0], [72.0, 60.0, 60.0, 88.0])
    # network 3 is over the lower budget; the best mean under it is network 0's, not network 1's single 80 %
    best = table_best(tables, [params[3], params[3] - 1], space, (1, 8, 8))
    assert best[params[3]] == {"arch": archs[3], "acc_1d": pytest.approx(89.0), "runs": 2, "params": params[3]}
    assert best[params[3] - 1]["arch"] == archs[0]
    assert table_best(tables[:1], [params[3] - 1], space)[params[3] - 1]["arch"] == archs[1]
    with pytest.raises(ValueError, match="table_best=.* allowed: tables with a measured network of at most"):
        table_best(tables, [params[3], params[0] - 1], space)
    with pytest.raises(ValueError, match=r"table_best=.* input shape \(1, 14, 14\)"):
        table_best(tables, [params[3]], space, (1, 14, 14))
    with pytest.raises(ValueError, match="table_best='.*nowhere.csv' is not allowed"):
        table_best([tmp_path / "nowhere.csv"], [params[3]], space)


def test_a_quick_claim_run_writes_its_outputs_and_resumes(tmp_path):
    space, archs, params, tables = _digits_tables(tmp_path, [50.0, 70.0, 60.0, 65.0], [50.0, 70.0, 60.0, 65.0])
    settings = dataclasses.replace(
        ClaimSettings.quick(), budgets=(20_000,), iterations=2, population_size=10, n_train=200, n_test=100,
        training=TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1),
        evaluation=EvaluationConfig(n_reps=2), table_best=tuple(str(t) for t in tables))
    result = run_claim(settings, tmp_path, progress=False)
    assert len(result.runs) == 6 and set(result.runs["role"]) == {"found", "reference", "table_best"}
    assert (result.runs["params"] <= 20_000).all()
    # the third arm: the table's best measured network, trained with the same seeds
    assert result.networks["20000"]["table_best"] == archs[1].to_dict()
    assert result.networks["20000"]["table_best_measured"] == {"acc_1d": 70.0, "runs": 2, "params": params[1]}
    assert set(result.summary["role"]) == {"found", "reference", "table_best"}
    tb = result.runs[result.runs["role"] == "table_best"]
    ref = result.runs[result.runs["role"] == "reference"]
    assert result.verdict["table_best_gain"].item() == pytest.approx(tb["acc_1d"].mean() - ref["acc_1d"].mean())
    assert result.networks["20000"]["reference_name"] == "ResNet-8 (8 channels)"
    # the surrogate that found the network is recorded: a later refit of its folder would find another
    from surrogate.model import default_surrogate_path, domain_of
    recorded = result.networks["20000"]["surrogate"]
    assert recorded["path"] == str(default_surrogate_path("resnet_like"))
    domain = domain_of(default_surrogate_path("resnet_like"))
    assert recorded["domain"] == domain.to_dict()
    net = result.networks["20000"]
    assert net["found_above_table_score"] == domain.above_table(net["found_acc_1d_score"])
    # the surrogate's score of the reference, to set beside what the trainings measure
    from surrogate import AnalogSurrogate
    model = AnalogSurrogate.load(default_surrogate_path("resnet_like"))
    ref = model.space.validate(net["reference"])
    assert net["reference_acc_1d_score"] == pytest.approx(float(model.predict([ref])["acc_1d"].iloc[0]))
    assert net["reference_acc_1d_score"] != pytest.approx(net["found_acc_1d_score"])
    for name in ("claim.json", "claim.csv", "summary.csv", "verdict.csv", "claim.png"):
        assert (tmp_path / name).is_file()
    again = run_claim(settings, tmp_path, progress=False)  # nothing left to run
    pd.testing.assert_frame_equal(again.runs, result.runs)
    with pytest.raises(ValueError, match="other settings"):
        run_claim(dataclasses.replace(settings, n_seeds=3), tmp_path, progress=False)


def test_default_budgets_lie_in_the_shipped_surrogates_table():
    from analognas.claim import default_budgets
    from surrogate.model import default_surrogate_path, domain_of

    domain = domain_of(default_surrogate_path("resnet_like"))
    low, high = default_budgets(domain.params_max)
    # both searches answer where the surrogate has data (the old 100k / 300k lay far above it)
    assert domain.params_min < low < domain.params_max <= high < domain.params_max + 5_000
    assert ClaimSettings().budgets is None and default_budgets(None) == (100_000, 300_000)


def test_bench_claim_cli_says_which_surrogate_found_each_network(tmp_path, capsys):
    from analognas.cli import main
    from surrogate.model import default_surrogate_path, domain_of

    assert main(["bench", "claim", "--quick", "--budgets", "20000", "--seeds", "2", "--iterations", "2",
                 "--population", "10", "--output", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    domain = domain_of(default_surrogate_path("resnet_like"))
    assert (f"budget 20,000: found by the surrogate in {default_surrogate_path('resnet_like')}, fitted on "
            f"{domain.n_rows} networks of {domain.table}; reference ResNet-8 (8 channels); "
            "surrogate's acc_1d score: found ") in out
    assert "met at" in out and "(--quick: checks the machinery, not the claim)" in out


def test_bench_claim_refuses_a_missing_table_before_the_search(tmp_path, capsys):
    from analognas.cli import main

    out = tmp_path / "claim"
    assert main(["bench", "claim", "--quick", "--budgets", "20000", "--table-best", str(tmp_path / "nowhere.csv"),
                 "--output", str(out), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "table_best=" in err and "nowhere.csv" in err
    assert not (out / "claim.json").exists()  # nothing recorded as if the search had run
    # a table with nothing under the second budget fails before the first budget's search too
    _, _, params, tables = _digits_tables(tmp_path, [50.0, 70.0, 60.0, 65.0], [50.0, 70.0, 60.0, 65.0])
    assert main(["bench", "claim", "--quick", "--budgets", "20000", str(params[0] - 1), "--table-best",
                 *map(str, tables), "--output", str(out), "--no-progress"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"at most {params[0] - 1:,} parameters" in err
    assert not (out / "claim.json").exists()


def test_a_claim_on_dask_workers_gives_the_serial_rows(tmp_path):
    pytest.importorskip("distributed")
    from analognas.distributed import DaskExecutor

    settings = dataclasses.replace(
        ClaimSettings.quick(), budgets=(20_000,), n_seeds=2, iterations=2, population_size=10, n_train=150,
        n_test=80, training=TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1),
        evaluation=EvaluationConfig(n_reps=2))
    serial = run_claim(settings, tmp_path / "serial", progress=False).runs
    # a folder made before the third arm existed has no table_best setting: it still resumes
    meta = read_json(tmp_path / "serial" / "claim.json")
    del meta["settings"]["table_best"]
    write_json(tmp_path / "serial" / "claim.json", meta)
    pd.testing.assert_frame_equal(run_claim(settings, tmp_path / "serial", progress=False).runs, serial)
    executor = DaskExecutor(n_workers=2, threads_per_worker=1, processes=True)
    parallel = run_claim(settings, tmp_path / "dask", progress=False, executor=executor).runs
    assert not executor.started  # started and closed by the claim
    key = ["budget", "role", "seed"]
    metrics = ["arch", "params", "acc_1d", "acc_1d_std", "avm", "digital_acc", "status"]
    pd.testing.assert_frame_equal(parallel.sort_values(key).reset_index(drop=True)[key + metrics],
                                  serial.sort_values(key).reset_index(drop=True)[key + metrics])
