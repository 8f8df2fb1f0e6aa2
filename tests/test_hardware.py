"""The analog hardware model and the conversion to real aihwkit analog layers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from analognas import AnalogHardware, to_analog
from analognas.hardware import _compiled_tiles_error, analog_layer_names, strided_unfold, strided_unfold_default
from search_spaces import REFERENCE_NETWORKS, NB201Space, ResNetLikeSpace


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 10))


def test_defaults_keep_the_settings_the_shipped_tables_were_measured_with():
    # the differences from the standard preset are checked in tests/test_presets.py
    from aihwkit.inference.compensation.drift import GlobalDriftCompensation
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    from aihwkit.simulator.parameters.enums import WeightClipType, WeightModifierType
    from aihwkit.simulator.presets import StandardHWATrainingPreset

    cfg = AnalogHardware().rpu_config()
    preset = StandardHWATrainingPreset()
    assert isinstance(cfg, TorchInferenceRPUConfig)
    # 8 bits -> 254 steps: the preset writes the step count, we write its inverse.
    assert cfg.forward.inp_res == pytest.approx(1 / preset.forward.inp_res)
    assert cfg.forward.out_res == pytest.approx(1 / preset.forward.out_res)
    for field in ("out_noise", "out_bound", "bound_management", "noise_management", "nm_thres"):
        assert getattr(cfg.forward, field) == getattr(preset.forward, field), field
    assert isinstance(cfg.noise_model, PCMLikeNoiseModel) and cfg.noise_model.g_max == 25.0
    assert isinstance(cfg.drift_compensation, GlobalDriftCompensation)
    assert cfg.mapping.max_input_size == cfg.mapping.max_output_size == 512
    assert cfg.mapping.digital_bias
    assert cfg.clip.type == WeightClipType.FIXED_VALUE and cfg.clip.fixed_value == 1.0
    assert cfg.modifier.type == WeightModifierType.ADD_NORMAL and cfg.modifier.std_dev == 0.08
    assert cfg.remap.type == preset.remap.type
    assert cfg.pre_post.input_range.enable


def test_fields_reach_the_rpu_config():
    from aihwkit.simulator.parameters.enums import WeightClipType, WeightModifierType

    hw = AnalogHardware(g_max=10.0, dac_bits=6, adc_bits=None, out_noise=0.0, modifier_std=0.0,
                        drift_compensation=False, clip="sigma", clip_sigma=2.0, tile_size=64,
                        drift_scale=0.0)
    cfg = hw.rpu_config()
    assert cfg.noise_model.g_max == 10.0 and cfg.noise_model.drift_scale == 0.0
    assert cfg.forward.inp_res == pytest.approx(1 / 62)
    assert cfg.forward.out_res <= 0  # aihwkit: no quantisation
    assert cfg.forward.out_noise == 0.0
    assert cfg.modifier.type == WeightModifierType.NONE
    assert cfg.drift_compensation is None
    assert cfg.clip.type == WeightClipType.LAYER_GAUSSIAN and cfg.clip.sigma == 2.0
    assert cfg.mapping.max_input_size == cfg.mapping.max_output_size == 64
    assert AnalogHardware(clip="none").rpu_config().clip.type == WeightClipType.NONE


@pytest.mark.parametrize(
    "field, value",
    [
        ("g_max", -1.0), ("g_max", float("nan")), ("g_max", "25"), ("dac_bits", 1), ("adc_bits", 8.0),
        ("adc_bits", True), ("out_noise", -0.1), ("modifier_std", -1), ("clip", "gauss"),
        ("tile_size", 0), ("tile_size", 12.5), ("tile_backend", "cuda"), ("noise_model", "reram"),
        ("drift_compensation", "yes"), ("drift_scale", -1.0), ("clip_value", 0.0),
        ("remap", "columnwise"), ("modifier_type", "pcm"), ("tile_outputs", -1), ("noise_params", [1]),
        ("w_noise_type", "pcm"), ("dac_steps", 1), ("input_range_decay", 2.0), ("nm_thres", -1.0),
        ("noise_management", "abs_max"), ("learn_out_scaling", 1), ("noise_model", 3),
    ],
)
def test_bad_field_names_field_value_and_allowed(field, value):
    with pytest.raises(ValueError) as e:
        AnalogHardware(**{field: value})
    msg = str(e.value)
    assert f"AnalogHardware.{field}=" in msg and repr(value) in msg and "allowed" in msg


def test_analog_bias_needs_compiled_tiles():
    with pytest.raises(ValueError, match="digital_bias=False.*tile_backend"):
        AnalogHardware(digital_bias=False)


def test_dict_round_trip_and_unknown_keys():
    hw = AnalogHardware(g_max=20.0, dac_bits=None, clip="none")
    assert AnalogHardware.from_dict(hw.to_dict()) == hw
    assert AnalogHardware.from_dict({"g_max": 20.0}) == AnalogHardware(g_max=20.0)
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['gmax'\]"):
        AnalogHardware.from_dict({"gmax": 20.0})


def test_to_analog_makes_analog_layers_and_leaves_input_alone():
    from aihwkit.nn import AnalogConv2d, AnalogLinear

    torch.manual_seed(0)
    net = tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    analog = to_analog(net)
    kinds = {type(m) for m in analog.modules()}
    assert AnalogConv2d in kinds and AnalogLinear in kinds
    assert analog_layer_names(analog) == ["0", "3"]
    assert analog_layer_names(net) == []
    # the digital input is neither replaced nor changed
    assert isinstance(net[0], nn.Conv2d) and isinstance(net[3], nn.Linear)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    out = analog(torch.randn(5, 1, 8, 8))
    assert out.shape == (5, 10) and torch.isfinite(out).all()
    analog.eval()
    analog.program_analog_weights()
    analog.drift_analog_weights(3600.0)
    assert torch.isfinite(analog(torch.randn(5, 1, 8, 8))).all()


@pytest.mark.parametrize("tile_size", [16, 512])
def test_tiles_match_the_search_space_count(tile_size):
    space = NB201Space(channels=4, cells_per_stage=1)
    arch = space.validate({"ops": [2, 0, 3, 0, 4, 2]})
    analog = to_analog(space.build(arch, (1, 8, 8), 10), AnalogHardware(tile_size=tile_size))
    assert len(list(analog.analog_tiles())) == space.num_tiles(arch, tile_size, (1, 8, 8), 10)


def test_to_analog_rejects_non_modules():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        to_analog("net")
    with pytest.raises(TypeError, match="AnalogHardware"):
        to_analog(tiny_net(), {"g_max": 25.0})


def test_compiled_backend_works_or_fails_clearly():
    hw = AnalogHardware(tile_backend="compiled")
    from aihwkit.simulator.configs import InferenceRPUConfig

    assert type(hw.rpu_config()) is InferenceRPUConfig
    error = _compiled_tiles_error()
    if error:
        with pytest.raises(RuntimeError, match="tile_backend='compiled' cannot be used here.*tile_backend='torch'"):
            to_analog(tiny_net(), hw)
    else:  # aihwkit's compiled tiles match this torch: they must simply work
        out = to_analog(tiny_net(), hw)(torch.randn(2, 1, 8, 8))
        assert out.shape == (2, 10) and math.isfinite(float(out.sum()))


def test_strided_unfold_gives_identical_outputs_and_gradients():
    model = ResNetLikeSpace().build(REFERENCE_NETWORKS["resnet20"], (3, 8, 8), 10)
    a, b = to_analog(model, AnalogHardware()), to_analog(model, AnalogHardware())
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 8, 8)
    with strided_unfold(b) as n:
        assert n == 21  # every conv of ResNet-20 (19 + 2 projection shortcuts)
        a.train(), b.train()
        torch.manual_seed(0)
        ya = a(x)
        torch.manual_seed(0)
        assert torch.equal(ya, b(x))  # same noise draws, same values: nothing simulated changes
        a.eval(), b.eval()
        for m in (a, b):
            torch.manual_seed(1)
            m.program_analog_weights()
            m.drift_analog_weights(86400.0)
        torch.manual_seed(2)
        ea = a(x)
        torch.manual_seed(2)
        assert torch.equal(ea, b(x))


def test_strided_unfold_gradients_equal_up_to_float_rounding():
    conv = torch.nn.Sequential(torch.nn.Conv2d(16, 8, 3, padding=1, bias=False))
    a, b = to_analog(conv, AnalogHardware()), to_analog(conv, AnalogHardware())
    b.load_state_dict(a.state_dict())
    x, g = torch.randn(4, 16, 8, 8), torch.randn(4, 8, 8, 8)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(0)
    (a(xa) * g).sum().backward()
    torch.manual_seed(0)
    with strided_unfold(b):
        (b(xb) * g).sum().backward()
    # the im2col backward sums the same terms in another order
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-6 * float(xa.grad.abs().max()))
    for pa, pb in zip(a.parameters(), b.parameters()):
        if pa.grad is not None:
            torch.testing.assert_close(pa.grad, pb.grad, rtol=0, atol=1e-5 * float(pa.grad.abs().max()) + 1e-12)


def test_strided_unfold_leaves_the_model_as_it_was_even_after_an_error():
    model = to_analog(torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Conv2d(3, 3, 1)))
    with pytest.raises(RuntimeError, match="boom"):
        with strided_unfold(model) as n:
            assert n == 2 and all("forward" in vars(m) for m in model)
            raise RuntimeError("boom")
    assert not any("forward" in vars(m) for m in model)
    with strided_unfold(model, enabled=False) as n:
        assert n == 0


def test_drift_evaluation_is_identical_with_and_without_strided_unfold():
    from analognas.data import load_dataset
    from analognas.evaluation import EvaluationConfig, drift_accuracies

    data = load_dataset("digits", n_train=8, n_test=64)
    torch.manual_seed(0)
    model = to_analog(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                                          torch.nn.Flatten(), torch.nn.Linear(256, 10)))
    cfg = EvaluationConfig(n_reps=2)
    a = drift_accuracies(model, data, cfg, seed=3, strided=False)
    b = drift_accuracies(model, data, cfg, seed=3, strided=True)
    assert (a == b).all() and not strided_unfold_default("cpu") and strided_unfold_default("cuda:0")


def test_the_shipped_tables_provenance_still_matches_the_default():
    # written before the preset fields existed: with them at their defaults it is AnalogHardware()
    import json
    from pathlib import Path

    from analognas.hardware import hardware_dict_with_defaults

    prov = Path(__file__).resolve().parents[1] / "analognas/data/resnet_like/results.provenance.json"
    old = json.loads(prov.read_text())["settings"]["hardware"]
    assert "w_noise" not in old  # the older format
    assert hardware_dict_with_defaults(old) == AnalogHardware().to_dict()
    assert hardware_dict_with_defaults({"gmax": 1}) == {"gmax": 1}  # not a hardware: left as it is
