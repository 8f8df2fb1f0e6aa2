"""Drift evaluation and evaluate_architecture end to end, on real aihwkit layers and digits."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from analognas import (
    AnalogHardware,
    EvaluationConfig,
    EvaluationResult,
    TrainingConfig,
    evaluate_architecture,
    load_dataset,
    to_analog,
)
from analognas.evaluation import DEFAULT_TIMES
from search_spaces import InvalidArchitectureError, NB201Space, ResNetLikeSpace

SPACE = NB201Space(channels=4, cells_per_stage=1)
ARCH = {"ops": [2, 0, 3, 0, 4, 2]}
TRAIN = TrainingConfig(pretrain_epochs=2, epochs=1, batch_size=64, lr=0.05, pretrain_lr=0.1, num_threads=1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=600, n_test=300)


@pytest.fixture(scope="module")
def result(digits):
    return evaluate_architecture(SPACE, ARCH, digits, training=TRAIN, evaluation=EvaluationConfig(n_reps=3), seed=0)


def test_metrics_in_range_and_consistent(result, digits):
    r = result
    assert r.status == "ok" and r.reason == ""
    assert sorted(r.acc_by_time) == list(DEFAULT_TIMES)
    for mean, std in r.acc_by_time.values():
        assert 0.0 <= mean <= 100.0 and 0.0 <= std <= 100.0
    assert r.acc_1d == r.acc_by_time[86400.0][0] and r.acc_1d_std == r.acc_by_time[86400.0][1]
    assert r.avm == pytest.approx(r.acc_by_time[1.0][0] - r.acc_by_time[2592000.0][0])
    assert r.acc_1d > 20.0  # learned something (chance is 10 %)
    assert 0.0 <= r.digital_acc <= 100.0
    assert r.params == SPACE.num_params(SPACE.validate(ARCH), (1, 8, 8), 10)
    assert r.tiles == SPACE.num_tiles(SPACE.validate(ARCH), 512, (1, 8, 8), 10)
    assert r.wall_time_s > 0


def test_std_over_reprogrammings_is_real(digits):
    # Output noise and read noise off: only the programming (its noise and the drift coefficients
    # drawn with it) can make repetitions differ. An evaluation that programmed the weights once
    # and reused them for every repetition would give std 0 here (checked by breaking
    # drift_accuracies that way), where output noise alone used to give std > 0.
    quiet = AnalogHardware(out_noise=0.0, read_noise_scale=0.0)
    torch.manual_seed(0)
    analog = to_analog(torch.nn.Sequential(torch.nn.Linear(64, 10)), quiet)
    analog.eval()
    x = digits.test.tensors[0][:50].flatten(1)

    def after_drift(program: bool) -> torch.Tensor:
        if program:
            analog.program_analog_weights()
        analog.drift_analog_weights(86400.0)
        with torch.no_grad():
            return analog(x)

    first = after_drift(program=True)
    assert torch.equal(after_drift(program=False), first)  # nothing random left but programming
    assert not torch.allclose(after_drift(program=True), first)  # a new programming differs
    r = evaluate_architecture(SPACE, ARCH, digits, hardware=quiet, training=TRAIN,
                              evaluation=EvaluationConfig(n_reps=4), seed=0)
    assert r.status == "ok"
    assert r.acc_1d_std > 0 and all(std > 0 for _, std in r.acc_by_time.values())


def test_all_metrics_reproducible_with_a_seed(result, digits):
    again = evaluate_architecture(SPACE, ARCH, digits, training=TRAIN, evaluation=EvaluationConfig(n_reps=3), seed=0)
    assert again.to_row() | {"wall_time_s": 0} == result.to_row() | {"wall_time_s": 0}


def test_one_rep_has_zero_std_and_other_seed_differs(result, digits):
    r = evaluate_architecture(SPACE, ARCH, digits, training=TRAIN, evaluation=EvaluationConfig(n_reps=1), seed=1)
    assert r.acc_1d_std == 0.0 and all(std == 0.0 for _, std in r.acc_by_time.values())
    assert r.acc_by_time != result.acc_by_time


def test_diverged_training_is_a_failed_row(digits):
    bad = TrainingConfig(pretrain_epochs=1, epochs=1, pretrain_lr=1e8, batch_size=64, num_threads=1)
    r = evaluate_architecture(SPACE, ARCH, digits, training=bad, evaluation=EvaluationConfig(n_reps=2))
    assert r.status == "failed" and "diverged" in r.reason
    assert math.isnan(r.acc_1d) and math.isnan(r.acc_1d_std) and math.isnan(r.avm)
    assert r.params > 0 and r.tiles > 0


def test_rows_round_trip_through_pandas(result, tmp_path):
    failed = EvaluationResult(float("nan"), float("nan"), float("nan"), {1.0: (float("nan"),) * 2,
                              86400.0: (float("nan"),) * 2}, 10, 1, "failed", "diverged", 0.5, None)
    rows = [result.to_row(), failed.to_row()]
    assert {"acc_1d", "acc_1d_std", "avm", "acc_1", "acc_1_std", "acc_86400", "acc_2592000_std", "params",
            "tiles", "status", "reason", "wall_time_s", "digital_acc"} <= set(rows[0])
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    back = [EvaluationResult.from_row(r) for r in pd.read_csv(tmp_path / "t.csv").to_dict("records")]
    assert sorted(back[0].acc_by_time) == sorted(result.acc_by_time)
    for t, pair in result.acc_by_time.items():
        assert back[0].acc_by_time[t] == pytest.approx(pair)
    assert back[0].acc_1d == pytest.approx(result.acc_1d) and back[0].status == "ok" and back[0].reason == ""
    assert back[1].status == "failed" and back[1].reason == "diverged" and back[1].digital_acc is None
    assert math.isnan(back[1].acc_1d)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_reps": 0}, r"EvaluationConfig.n_reps=0 is not allowed"),
        ({"times": (1.0, 3600.0)}, r"must contain 86400"),
        ({"times": (3600.0, 1.0, 86400.0)}, r"EvaluationConfig.times=.*strictly increasing"),
        ({"times": (-1.0, 86400.0)}, r"EvaluationConfig.times=.*positive"),
        ({"batch_size": 0}, r"EvaluationConfig.batch_size=0"),
    ],
)
def test_bad_evaluation_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EvaluationConfig(**kwargs)


def test_bad_input_fails_before_training(tmp_path, digits):
    with pytest.raises(InvalidArchitectureError, match=r"ops\[edge \(1,2\)\]=7"):
        evaluate_architecture(SPACE, {"ops": [7, 0, 0, 0, 0, 0]}, digits, training=TRAIN)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "missing")):
        evaluate_architecture(SPACE, ARCH, "fashion-mnist", data_root=tmp_path / "missing", training=TRAIN)
    with pytest.raises(ValueError, match="TrainingConfig.device='tpu'"):
        evaluate_architecture(SPACE, ARCH, digits, training=TrainingConfig(device="tpu"))
    with pytest.raises(ValueError, match="TrainingConfig.epochs=-1"):
        evaluate_architecture(SPACE, ARCH, digits, training=TrainingConfig(epochs=-1))
    with pytest.raises(ValueError, match="AnalogHardware.g_max=0"):
        evaluate_architecture(SPACE, ARCH, digits, hardware=AnalogHardware(g_max=0))
    with pytest.raises(TypeError, match="training must be a TrainingConfig"):
        evaluate_architecture(SPACE, ARCH, digits, training={"epochs": 1})
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            evaluate_architecture(SPACE, ARCH, digits, training=TrainingConfig(device="cuda"))


def test_resnet_like_space_and_dataset_name():
    space = ResNetLikeSpace()
    arch = space.smallest()
    r = evaluate_architecture(space, arch, "digits", n_train=128, n_test=64,
                              training=TrainingConfig(pretrain_epochs=1, epochs=1, num_threads=1),
                              evaluation=EvaluationConfig(n_reps=2, times=(60.0, 86400.0)))
    assert r.status == "ok" and sorted(r.acc_by_time) == [60.0, 86400.0]
    assert r.params == space.num_params(arch, (1, 8, 8), 10)
    assert r.avm == pytest.approx(r.acc_by_time[60.0][0] - r.acc_by_time[86400.0][0])


def test_evaluation_config_dict_round_trip():
    for cfg in (EvaluationConfig(), EvaluationConfig(n_reps=2, times=[60, 86400], batch_size=32)):
        assert EvaluationConfig.from_dict(cfg.to_dict()) == cfg
    assert EvaluationConfig(times=[60, 86400]).times == (60.0, 86400.0)
    with pytest.raises(ValueError, match="unknown field"):
        EvaluationConfig.from_dict({"reps": 2})


def test_progress_bars_show_training_and_evaluation_only_when_asked(capsys, digits):
    small = load_dataset("digits", n_train=64, n_test=32)
    config = TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=32, num_threads=1)
    evaluate_architecture(SPACE, ARCH, small, training=config, evaluation=EvaluationConfig(n_reps=1), progress=True)
    err = capsys.readouterr().err
    assert "digital pre-training" in err and "analog fine-tuning" in err and "drift evaluation" in err
    evaluate_architecture(SPACE, ARCH, small, training=config, evaluation=EvaluationConfig(n_reps=1))
    assert "drift evaluation" not in capsys.readouterr().err
