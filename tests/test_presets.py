"""Named hardware presets, each checked field by field against its source."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from analognas import AnalogHardware, to_analog
from analognas.hardware import PRESET_NAMES, describe_noise_model


def fields(obj) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def steps(res: float) -> float:
    # aihwkit reads a resolution > 1 as a step count (the preset writes 254.0, we write 1/254)
    return res if res > 1 else 1 / res


def lookup(cfg, dotted: str):
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def assert_matches(cfg, documented: dict) -> None:
    wrong = {k: (lookup(cfg, k), v) for k, v in documented.items() if lookup(cfg, k) != v}
    assert not wrong, f"(ours, source) differ: {wrong}"


def test_aihwkit_standard_is_the_preset_object_field_by_field():
    from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig
    from aihwkit.simulator.presets import StandardHWATrainingPreset

    cfg = AnalogHardware.preset("aihwkit-standard").rpu_config()
    ref = StandardHWATrainingPreset()
    assert isinstance(cfg, InferenceRPUConfig) and not isinstance(cfg, TorchInferenceRPUConfig)
    for section in ("mapping", "remap", "clip", "modifier"):
        assert fields(getattr(cfg, section)) == fields(getattr(ref, section)), section
    ours, theirs = fields(cfg.forward), fields(ref.forward)
    for res in ("inp_res", "out_res"):
        assert steps(ours.pop(res)) == pytest.approx(steps(theirs.pop(res))), res
    assert ours == theirs
    assert type(cfg.forward) is type(ref.forward)
    assert fields(cfg.pre_post.input_range) == fields(ref.pre_post.input_range)
    assert describe_noise_model(cfg.noise_model) == describe_noise_model(ref.noise_model)
    assert type(cfg.drift_compensation) is type(ref.drift_compensation)


# IBM/analog-nas, analogainas/search_spaces/train.py, create_rpu_config() with its defaults
# (g_max=25, tile_size=256, dac_res=256, adc_res=256, noise_std=5.0): InferenceRPUConfig(),
# forward = PresetIOParameters() then inp_res/out_res/bound_management set; what it leaves
# unset is aihwkit's default (noted "default").
ANALOGNAS_PAPER = {
    "clip.type": "FIXED_VALUE", "clip.fixed_value": 1.0,
    "modifier.pdrop": 0.0, "modifier.std_dev": 5.0, "modifier.rel_to_actual_wmax": True,
    "modifier.type": "NONE",  # default: the script never sets the type, so no modifier acts
    "mapping.digital_bias": True, "mapping.weight_scaling_omega": 1.0,  # set to 0.4, then True
    "mapping.max_input_size": 256, "mapping.max_output_size": 255,
    "mapping.weight_scaling_columnwise": False, "mapping.learn_out_scaling": False,  # default
    "mapping.out_scaling_columnwise": False,  # default
    "forward.inp_res": 1 / 256, "forward.out_res": 1 / 256, "forward.bound_management": "NONE",
    # PresetIOParameters() defaults the script keeps:
    "forward.out_noise": 0.1, "forward.out_bound": 20.0, "forward.inp_bound": 1.0,
    "forward.noise_management": "ABS_MAX", "forward.nm_thres": 0.0, "forward.w_noise": 0.0,
    "forward.ir_drop": 0.0,
    "noise_model.g_max": 25.0, "remap.type": "NONE", "pre_post.input_range.enable": False,  # default
}

# AnalogNAS-Bench, analognasbench/training_script.py: its HWA rpu config on InferenceRPUConfig
# with forward = IOParameters() (settings as summarised in /work/shared/DESIGN.md, "Hardware
# presets"); unset fields are aihwkit's defaults (noted "default").
ANALOGNAS_BENCH = {
    "modifier.type": "ADD_NORMAL", "modifier.std_dev": 0.06,
    "mapping.digital_bias": True, "mapping.weight_scaling_omega": 1.0,
    "mapping.weight_scaling_columnwise": False, "mapping.out_scaling_columnwise": False,
    "mapping.learn_out_scaling": False, "mapping.max_input_size": 512, "mapping.max_output_size": 512,  # default
    "remap.type": "LAYERWISE_SYMMETRIC", "clip.type": "LAYER_GAUSSIAN", "clip.sigma": 2.0,
    "forward.is_perfect": False, "forward.out_noise": 0.04, "forward.inp_bound": 1.0,
    "forward.inp_res": 1 / 254, "forward.out_bound": 10.0, "forward.out_res": 1 / 254,
    "forward.bound_management": "NONE", "forward.noise_management": "NONE",
    "forward.nm_thres": 0.0, "forward.w_noise": 0.0, "forward.ir_drop": 0.0,  # default
    "pre_post.input_range.enable": True, "pre_post.input_range.decay": 0.01,
    "pre_post.input_range.init_from_data": 50, "pre_post.input_range.init_std_alpha": 3.0,
    "pre_post.input_range.input_min_percentage": 0.995,
    "pre_post.input_range.manage_output_clipping": False,
    "noise_model.g_max": 25.0,
}


def _enum_names(cfg) -> object:
    """cfg with its enums readable by name in ``lookup`` (compare enums as their names)."""
    class View:
        def __init__(self, obj):
            self.obj = obj

        def __getattr__(self, name):
            value = getattr(self.obj, name)
            if hasattr(value, "name") and type(value).__module__.startswith("aihwkit.simulator.parameters.enums"):
                return value.name
            if dataclasses.is_dataclass(value) or hasattr(value, "g_max"):
                return View(value)
            return value

    return View(cfg)


@pytest.mark.parametrize("name, documented, base", [
    ("analognas", ANALOGNAS_PAPER, "PresetIOParameters"),
    ("analognas-bench", ANALOGNAS_BENCH, "IOParameters"),
])
def test_paper_and_bench_presets_match_their_scripts(name, documented, base):
    from aihwkit.inference.compensation.drift import GlobalDriftCompensation
    from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
    from aihwkit.simulator.parameters import IOParameters
    from aihwkit.simulator.presets.utils import PresetIOParameters

    cfg = AnalogHardware.preset(name).rpu_config()
    assert_matches(_enum_names(cfg), documented)
    assert type(cfg.noise_model) is PCMLikeNoiseModel
    assert describe_noise_model(cfg.noise_model) == describe_noise_model(PCMLikeNoiseModel(g_max=25.0))
    assert isinstance(cfg.drift_compensation, GlobalDriftCompensation)
    # every forward setting the script did not write is the default of the class it started from
    start = fields({"PresetIOParameters": PresetIOParameters, "IOParameters": IOParameters}[base]())
    written = {k.split(".", 1)[1] for k in documented if k.startswith("forward.")}
    ours = fields(cfg.forward)
    assert {k: v for k, v in ours.items() if k not in written} == {k: v for k, v in start.items() if k not in written}


def test_the_default_is_analognas_default_and_differs_from_the_standard_preset_where_documented():
    from aihwkit.simulator.presets import StandardHWATrainingPreset

    assert AnalogHardware() == AnalogHardware.preset("analognas-default")
    cfg, ref = AnalogHardware().rpu_config(), StandardHWATrainingPreset()
    differ = set()
    for section in ("mapping", "forward", "remap", "clip", "modifier"):
        a, b = fields(getattr(cfg, section)), fields(getattr(ref, section))
        differ |= {f"{section}.{k}" for k in a if k not in ("inp_res", "out_res") and a[k] != b[k]}
    if fields(cfg.pre_post.input_range) != fields(ref.pre_post.input_range):
        differ.add("pre_post")
    # exactly the differences the AnalogHardware docstring and docs/hardware.md name
    assert differ == {"mapping.max_output_size", "forward.w_noise", "forward.w_noise_type",
                      "forward.ir_drop", "modifier.type", "modifier.std_dev"}


def test_torch_tiles_refuse_w_noise_and_ir_drop_so_do_we():
    from aihwkit.exceptions import ConfigError
    from aihwkit.nn import AnalogLinear
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

    for setting in ({"w_noise": 0.0175}, {"ir_drop": 1.0}):
        cfg = TorchInferenceRPUConfig()
        for k, v in setting.items():
            setattr(cfg.forward, k, v)
        with pytest.raises(ConfigError):  # aihwkit itself: the reason we refuse
            AnalogLinear(4, 2, rpu_config=cfg)(torch.ones(1, 4))
    for name in ("w_noise", "ir_drop"):
        with pytest.raises(ValueError, match=rf"^AnalogHardware\.{name}=.*tile_backend='torch'.*cannot simulate"):
            AnalogHardware(**{name: 1.0})
    with pytest.raises(ValueError, match="tile_backend='torch'"):
        AnalogHardware.preset("aihwkit-standard", tile_backend="torch")


def test_aihwkit_standard_runs_where_compiled_tiles_work_else_says_why():
    hw = AnalogHardware.preset("aihwkit-standard")
    net = nn.Sequential(nn.Linear(8, 4))
    try:
        hw.check_available()
    except RuntimeError:  # aihwkit's compiled tiles do not run with this torch
        with pytest.raises(RuntimeError, match="compiled.*forward weight noise and IR drop"):
            to_analog(net, hw)
    else:
        assert torch.isfinite(to_analog(net, hw)(torch.randn(2, 8))).all()


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_presets_round_trip_and_run(name):
    hw = AnalogHardware.preset(name)
    assert AnalogHardware.from_dict(hw.to_dict()) == hw
    if hw.tile_backend == "torch":
        analog = to_analog(nn.Sequential(nn.Linear(300, 300), nn.ReLU(), nn.Linear(300, 3)), hw)
        analog.eval()
        analog.program_analog_weights()
        analog.drift_analog_weights(3600.0)
        assert torch.isfinite(analog(torch.randn(2, 300))).all()
        # tiles of tile_size rows and tile_outputs columns, as the preset says
        rows = hw.tile_size
        cols = hw.tile_size if hw.tile_outputs is None else hw.tile_outputs
        expected = sum(-(-i // rows) * -(-o // cols) for i, o in ((300, 300), (300, 3)))
        assert len(list(analog.analog_tiles())) == expected


def test_preset_names_and_changes():
    assert PRESET_NAMES == ("analognas-default", "aihwkit-standard", "analognas", "analognas-bench")
    assert AnalogHardware.preset("analognas", g_max=20.0).g_max == 20.0
    with pytest.raises(ValueError, match=r"^AnalogHardware.preset: name='standard' is not allowed; allowed: \["):
        AnalogHardware.preset("standard")
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['gmax'\]"):
        AnalogHardware.preset("analognas", gmax=20.0)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_from_rpu_config_reads_every_preset_back(name):
    hw = AnalogHardware.preset(name)
    assert AnalogHardware.from_rpu_config(hw.rpu_config()) == hw


def test_from_rpu_config_of_aihwkits_own_preset_object_is_the_named_preset():
    from aihwkit.simulator.presets import StandardHWATrainingPreset

    assert AnalogHardware.from_rpu_config(StandardHWATrainingPreset()) == AnalogHardware.preset("aihwkit-standard")
