"""Hardware-aware training on real aihwkit layers, tiny networks and the digits data."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from analognas import AnalogHardware, TrainingConfig, load_dataset, train_hwa
from analognas.hardware import analog_layer_names
from analognas.training import accuracy


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", n_train=512, n_test=200, seed=0)


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 10)
    )


FAST = dict(batch_size=64, num_threads=1)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"epochs": -1}, "epochs"), ({"pretrain_epochs": -2}, "pretrain_epochs"), ({"epochs": 1.5}, "epochs"),
        ({"lr": 0.0}, "lr"), ({"pretrain_lr": -1.0}, "pretrain_lr"), ({"batch_size": 0}, "batch_size"),
        ({"momentum": 1.0}, "momentum"), ({"weight_decay": -1e-4}, "weight_decay"),
        ({"schedule": "step"}, "schedule"), ({"device": "gpu"}, "device"), ({"device": "cuda:x"}, "device"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError) as e:
        TrainingConfig(**kwargs)
    assert f"TrainingConfig.{field}=" in str(e.value) and "allowed" in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_fails_before_training(digits):
    cfg = TrainingConfig(device="cuda", epochs=1)  # constructible: configs travel between machines
    with pytest.raises(RuntimeError, match="device='cuda' but CUDA is not available"):
        train_hwa(tiny_net(), digits, config=cfg)


def test_config_dict_round_trip():
    cfg = TrainingConfig(epochs=2, schedule="constant", num_threads=1)
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown field"):
        TrainingConfig.from_dict({"epoch": 2})


def test_hwa_training_changes_weights_and_lowers_loss(digits):
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = train_hwa(net, digits, AnalogHardware(), TrainingConfig(pretrain_epochs=0, epochs=3, lr=0.05, **FAST))
    assert out.status == "ok" and out.reason == ""
    assert analog_layer_names(out.model_analog) == ["0", "4"]
    assert len(out.losses) == 3 and out.losses[-1] < out.losses[0]
    assert out.digital_acc is None and out.pretrain_losses == []
    # the caller's network is untouched; the analog copy's weights moved away from it
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    w_after, _ = out.model_analog[4].get_weights()
    assert not torch.allclose(w_after, before["4.weight"], atol=1e-3)
    assert not out.model_analog.training
    assert accuracy(out.model_analog, *digits.test.tensors) > 30.0  # well above chance (10 %)


def test_pretraining_then_finetuning_is_seeded(digits):
    cfg = TrainingConfig(pretrain_epochs=1, epochs=1, **FAST)
    a = train_hwa(tiny_net(), digits, config=cfg, seed=5)
    b = train_hwa(tiny_net(), digits, config=cfg, seed=5)
    c = train_hwa(tiny_net(), digits, config=cfg, seed=6)
    assert a.status == "ok" and len(a.pretrain_losses) == 1 and len(a.losses) == 1
    assert 0.0 <= a.digital_acc <= 100.0
    assert (a.pretrain_losses, a.losses, a.digital_acc) == (b.pretrain_losses, b.losses, b.digital_acc)
    assert a.losses != c.losses


@pytest.mark.parametrize(
    "cfg, phase",
    [
        (TrainingConfig(pretrain_epochs=1, epochs=1, pretrain_lr=1e8, **FAST), "digital pre-training"),
        (TrainingConfig(pretrain_epochs=0, epochs=2, lr=1e8, **FAST), "analog fine-tuning"),
    ],
)
def test_nan_learning_rate_gives_failed_status(digits, cfg, phase):
    out = train_hwa(tiny_net(), digits, config=cfg)
    assert out.status == "failed"
    assert out.reason.startswith(f"{phase} diverged") and "smaller learning rate" in out.reason


def test_zero_epochs_just_converts(digits):
    out = train_hwa(tiny_net(), digits, config=TrainingConfig(pretrain_epochs=0, epochs=0, **FAST))
    assert out.status == "ok" and out.losses == [] and analog_layer_names(out.model_analog)


def test_num_threads_is_restored(digits):
    previous = torch.get_num_threads()
    train_hwa(tiny_net(), digits, config=TrainingConfig(pretrain_epochs=0, epochs=0, num_threads=1))
    assert torch.get_num_threads() == previous


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_keep_freed_memory_reuses_large_blocks_instead_of_new_pages():
    import resource

    from analognas.training import keep_freed_memory

    assert keep_freed_memory() and keep_freed_memory()  # in effect, and idempotent
    for _ in range(5):  # 16 MB: above glibc's default threshold for mapping from the kernel
        torch.ones(4_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.ones(4_000_000)  # written, so fresh pages would each fault once
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 3_000  # one fresh 16 MB block is about 4,000 page faults, 20 are 80,000


def test_keep_freed_memory_can_be_switched_off():
    import subprocess
    import sys

    code = "from analognas.training import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "ANALOGNAS_KEEP_FREED_MEMORY": "0"})
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
