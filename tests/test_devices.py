"""Device models: aihwkit's noise models by name, with parameters, or a user's own object."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

from analognas import AnalogHardware, to_analog
from analognas.cli import main
from analognas.hardware import NOISE_MODELS, describe_noise_model, noise_model_class

# a drift table covering the PCM model's conductance range (0 to g_max = 25 µS), with a drift
# clearly unlike PCMLikeNoiseModel's
CUSTOM_DRIFT = {"g_lst": [0.0, 10.0, 25.0], "nu_mean_lst": [0.3, 0.2, 0.1], "nu_std_lst": [0.05, 0.05, 0.05]}
PARAMS = {"custom-drift-pcm": {"custom_drift_model": CUSTOM_DRIFT}}
X = torch.linspace(-1, 1, 4 * 16).reshape(4, 16)


def outputs_after_drift(hw: AnalogHardware, t: float = 86400.0) -> torch.Tensor:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 4))
    analog = to_analog(net, hw)
    analog.eval()
    torch.manual_seed(1)
    analog.program_analog_weights()
    analog.drift_analog_weights(t)
    with torch.no_grad():
        return analog(X)


@pytest.fixture(scope="module")
def pcm_outputs():
    return outputs_after_drift(AnalogHardware(out_noise=0.0))


@pytest.mark.parametrize("name", [n for n in NOISE_MODELS if n != "pcm"])
def test_each_device_model_programs_and_drifts_a_real_network_unlike_pcm(name, pcm_outputs):
    hw = AnalogHardware(noise_model=name, noise_params=PARAMS.get(name, {}), out_noise=0.0)
    cfg_model = hw.rpu_config().noise_model
    assert type(cfg_model) is noise_model_class(name)
    out = outputs_after_drift(hw)
    assert torch.isfinite(out).all()
    assert not torch.allclose(out, pcm_outputs, atol=1e-4), f"{name} gives PCM's outputs"
    # the model is the one the tiles use
    torch.manual_seed(0)
    analog = to_analog(nn.Sequential(nn.Linear(4, 2)), hw)
    assert all(type(t.rpu_config.noise_model) is noise_model_class(name) for t in analog.analog_tiles())


def test_device_model_parameters_reach_the_model_and_change_the_outputs():
    hermes = AnalogHardware(noise_model="hermes", noise_params={"num_devices": 1}, g_max=10.0, out_noise=0.0)
    model = hermes.noise_model_object()
    assert model.num_devices == 1 and model.g_max == 10.0
    assert not torch.allclose(outputs_after_drift(hermes),
                              outputs_after_drift(AnalogHardware(noise_model="hermes", out_noise=0.0)))
    wan = AnalogHardware(noise_model="reram-wan2022", noise_params={"noise_scale": 0.0}, out_noise=0.0)
    assert wan.noise_model_object().noise_scale == 0.0
    assert wan.prog_noise_scale is None  # the model has no such parameter, and to_dict says so
    # the model's own default g_max is recorded
    assert AnalogHardware(noise_model="hermes").g_max == 20.7 and AnalogHardware().g_max == 25.0


def test_a_users_own_noise_model_object_is_used_and_described():
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel

    mine = PCMLikeNoiseModel(g_max=15.0, prog_noise_scale=0.5, drift_scale=2.0)
    hw = AnalogHardware(noise_model=mine, out_noise=0.0)
    used = hw.rpu_config().noise_model
    assert used is not mine and describe_noise_model(used) == describe_noise_model(mine)
    assert (hw.g_max, hw.prog_noise_scale, hw.drift_scale) == (15.0, 0.5, 2.0)
    d = json.loads(json.dumps(hw.to_dict()))
    assert d["noise_model"]["class"] == "aihwkit.inference.noise.pcm.PCMLikeNoiseModel"
    assert d["noise_model"]["params"]["drift_scale"] == 2.0
    assert not torch.allclose(outputs_after_drift(hw), outputs_after_drift(AnalogHardware(out_noise=0.0)))
    with pytest.raises(ValueError, match=r"^AnalogHardware.noise_model: .*PCMLikeNoiseModel was a noise model object"):
        AnalogHardware.from_dict(d)
    assert dataclasses.replace(hw, out_noise=0.04).rpu_config().forward.out_noise == 0.04
    with pytest.raises(ValueError, match=r"\['g_max'\] are not allowed with a noise model object"):
        AnalogHardware(noise_model=mine, g_max=20.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"noise_model": "reram"}, r"AnalogHardware.noise_model='reram' is not allowed; allowed: \['pcm', 'hermes'"),
    ({"noise_model": "hermes", "noise_params": {"num_device": 1}},
     r"noise_params has unknown key\(s\) \['num_device'\] for noise_model='hermes' \(HermesNoiseModel\); allowed: \["),
    ({"noise_model": "hermes", "noise_params": {"g_max": 10.0}}, r"noise_params has \['g_max'\]: set AnalogHardware.g_max"),
    ({"noise_model": "hermes", "g_max": 25.0}, r"HermesNoiseModel refuses these parameters \(AssertionError: .*10.35"),
    ({"noise_model": "custom-drift-pcm"}, r"needs noise_params key\(s\) \['custom_drift_model'\]"),
    ({"noise_model": "reram-wan2022", "drift_scale": 2.0},
     r"AnalogHardware.drift_scale=2.0 is not allowed with noise_model='reram-wan2022'.*noise_scale"),
    ({"noise_model": "pcm", "noise_params": {"t_0": object()}}, r"noise_params=.* is not allowed; allowed: JSON"),
])
def test_bad_device_models_and_parameters_give_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        AnalogHardware(**kwargs)
    assert len(str(e.value).splitlines()) == 1


def test_a_model_fitted_at_few_times_is_refused_before_training():
    from analognas import EvaluationConfig, evaluate_architecture
    from search_spaces import NB201Space

    hw = AnalogHardware(noise_model="reram-wan2022")
    space = NB201Space(channels=4, cells_per_stage=1)
    with pytest.raises(ValueError, match=r"cannot drift to \[3600.0, 2592000.0\] s: ReRamWan2022NoiseModel is fitted"):
        evaluate_architecture(space, space.sample(0), "digits", hardware=hw, n_train=8, n_test=8)
    hw.check_times(EvaluationConfig(times=(1.0, 86400.0, 172800.0)).times)
    AnalogHardware(noise_model="reram-cmo").check_times((1.0, 2592000.0))


def test_cli_hardware_file_takes_device_models_and_presets(tmp_path, capsys):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"ops": [3, 1, 0, 1, 0, 3]}))
    hw = tmp_path / "hw.json"
    hw.write_text(json.dumps({"preset": "analognas-bench", "noise_model": "hermes",
                              "noise_params": {"num_devices": 1}, "g_max": 10.0}))
    out = tmp_path / "out"
    assert main(["evaluate", str(arch), "--space", "nb201", "--hardware", str(hw), "--pretrain-epochs", "1",
                 "--epochs", "1", "--n-reps", "1", "--n-train", "64", "--n-test", "32", "--output", str(out)]) == 0
    capsys.readouterr()  # that run's progress bars and warnings
    recorded = json.loads((out / "evaluation.json").read_text())["hardware"]
    assert recorded["noise_model"] == "hermes" and recorded["noise_params"] == {"num_devices": 1}
    assert recorded["g_max"] == 10.0 and recorded["modifier_std"] == 0.06  # the bench preset's
    for content, message in [
        ({"noise_model": "hermes", "noise_params": {"num_device": 1}}, "unknown key(s) ['num_device']"),
        ({"preset": "standard"}, "name='standard' is not allowed"),
        ([1, 2], "expected a JSON object"),
        ({"noise_model": {"class": "x.Y", "params": {}}}, "x.Y was a noise model object"),
    ]:
        hw.write_text(json.dumps(content))
        assert main(["evaluate", str(arch), "--space", "nb201", "--hardware", str(hw)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err and str(hw) in err, err


def test_a_users_own_rpu_config_becomes_a_hardware_or_says_what_it_cannot_express():
    from aihwkit.inference.noise.pcm import CustomDriftPCMLikeNoiseModel
    from aihwkit.inference.noise.reram import ReRamCMONoiseModel
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

    cfg = TorchInferenceRPUConfig()  # aihwkit's own defaults: iterative bound management, ...
    cfg.noise_model = ReRamCMONoiseModel(drift_scale=0.5)
    hw = AnalogHardware.from_rpu_config(cfg)
    assert hw.noise_model == "reram-cmo" and hw.drift_scale == 0.5 and hw.bound_management == "iterative"
    assert hw.modifier_type == "none" and hw.input_range is False and hw.out_noise == 0.06
    assert AnalogHardware.from_dict(json.loads(json.dumps(hw.to_dict()))) == hw
    assert torch.isfinite(outputs_after_drift(hw)).all()
    cfg.noise_model = CustomDriftPCMLikeNoiseModel(CUSTOM_DRIFT)
    assert AnalogHardware.from_rpu_config(cfg).noise_params == {"custom_drift_model": CUSTOM_DRIFT}
    cfg.forward.inp_noise = 0.1
    cfg.modifier.pdrop = 0.1
    expected = r"^AnalogHardware.from_rpu_config: \['forward.inp_noise=0.1', 'modifier.pdrop=0.1'\] cannot be expressed"
    with pytest.raises(ValueError, match=expected):
        AnalogHardware.from_rpu_config(cfg)
    with pytest.raises(TypeError, match="InferenceRPUConfig"):
        AnalogHardware.from_rpu_config({"g_max": 25})
