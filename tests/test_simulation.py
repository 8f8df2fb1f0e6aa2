"""Fidelity of the fast analog simulation (analognas.simulation) against aihwkit's own layers.

- Deterministic parts (random sources off): the same values and the same training updates as
  aihwkit's torch tiles, to float32 rounding.
- Random sources on: the same distributions, by two-sample tests on layer outputs and on
  acc_1d / AVM over 20 programmings of one trained network.
- Every check shows its power: it fails on a deliberately broken simulation (a non-ideality
  dropped, or scaled by 1.5).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from analognas.data import load_dataset
from analognas.evaluation import EvaluationConfig, drift_accuracies
from analognas.hardware import AnalogHardware, to_analog
from analognas.simulation import fast_layers, fast_simulation, tile_grid, unsupported_reason
from analognas.training import TrainingConfig, num_threads, train_hwa

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                               reason="needs a CUDA GPU"))]
ALPHA = 0.01  # two-sample tests: reject "same distribution" below this p-value


def _net(seed: int = 0) -> nn.Module:
    """Convs whose rows and columns split over several 16x16 tiles, cutting through kernels."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 20, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(20, 8, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10),
    )


def _pair(hw: AnalogHardware, device: str = "cpu", seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """Two identical analog copies (built alike, so that aihwkit's weight hooks exist on both)."""
    out = []
    for _ in range(2):
        torch.manual_seed(seed + 1)
        out.append(to_analog(_net(seed), hw).to(device))
    return out[0], out[1]


def _images(n: int = 16, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    data = load_dataset("digits", n_train=n, n_test=8)
    x, y = data.train.tensors
    return x.to(device), y.to(device)


QUIET = dict(out_noise=0.0, modifier_std=0.0)  # the random sources of the forward pass off


def _adc_step(model: nn.Module) -> float:
    """The largest output change one ADC step can make (for comparing quantised outputs)."""
    steps = []
    for m in fast_layers(model)[0]:
        for tile, *_ in tile_grid(m.analog_module):
            io = tile.rpu_config.forward
            step = io.out_res * 2 * io.out_bound
            scale = tile.input_range.abs().max() * tile.get_mapping_scales().abs().max()
            steps.append(float(step * scale * tile.out_scaling_alpha.detach().abs().max()))
    return max(steps)


def _same_outputs(a: torch.Tensor, b: torch.Tensor, step: float) -> bool:
    """Equal to float32 rounding: an output within rounding of an ADC step boundary may land
    one step away; anything else must agree to 1e-5 (relative)."""
    diff = (a - b).abs()
    close = diff <= 1e-5 * a.abs().max() + 1e-6
    return bool((diff[~close] <= 1.01 * step).all()) and float((~close).float().mean()) < 0.002


def _forward(model: nn.Module, x: torch.Tensor, fast: bool) -> torch.Tensor:
    with torch.no_grad(), fast_simulation(model, fast):
        return model(x)


# --- deterministic parts ----------------------------------------------------------------------
def test_every_layer_of_the_default_hardware_takes_the_fast_path():
    model = to_analog(_net(), AnalogHardware(tile_size=16))
    fast, slow = fast_layers(model)
    assert len(fast) == 4 and slow == {}
    with fast_simulation(model) as n:
        assert n == 4 and all("forward" in vars(m) for m in fast)
    assert not any("forward" in vars(m) for m in fast)  # restored on exit


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("t", [1.0, 86400.0, 2592000.0])
def test_inference_equals_aihwkit_after_programming_and_drift(device, t):
    """DAC/ADC, input ranges, output bound, weight scaling, drift and drift compensation."""
    x, _ = _images(device=device)
    model = to_analog(_net(), AnalogHardware(tile_size=16, **QUIET)).to(device).eval()
    torch.manual_seed(3)
    model.program_analog_weights()
    model.drift_analog_weights(t)
    assert _same_outputs(_forward(model, x, False), _forward(model, x, True), _adc_step(model))


def _train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, fast: bool, steps: int = 4) -> torch.Tensor:
    from aihwkit.optim import AnalogSGD

    model.train()
    opt = AnalogSGD(model.parameters(), lr=0.2, momentum=0.9)
    opt.regroup_param_groups(model)
    with fast_simulation(model, fast):
        for _ in range(steps):
            opt.zero_grad()
            out = model(x)
            nn.functional.cross_entropy(out, y).backward()
            opt.step()  # aihwkit's update, clipping and channel-wise remapping
    return out.detach()


def _max_param_difference(a: nn.Module, b: nn.Module) -> float:
    worst = 0.0
    for (name, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        if torch.is_tensor(p) and p.is_floating_point():
            worst = max(worst, float((p - q).abs().max() / (p.abs().max() + 1e-12)))
    return worst


@pytest.mark.parametrize("device", DEVICES)
def test_training_steps_equal_aihwkit(device):
    """Input-range initialisation from data, its gradient (per unfolded element), the weight
    gradients with aihwkit's scale hooks, learned out scales, clipping and remapping."""
    x, y = _images(device=device)
    a, b = _pair(AnalogHardware(tile_size=16, **QUIET), device)
    out_a, out_b = _train_steps(a, x, y, False), _train_steps(b, x, y, True)
    assert float((out_a - out_b).abs().max()) < 1e-4 * float(out_a.abs().max())
    assert _max_param_difference(a, b) < 1e-4


def _break(model: nn.Module, what: str) -> nn.Module:
    """A copy whose fast simulation is deliberately wrong in one non-ideality."""
    broken = copy.deepcopy(model)
    for m in fast_layers(broken)[0]:
        for tile, *_ in tile_grid(m.analog_module):
            io = tile.rpu_config.forward
            if what == "adc x1.5":
                io.out_res = io.out_res * 1.5
            elif what == "no dac":
                io.inp_res = -1.0
            elif what == "bound x1.5":
                io.out_bound = io.out_bound / 1.5
            elif what == "no drift compensation":
                tile.alpha = torch.ones_like(torch.as_tensor(tile.alpha))
            elif what == "input range x1.5":
                tile.input_range.data *= 1.5
    return broken


@pytest.mark.parametrize("what", ["adc x1.5", "no dac", "bound x1.5", "no drift compensation",
                                  "input range x1.5"])
def test_equality_check_fails_on_a_broken_simulation(what):
    x, _ = _images()
    hw = AnalogHardware(tile_size=16, out_bound=2.0, **QUIET)  # a low bound, so that it clips
    model = to_analog(_net(), hw).eval()
    torch.manual_seed(3)
    model.program_analog_weights()
    model.drift_analog_weights(2592000.0)
    reference = _forward(model, x, False)
    assert _same_outputs(reference, _forward(model, x, True), _adc_step(model))
    assert not _same_outputs(reference, _forward(_break(model, what), x, True), _adc_step(model))


def test_training_check_fails_without_the_per_element_input_range_gradient(monkeypatch):
    """Summing the gradient over a pixel's copies before clipping it (the shortcut the
    image-level path invites) changes the input ranges: the training check sees it."""
    from analognas import simulation

    x, y = _images()
    hw = AnalogHardware(tile_size=16, out_noise=0.0, modifier_std=0.0)
    a, b = _pair(hw)
    _train_steps(a, x, y, False)
    monkeypatch.setattr(simulation._InputRangeGrad, "backward",
                        staticmethod(lambda ctx, g: (g, torch.zeros_like(ctx.saved_tensors[0]),
                                                     None, None, None, None, None, None)))
    _train_steps(b, x, y, True)
    assert _max_param_difference(a, b) > 1e-3


# --- random sources: same distributions ----------------------------------------------------
def _prepare(model: nn.Module, step: str | None) -> None:
    """Draw a new device state before a pass: program anew, or read the devices anew a day on."""
    if step == "program":
        model.program_analog_weights()
    elif step == "drift":
        model.drift_analog_weights(86400.0)


def _deviations(model: nn.Module, clean: torch.Tensor, x: torch.Tensor, fast: bool, n: int, seed: int,
                train: bool = False, step: str | None = None) -> np.ndarray:
    """Root-mean-square deviation of each of ``n`` noisy forward passes from the noise-free
    output: one number per independent draw of the noise (outputs of one pass share it)."""
    torch.manual_seed(seed)
    model.train(train)
    out = []
    for _ in range(n):
        _prepare(model, step)
        with torch.no_grad(), fast_simulation(model, fast):
            out.append(float((model(x) - clean).pow(2).mean().sqrt()))
    return np.array(out)


def _scaled(model: nn.Module, field: str, factor: float) -> nn.Module:
    """A copy with one noise source scaled (0 drops it)."""
    out = copy.deepcopy(model)
    for m in fast_layers(out)[0]:
        for tile, *_ in tile_grid(m.analog_module):
            cfg = tile.rpu_config
            if field == "out_noise":
                cfg.forward.out_noise *= factor
            elif field == "modifier":
                cfg.modifier.std_dev *= factor
            elif field == "prog_noise":
                cfg.noise_model.prog_noise_scale *= factor
            elif field == "drift":
                cfg.noise_model.drift_scale *= factor
            elif field == "read_noise":
                cfg.noise_model.read_noise_scale *= factor
    return out


def _frozen_input_ranges(model: nn.Module) -> nn.Module:
    """Past the input-range initialisation, so that training-mode passes change no state."""
    for name, p in model.named_parameters():
        if name.endswith("input_range_update_idx"):
            p.data.fill_(1e9)
    return model


QUIET_DEVICES = dict(prog_noise_scale=0.0, drift_scale=0.0, read_noise_scale=0.0)
CASES = {  # noise source -> (hardware fields, train mode, what each pass draws anew)
    "out_noise": (dict(modifier_std=0.0, **QUIET_DEVICES), False, None),
    "modifier": (dict(out_noise=0.0, modifier_std=0.08, **QUIET_DEVICES), True, None),
    "prog_noise": (dict(out_noise=0.0, modifier_std=0.0), False, "program"),
    "read_noise": (dict(out_noise=0.0, modifier_std=0.0, **{**QUIET_DEVICES, "read_noise_scale": 1.0}),
                   False, "drift"),
}


@pytest.mark.parametrize("source", sorted(CASES))
def test_random_sources_have_aihwkit_distribution_and_the_test_has_power(source):
    fields, train, step = CASES[source]
    x, _ = _images(n=8)
    model = _frozen_input_ranges(to_analog(_net(), AnalogHardware(tile_size=16, **fields)))
    quiet = _scaled(model, source, 0.0)
    torch.manual_seed(0)
    quiet.train(train)
    _prepare(quiet, step)
    with torch.no_grad():
        clean = quiet(x)  # aihwkit's own forward with this noise source off

    def sample(m: nn.Module, fast: bool, seed: int) -> np.ndarray:
        return _deviations(m, clean, x, fast, 40, seed, train=train, step=step)

    ref = sample(model, False, 1)
    assert ref.min() > 0
    assert stats.ks_2samp(ref, sample(model, True, 2)).pvalue > ALPHA
    for factor in (0.0, 1.5):  # dropped, or scaled by 1.5: the test must see it
        assert stats.ks_2samp(ref, sample(_scaled(model, source, factor), True, 2)).pvalue < ALPHA, factor


#: a noisy chip, so that a one-day accuracy and a month's drift differ visibly between
#: programmings of a small digits network: programming noise x8, drift x3, no compensation
NOISY = dict(prog_noise_scale=8.0, drift_scale=3.0, drift_compensation=False)


@pytest.fixture(scope="module")
def trained():
    """One small network HWA-trained on digits (fast path) for the noisy chip, and its data."""
    data = load_dataset("digits", n_train=400, n_test=300)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(16 * 16, 10))
    config = TrainingConfig(pretrain_epochs=4, epochs=1, batch_size=32, num_threads=1)
    out = train_hwa(net, data, AnalogHardware(**NOISY), config)
    assert out.status == "ok"
    return out.model_analog, data


def _metrics(acc: np.ndarray) -> dict[str, np.ndarray]:
    return {"acc_1d": acc[:, 2], "avm": acc[:, 0] - acc[:, -1]}


def test_acc_1d_and_avm_over_20_programmings_match_aihwkit(trained):
    model, data = trained
    cfg = EvaluationConfig(n_reps=20)
    with num_threads(1):
        ref = _metrics(drift_accuracies(model, data, cfg, seed=1, fast=False))
        same = _metrics(drift_accuracies(model, data, cfg, seed=2, fast=True))
        for key in ref:
            assert stats.mannwhitneyu(ref[key], same[key]).pvalue > ALPHA, key
            assert stats.ks_2samp(ref[key], same[key]).pvalue > ALPHA, key
        # power: the devices' drift dropped, or scaled by 1.5, must be seen in both metrics
        for factor in (0.0, 1.5):
            broken = _metrics(drift_accuracies(_scaled(model, "drift", factor), data, cfg, seed=2))
            for key in ref:
                assert stats.ks_2samp(ref[key], broken[key]).pvalue < ALPHA, (key, factor)


def test_unsupported_settings_keep_aihwkit_forward():
    from aihwkit.simulator.parameters.enums import NoiseManagementType

    model = to_analog(_net(), AnalogHardware(tile_size=16))
    layer = model[0]
    for tile in layer.analog_module.modules():
        if hasattr(tile, "rpu_config"):
            tile.rpu_config.forward.noise_management = NoiseManagementType.ABS_MAX
    assert "noise_management" in unsupported_reason(layer)
    fast, slow = fast_layers(model)
    assert len(fast) == 3 and list(slow) == ["0"]


def test_training_config_names_the_simulation():
    assert TrainingConfig().simulation == "fast"
    with pytest.raises(ValueError, match="simulation='exact'.*allowed"):
        TrainingConfig(simulation="exact")


def test_cli_takes_the_simulation(capsys):
    from analognas.cli import _configs_from_args, build_parser

    args = build_parser().parse_args(["evaluate", "arch.json", "--simulation", "aihwkit"])
    assert _configs_from_args(args)[1].simulation == "aihwkit"
    args = build_parser().parse_args(["evaluate", "arch.json"])
    assert _configs_from_args(args)[1].simulation == "fast" and not args.no_progress
    assert build_parser().parse_args(["evaluate", "arch.json", "--no-progress"]).no_progress
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["evaluate", "arch.json", "--simulation", "exact"])
    assert e.value.code == 2 and "--simulation" in capsys.readouterr().err
