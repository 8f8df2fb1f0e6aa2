"""The claim scaffold (issue 16 item 5): reference ResNets, the summary's verdict, a quick run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from analognas import EvaluationConfig, TrainingConfig
from analognas.claim import ClaimSettings, reference_resnet, run_claim, standard_resnets, summarize_claim
from search_spaces import ResNetLikeSpace, resnet20, resnet32


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


def test_a_quick_claim_run_writes_its_outputs_and_resumes(tmp_path):
    settings = dataclasses.replace(
        ClaimSettings.quick(), budgets=(20_000,), iterations=2, population_size=10, n_train=200, n_test=100,
        training=TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1),
        evaluation=EvaluationConfig(n_reps=2))
    result = run_claim(settings, tmp_path, progress=False)
    assert len(result.runs) == 4 and set(result.runs["role"]) == {"found", "reference"}
    assert (result.runs["params"] <= 20_000).all()
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


def test_a_claim_on_dask_workers_gives_the_serial_rows(tmp_path):
    pytest.importorskip("distributed")
    from analognas.distributed import DaskExecutor

    settings = dataclasses.replace(
        ClaimSettings.quick(), budgets=(20_000,), n_seeds=2, iterations=2, population_size=10, n_train=150,
        n_test=80, training=TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1),
        evaluation=EvaluationConfig(n_reps=2))
    serial = run_claim(settings, tmp_path / "serial", progress=False).runs
    executor = DaskExecutor(n_workers=2, threads_per_worker=1, processes=True)
    parallel = run_claim(settings, tmp_path / "dask", progress=False, executor=executor).runs
    assert not executor.started  # started and closed by the claim
    key = ["budget", "role", "seed"]
    metrics = ["arch", "params", "acc_1d", "acc_1d_std", "avm", "digital_acc", "status"]
    pd.testing.assert_frame_equal(parallel.sort_values(key).reset_index(drop=True)[key + metrics],
                                  serial.sort_values(key).reset_index(drop=True)[key + metrics])
