"""The analog hardware model: a small dataclass that becomes an aihwkit RPU configuration.

A user who designs in-memory-computing hardware changes the fields of ``AnalogHardware``,
starts from a named preset (``AnalogHardware.preset("aihwkit-standard")``) or brings an aihwkit
device model of their own; ``rpu_config()`` turns it into aihwkit's configuration and
``to_analog`` converts a digital network into one made of aihwkit analog layers that use it.

Example:
    >>> from torch import nn
    >>> hw = AnalogHardware(g_max=20.0, adc_bits=6)
    >>> analog = to_analog(nn.Sequential(nn.Linear(8, 4)), hw)
    >>> type(analog[0]).__name__
    'AnalogLinear'
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import functools
import importlib
import inspect
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from .checks import check_bool, check_choice, check_int, check_number, known_fields

#: device models by name -> (module, class) in aihwkit 1.1.0's ``aihwkit.inference.noise``
NOISE_MODEL_CLASSES: dict[str, tuple[str, str]] = {
    "pcm": ("aihwkit.inference.noise.pcm", "PCMLikeNoiseModel"),
    "hermes": ("aihwkit.inference.noise.hermes", "HermesNoiseModel"),
    "reram-wan2022": ("aihwkit.inference.noise.reram", "ReRamWan2022NoiseModel"),
    "reram-cmo": ("aihwkit.inference.noise.reram", "ReRamCMONoiseModel"),
    "custom-drift-pcm": ("aihwkit.inference.noise.pcm", "CustomDriftPCMLikeNoiseModel"),
    "state-independent": ("aihwkit.inference.noise.custom", "StateIndependentNoiseModel"),
}
NOISE_MODELS = tuple(NOISE_MODEL_CLASSES)
#: the fields that are parameters of a device model (passed on where its constructor takes them)
NOISE_MODEL_FIELDS = ("g_max", "prog_noise_scale", "read_noise_scale", "drift_scale")
CLIP_TYPES = ("fixed", "sigma", "none")
TILE_BACKENDS = ("torch", "compiled")
# our names -> aihwkit enum member names
MODIFIER_TYPES = {"none": "NONE", "add-normal": "ADD_NORMAL", "mult-normal": "MULT_NORMAL"}
W_NOISE_TYPES = {"none": "NONE", "additive-constant": "ADDITIVE_CONSTANT", "pcm-read": "PCM_READ"}
REMAP_TYPES = {"none": "NONE", "layerwise": "LAYERWISE_SYMMETRIC", "channelwise": "CHANNELWISE_SYMMETRIC"}
BOUND_MANAGEMENT_TYPES = {"none": "NONE", "iterative": "ITERATIVE"}
NOISE_MANAGEMENT_TYPES = {"none": "NONE", "abs-max": "ABS_MAX", "max": "MAX", "constant": "CONSTANT"}
_MIN_BITS, _MAX_BITS = 2, 24
_OWNER = "AnalogHardware"
# the fields go on to aihwkit and to JSON as they are, so numpy scalars stay refused
_PLAIN = {"owner": _OWNER, "numpy": False}


# --- helpers ------------------------------------------------------------------------------
def _resolution(bits: int | None, steps: int | None = None) -> float:
    # aihwkit: a resolution r in (0, 1] means steps of r over the range; <= 0 means no quantisation.
    if steps is not None:
        return 1.0 / steps
    return -1.0 if bits is None else 1.0 / (2**bits - 2)


def _enum(enum_cls: type, table: Mapping[str, str], name: str) -> Any:
    return getattr(enum_cls, table[name])


def noise_model_class(name: str) -> type:
    """The aihwkit device-model class behind a ``noise_model`` name (see ``NOISE_MODELS``)."""
    check_choice("noise_model", name, NOISE_MODELS, owner=_OWNER)
    module, cls = NOISE_MODEL_CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (tensors as lists, enums by name, other objects as text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def describe_noise_model(model: Any) -> dict[str, Any]:
    """A JSON-able description of an aihwkit noise model object: its class and its attributes.

    Example:
        >>> from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
        >>> describe_noise_model(PCMLikeNoiseModel())["class"]
        'aihwkit.inference.noise.pcm.PCMLikeNoiseModel'
    """
    cls = type(model)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": _jsonable(vars(model))}


def _is_noise_model(value: Any) -> bool:
    from aihwkit.inference.noise.base import BaseNoiseModel

    return isinstance(value, BaseNoiseModel)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _steps(res: float) -> float | None:
    """aihwkit resolution -> quantisation steps over the range (None: no quantisation)."""
    if res <= 0:
        return None
    return res if res > 1 else 1.0 / res  # aihwkit reads a value above 1 as a step count


def _noise_model_fields(model: Any) -> dict[str, Any]:
    """AnalogHardware fields for an aihwkit noise model object: a name in NOISE_MODELS with its
    parameters when that rebuilds ``model`` exactly, else (a copy of) the object itself."""
    for name in NOISE_MODELS:
        cls = noise_model_class(name)
        if type(model) is not cls:
            continue
        required = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                    if n != "self" and p.default is inspect.Parameter.empty]
        fields = {n: getattr(model, n) for n in NOISE_MODEL_FIELDS if hasattr(model, n)}
        fields.update(noise_model=name, noise_params={n: getattr(model, n) for n in required})
        try:
            hw = AnalogHardware(**fields)
        except (TypeError, ValueError):
            break
        if describe_noise_model(hw.noise_model_object()) == describe_noise_model(model):
            return fields
    return {"noise_model": copy.deepcopy(model), **{n: None for n in NOISE_MODEL_FIELDS}}


def _rpu_config_differences(ours: Any, theirs: Any) -> list[str]:
    """Settings (``section.field=value``) of ``theirs`` that ``ours`` does not reproduce."""
    differ = []
    sections = ("mapping", "forward", "remap", "clip", "modifier", "pre_post.input_range")
    for section in sections:
        a, b = ours, theirs
        for part in section.split("."):
            a, b = getattr(a, part), getattr(b, part)
        for f in dataclasses.fields(b):
            x, y = getattr(a, f.name), getattr(b, f.name)
            if f.name in ("inp_res", "out_res"):
                x, y = _steps(x), _steps(y)
                same = x == y or (x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9))
            else:
                same = x == y
            if not same:
                differ.append(f"{section}.{f.name}={y!r}")
    return differ


#: Named presets, each from its source (field by field in tests/test_presets.py; table in
#: docs/hardware.md). Fields not named take the dataclass defaults.
PRESETS: dict[str, dict[str, Any]] = {
    # This package's default (AnalogHardware()): aihwkit's StandardHWATrainingPreset as far as
    # aihwkit's torch tiles can run it. Differs from it: ADD_NORMAL weight modifier 0.08 in place
    # of the PCM_READ forward weight noise, no IR drop, 512 tile outputs (the preset: no limit).
    "analognas-default": {},
    # aihwkit 1.1.0 aihwkit/simulator/presets/inference.py, StandardHWATrainingPreset
    # (Rasch et al. 2023). Needs aihwkit's compiled tiles (w_noise and IR drop).
    "aihwkit-standard": {
        "w_noise": 0.0175, "w_noise_type": "pcm-read", "ir_drop": 1.0,
        "modifier_type": "none", "modifier_std": 0.0, "tile_outputs": 0, "tile_backend": "compiled",
    },
    # IBM/analog-nas analogainas/search_spaces/train.py, create_rpu_config() with its defaults
    # (g_max=25, tile_size=256, dac_res=adc_res=256, noise_std=5.0) on InferenceRPUConfig with
    # forward=PresetIOParameters(). It sets modifier.std_dev=5.0 but leaves modifier.type at
    # aihwkit's NONE, so no weight modifier acts; it sets no remap, no input range and no
    # learned output scaling (its learn_out_scaling_alpha is not an aihwkit 1.1 field).
    "analognas": {
        "dac_steps": 256, "adc_steps": 256, "out_noise": 0.1, "out_bound": 20.0,
        "noise_management": "abs-max", "nm_thres": 0.0,
        "modifier_type": "none", "modifier_std": 5.0, "remap": "none",
        "weight_scaling_columnwise": False, "learn_out_scaling": False, "out_scaling_columnwise": False,
        "input_range": False, "tile_size": 256, "tile_outputs": 255,
    },
    # AnalogNAS-Bench analognasbench/training_script.py (HWA fine-tuning config, on
    # InferenceRPUConfig with forward=IOParameters()); values as summarised in DESIGN.md.
    "analognas-bench": {
        "out_noise": 0.04, "out_bound": 10.0, "noise_management": "none", "nm_thres": 0.0,
        "modifier_type": "add-normal", "modifier_std": 0.06, "clip": "sigma", "clip_sigma": 2.0,
        "remap": "layerwise", "weight_scaling_columnwise": False, "learn_out_scaling": False,
        "out_scaling_columnwise": False, "input_range_init_batches": 50, "input_range_decay": 0.01,
        "input_range_min_percentage": 0.995,
    },
}
PRESET_NAMES = tuple(PRESETS)


@dataclasses.dataclass(frozen=True, kw_only=True)  # keywords only: 37 fields, order is no API
class AnalogHardware:
    """The analog in-memory-computing hardware a network is trained for and evaluated on.

    ``AnalogHardware()`` is the preset ``"analognas-default"``: aihwkit's
    ``StandardHWATrainingPreset`` (Rasch et al., 2023) as far as aihwkit's pure-torch tiles can
    simulate it. It is the default because every shipped table was measured with it and because
    it runs on any torch (the standard preset itself needs aihwkit's compiled tiles). It differs
    from the standard preset in three settings:

    - training adds Gaussian weight noise of std 0.08 (``AddNormal`` modifier) where the preset
      injects PCM read noise in every forward pass (``forward.w_noise = 0.0175``, ``PCM_READ``),
      which torch tiles cannot simulate;
    - no IR drop (the preset: ``forward.ir_drop = 1.0``, which torch tiles cannot simulate);
    - tiles have at most 512 outputs (the preset: no limit), so layers with more than 512 outputs
      use more tiles.

    Simulated (by aihwkit): PCM programming noise, 1/f read noise and conductance drift (or
    another device model, see ``noise_model``), global drift compensation, 8-bit DAC and ADC
    quantisation, learned input ranges, output noise 0.04 and output saturation, column-wise
    weight scaling and channel-wise remapping, the training weight modifier and clipping, weights
    split over 512 x 512 tiles, digital biases. Not simulated: IR drop, forward weight (read)
    noise during training, input noise, ADC non-linearity and device-to-device variation of the
    peripherals. Other presets: ``AnalogHardware.preset(name)`` for ``name`` in ``PRESET_NAMES``.

    Fields (what they model, their aihwkit setting):

    - ``noise_model``: device model applied when weights are programmed and drift: one of
      ``NOISE_MODELS`` (``"pcm"``: ``PCMLikeNoiseModel``; ``"hermes"``: ``HermesNoiseModel``,
      fitted to IBM's HERMES PCM chip; ``"reram-wan2022"``: ``ReRamWan2022NoiseModel``;
      ``"reram-cmo"``: ``ReRamCMONoiseModel``; ``"custom-drift-pcm"``:
      ``CustomDriftPCMLikeNoiseModel``, needs ``noise_params={"custom_drift_model": ...}``;
      ``"state-independent"``: ``StateIndependentNoiseModel``), or an aihwkit ``BaseNoiseModel``
      object of your own (used as given; ``to_dict`` records its class and attributes).
    - ``noise_params``: further constructor arguments of the named device model (JSON values),
      checked against its signature.
    - ``g_max``: maximum device conductance in µS (``None``: the model's own default, 25.0 for
      PCM, 20.7 for HERMES). ``prog_noise_scale``, ``read_noise_scale``, ``drift_scale``:
      multiply the model's programming noise, read noise and drift (1.0 = as measured, 0.0 =
      off). These four go to the device model's constructor; ``None`` (or the default, for a
      model without that parameter) means the model's own value, which is what ``to_dict`` records.
    - ``drift_compensation``: rescale the outputs by a global factor read from the tile at each
      inference time (``GlobalDriftCompensation``); without it drift shrinks all outputs.
    - ``dac_bits``, ``adc_bits``: input and output resolution in bits (default 8): aihwkit
      quantises to ``2**bits - 2`` steps over the range (``forward.inp_res``/``out_res =
      1 / (2**bits - 2)``, 8 bits give 254 steps). ``None`` means no quantisation.
      ``dac_steps``, ``adc_steps``: the step count itself (``inp_res = 1 / steps``), used
      instead of the bits when set (the AnalogNAS paper's code wrote 256 steps).
    - ``out_noise``: std of the Gaussian noise added to every tile output, relative to the
      output range (``forward.out_noise``, default 0.04).
    - ``out_bound``: output saturation of the ADC relative to a fully-on input on a
      maximal-conductance column (``forward.out_bound``, default 10.0).
    - ``w_noise``, ``w_noise_type``: weight noise in every forward pass (``forward.w_noise``,
      ``w_noise_type``: ``"none"``, ``"additive-constant"``, ``"pcm-read"``); ``ir_drop``: IR
      drop scale (``forward.ir_drop``). Only aihwkit's compiled tiles simulate these three:
      with ``tile_backend="torch"`` they must stay off.
    - ``bound_management`` (``"none"``, ``"iterative"``), ``noise_management`` (``"none"``,
      ``"abs-max"``, ``"max"``, ``"constant"``) and ``nm_thres``: aihwkit's
      ``forward.bound_management``, ``noise_management`` and ``nm_thres`` (defaults none,
      constant, 1.0).
    - ``modifier_type`` (``"add-normal"``, ``"mult-normal"``, ``"none"``) and ``modifier_std``:
      Gaussian noise added to the weights at every training mini-batch, std relative to the
      largest weight of the tile (``modifier.type``, ``modifier.std_dev``, default add-normal
      0.08). This is what makes the training hardware-aware; std 0.0 switches it off.
    - ``clip``: weight clipping during training: ``"fixed"`` clips to ``±clip_value`` (default,
      1.0 as in the preset, where weights are scaled to [-1, 1] per column), ``"sigma"`` clips
      to ``±clip_sigma`` standard deviations of the layer's weights, ``"none"`` does not clip.
    - ``remap``: weight remapping after each update (``remap.type``: ``"channelwise"``
      default, ``"layerwise"``, ``"none"``).
    - ``weight_scaling_omega``, ``weight_scaling_columnwise``, ``learn_out_scaling``,
      ``out_scaling_columnwise``: how weights are scaled to the conductance range
      (``mapping.*``; default 1.0, column-wise, with learned column-wise output scales).
    - ``input_range``: learn the input range of every tile (``pre_post.input_range.enable``),
      initialised from ``input_range_init_batches`` batches (``init_from_data``, 100), with
      ``input_range_decay`` (``decay``, 0.001) and ``input_range_min_percentage``
      (``input_min_percentage``, 0.95).
    - ``tile_size``: rows (inputs) of one crossbar tile (``mapping.max_input_size``, 512);
      ``tile_outputs``: its columns (``max_output_size``; ``None``: same as ``tile_size``;
      0: no limit). Larger weight matrices are split over several tiles. The tile counts in
      the search spaces and tables count ``tile_size`` x ``tile_size`` tiles.
    - ``digital_bias``: biases are added digitally after the tile (default True; aihwkit's
      torch tiles support only digital biases).
    - ``tile_backend``: ``"torch"`` (default) uses aihwkit's pure-torch tiles
      (``TorchInferenceRPUConfig``), which run on CPU and CUDA with any recent torch;
      ``"compiled"`` uses aihwkit's C++/CUDA tiles (``InferenceRPUConfig``), which also
      simulate ``w_noise`` and ``ir_drop`` but only work with the torch aihwkit was built for.

    Example:
        >>> AnalogHardware.preset("analognas-bench").modifier_std
        0.06
        >>> AnalogHardware(noise_model="hermes").g_max
        20.7
    """

    noise_model: Any = "pcm"
    noise_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    g_max: float | None = None
    prog_noise_scale: float | None = 1.0
    read_noise_scale: float | None = 1.0
    drift_scale: float | None = 1.0
    drift_compensation: bool = True
    dac_bits: int | None = 8
    adc_bits: int | None = 8
    dac_steps: int | None = None
    adc_steps: int | None = None
    out_noise: float = 0.04
    out_bound: float = 10.0
    w_noise: float = 0.0
    w_noise_type: str = "none"
    ir_drop: float = 0.0
    bound_management: str = "none"
    noise_management: str = "constant"
    nm_thres: float = 1.0
    modifier_type: str = "add-normal"
    modifier_std: float = 0.08
    clip: str = "fixed"
    clip_value: float = 1.0
    clip_sigma: float = 2.5
    remap: str = "channelwise"
    weight_scaling_omega: float = 1.0
    weight_scaling_columnwise: bool = True
    learn_out_scaling: bool = True
    out_scaling_columnwise: bool = True
    input_range: bool = True
    input_range_init_batches: int = 100
    input_range_decay: float = 0.001
    input_range_min_percentage: float = 0.95
    tile_size: int = 512
    tile_outputs: int | None = None
    digital_bias: bool = True
    tile_backend: str = "torch"

    def __post_init__(self) -> None:
        self._check_device_model()
        check_bool("drift_compensation", self.drift_compensation, **_PLAIN)
        for name in ("dac_bits", "adc_bits"):
            check_int(name, getattr(self, name), _MIN_BITS, _MAX_BITS, none_ok="no quantisation", **_PLAIN)
        for name in ("dac_steps", "adc_steps"):
            check_int(name, getattr(self, name), 2, none_ok="use the bits", **_PLAIN)
        for name in ("out_noise", "w_noise", "ir_drop", "nm_thres", "modifier_std", "weight_scaling_omega"):
            check_number(name, getattr(self, name), ge=0, **_PLAIN)
        for name in ("out_bound", "clip_value", "clip_sigma"):
            check_number(name, getattr(self, name), gt=0, **_PLAIN)
        for name, table in (("w_noise_type", W_NOISE_TYPES), ("bound_management", BOUND_MANAGEMENT_TYPES),
                            ("noise_management", NOISE_MANAGEMENT_TYPES), ("modifier_type", MODIFIER_TYPES),
                            ("clip", CLIP_TYPES), ("remap", REMAP_TYPES), ("tile_backend", TILE_BACKENDS)):
            check_choice(name, getattr(self, name), table, owner=_OWNER)
        for name in ("weight_scaling_columnwise", "learn_out_scaling", "out_scaling_columnwise",
                     "input_range", "digital_bias"):
            check_bool(name, getattr(self, name), **_PLAIN)
        check_int("input_range_init_batches", self.input_range_init_batches, 0, **_PLAIN)
        for name in ("input_range_decay", "input_range_min_percentage"):
            check_number(name, getattr(self, name), ge=0, le=1, **_PLAIN)
        check_int("tile_size", self.tile_size, 1, what="a positive integer (rows of one crossbar tile)", **_PLAIN)
        check_int("tile_outputs", self.tile_outputs, 0, none_ok=True,
                  what="a positive integer, 0 (no limit) or None (same as tile_size)", **_PLAIN)
        if self.tile_backend == "torch":
            if not self.digital_bias:
                raise ValueError(
                    "AnalogHardware.digital_bias=False is not allowed with tile_backend='torch': "
                    "aihwkit's torch tiles keep biases digital; use digital_bias=True or "
                    "tile_backend='compiled'"
                )
            for name, off in (("w_noise", 0.0), ("w_noise_type", "none"), ("ir_drop", 0.0)):
                if getattr(self, name) != off:
                    raise ValueError(
                        f"AnalogHardware.{name}={getattr(self, name)!r} is not allowed with "
                        f"tile_backend='torch': aihwkit's torch tiles cannot simulate "
                        f"{'IR drop' if name == 'ir_drop' else 'forward weight noise'} (they raise "
                        f"ConfigError); use {name}={off!r} or tile_backend='compiled'"
                    )

    def _check_device_model(self) -> None:
        """Validate the device model and its parameters by building it once; fill in ``None``s."""
        if not isinstance(self.noise_params, Mapping):
            raise ValueError(f"AnalogHardware.noise_params={self.noise_params!r} is not allowed; "
                             "allowed: a dict of the device model's constructor arguments")
        for name in NOISE_MODEL_FIELDS:
            bound = {"gt": 0} if name == "g_max" else {"ge": 0}
            check_number(name, getattr(self, name), **bound, none_ok="the model's own value", **_PLAIN)
        if _is_noise_model(self.noise_model):
            if self.noise_params:
                raise ValueError("AnalogHardware.noise_params is not allowed with a noise model "
                                 "object; set its parameters on the object")
            model = self.noise_model
            # None and 1.0 (the defaults) defer to the object; the object's own values are fine
            # too, so that dataclasses.replace works
            given = {n: getattr(self, n) for n in NOISE_MODEL_FIELDS
                     if getattr(self, n) not in (None, 1.0, _jsonable(getattr(model, n, None)))}
            if given:
                raise ValueError(f"AnalogHardware fields {sorted(given)} are not allowed with a noise "
                                 "model object; set them on the object")
        else:
            check_choice("noise_model", self.noise_model, NOISE_MODELS, owner=_OWNER,
                         what=f"{list(NOISE_MODELS)} or an aihwkit BaseNoiseModel object")
            model = self._build_noise_model()
        # record the values the model actually uses (None: its own default, or no such parameter)
        for name in NOISE_MODEL_FIELDS:
            object.__setattr__(self, name, _jsonable(getattr(model, name, None)))

    def _build_noise_model(self) -> Any:
        cls = noise_model_class(self.noise_model)
        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        shared = [k for k in self.noise_params if k in NOISE_MODEL_FIELDS]
        if shared:
            raise ValueError(f"AnalogHardware.noise_params has {shared}: set AnalogHardware."
                             f"{shared[0]} instead")
        unknown = [k for k in self.noise_params if k not in accepted or k == "g_converter"]
        if unknown:
            allowed = [p for p in accepted if p not in NOISE_MODEL_FIELDS and p != "g_converter"]
            raise ValueError(f"AnalogHardware.noise_params has unknown key(s) {unknown} for "
                             f"noise_model={self.noise_model!r} ({cls.__name__}); allowed: {allowed}")
        try:
            json.dumps(dict(self.noise_params))
        except (TypeError, ValueError):
            raise ValueError(f"AnalogHardware.noise_params={dict(self.noise_params)!r} is not allowed; "
                             "allowed: JSON values (numbers, lists, dicts); for other arguments pass "
                             "your own noise model object as noise_model") from None
        required = [n for n, p in inspect.signature(cls.__init__).parameters.items()
                    if n != "self" and p.default is inspect.Parameter.empty and n not in self.noise_params]
        if required:
            raise ValueError(f"AnalogHardware.noise_model={self.noise_model!r} ({cls.__name__}) needs "
                             f"noise_params key(s) {required}; see docs/hardware.md")
        kwargs = dict(self.noise_params)
        for name in NOISE_MODEL_FIELDS:
            value = getattr(self, name)
            if name in accepted:
                if value is not None:
                    kwargs[name] = value
            elif value not in (None, 1.0):
                raise ValueError(
                    f"AnalogHardware.{name}={value!r} is not allowed with noise_model="
                    f"{self.noise_model!r}: {cls.__name__} has no such parameter (its parameters: "
                    f"{[p for p in accepted if p != 'g_converter']}); use noise_params"
                )
        try:
            return cls(**kwargs)
        except Exception as e:  # aihwkit checks its arguments with assert / ValueError / KeyError
            raise ValueError(f"AnalogHardware.noise_model={self.noise_model!r} with {kwargs}: "
                             f"{cls.__name__} refuses these parameters ({_one_line(e)})") from None

    def __hash__(self) -> int:  # noise_params is a dict, so hash the JSON form
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # --- presets ------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **changes: Any) -> "AnalogHardware":
        """The named preset (one of ``PRESET_NAMES``), with ``changes`` to its fields.

        Example:
            >>> AnalogHardware.preset("analognas").tile_size
            256
        """
        if not isinstance(name, str) or name not in PRESETS:
            raise ValueError(f"AnalogHardware.preset: name={name!r} is not allowed; allowed: {list(PRESET_NAMES)}")
        return cls(**{**PRESETS[name], **known_fields(cls, changes)})

    @classmethod
    def from_rpu_config(cls, cfg: Any) -> "AnalogHardware":
        """The hardware of an aihwkit ``InferenceRPUConfig`` / ``TorchInferenceRPUConfig`` of your own.

        Every setting is read into a field, and ``rpu_config()`` of the result is checked to
        give ``cfg``'s mapping, forward, remap, clip, modifier and input-range settings back;
        a setting ``AnalogHardware`` cannot express is an error naming it (nothing is dropped
        silently). A noise model that a name in ``NOISE_MODELS`` reproduces gets that name;
        any other is kept as the object.

        Example:
            >>> from aihwkit.simulator.presets import StandardHWATrainingPreset
            >>> AnalogHardware.from_rpu_config(StandardHWATrainingPreset()) == AnalogHardware.preset("aihwkit-standard")
            True
        """
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig

        if not isinstance(cfg, InferenceRPUConfig):
            raise TypeError(f"AnalogHardware.from_rpu_config needs an aihwkit InferenceRPUConfig or "
                            f"TorchInferenceRPUConfig, got {type(cfg).__name__}")
        if cfg.drift_compensation is not None and type(cfg.drift_compensation) is not GlobalDriftCompensation:
            raise ValueError(f"AnalogHardware.from_rpu_config: drift_compensation="
                             f"{type(cfg.drift_compensation).__name__} cannot be expressed; allowed: "
                             "GlobalDriftCompensation or None")
        fwd, m, ir = cfg.forward, cfg.mapping, cfg.pre_post.input_range

        def reverse(table: Mapping[str, str], member: Any, where: str) -> str:
            for ours, theirs in table.items():
                if member.name == theirs:
                    return ours
            raise ValueError(f"AnalogHardware.from_rpu_config: {where}={member.name} cannot be expressed; "
                             f"allowed: {list(table.values())}")

        fields: dict[str, Any] = {
            **_noise_model_fields(cfg.noise_model),
            "drift_compensation": cfg.drift_compensation is not None,
            "out_noise": fwd.out_noise, "out_bound": fwd.out_bound, "w_noise": fwd.w_noise,
            "w_noise_type": reverse(W_NOISE_TYPES, fwd.w_noise_type, "forward.w_noise_type"),
            "ir_drop": fwd.ir_drop,
            "bound_management": reverse(BOUND_MANAGEMENT_TYPES, fwd.bound_management, "forward.bound_management"),
            "noise_management": reverse(NOISE_MANAGEMENT_TYPES, fwd.noise_management, "forward.noise_management"),
            "nm_thres": fwd.nm_thres,
            "modifier_type": reverse(MODIFIER_TYPES, cfg.modifier.type, "modifier.type"),
            "modifier_std": cfg.modifier.std_dev,
            "clip": {"FIXED_VALUE": "fixed", "LAYER_GAUSSIAN": "sigma"}.get(cfg.clip.type.name, "none"),
            "clip_sigma": cfg.clip.sigma,
            "remap": reverse(REMAP_TYPES, cfg.remap.type, "remap.type"),
            "weight_scaling_omega": float(m.weight_scaling_omega),
            "weight_scaling_columnwise": m.weight_scaling_columnwise, "learn_out_scaling": m.learn_out_scaling,
            "out_scaling_columnwise": m.out_scaling_columnwise, "digital_bias": m.digital_bias,
            "tile_size": m.max_input_size,
            "tile_outputs": None if m.max_output_size == m.max_input_size else m.max_output_size,
            "input_range": ir.enable, "input_range_init_batches": ir.init_from_data,
            "input_range_decay": ir.decay, "input_range_min_percentage": ir.input_min_percentage,
            "tile_backend": "torch" if isinstance(cfg, TorchInferenceRPUConfig) else "compiled",
        }
        if cfg.clip.type.name == "FIXED_VALUE":
            fields["clip_value"] = cfg.clip.fixed_value
        for side, res in (("dac", fwd.inp_res), ("adc", fwd.out_res)):
            steps = _steps(res)
            bits = None if steps is None else math.log2(steps + 2)
            if steps is None:
                fields[f"{side}_bits"] = None
            elif bits == int(bits):
                fields[f"{side}_bits"] = int(bits)
            else:
                fields[f"{side}_steps"] = round(steps)
        hw = cls(**fields)
        differ = _rpu_config_differences(hw.rpu_config(), cfg)
        if differ:
            raise ValueError(f"AnalogHardware.from_rpu_config: {differ} cannot be expressed by "
                             "AnalogHardware fields")
        return hw

    def noise_model_object(self) -> Any:
        """A new aihwkit noise model for this hardware (a copy of a user's own object)."""
        if _is_noise_model(self.noise_model):
            return copy.deepcopy(self.noise_model)
        return self._build_noise_model()

    # --- aihwkit ------------------------------------------------------------------------
    def rpu_config(self) -> Any:
        """The aihwkit RPU configuration for this hardware (a new object at every call).

        Example:
            >>> type(AnalogHardware().rpu_config()).__name__
            'TorchInferenceRPUConfig'
        """
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.simulator.configs import InferenceRPUConfig, TorchInferenceRPUConfig
        from aihwkit.simulator.parameters import (
            InputRangeParameter,
            MappingParameter,
            PrePostProcessingParameter,
            WeightClipParameter,
            WeightModifierParameter,
            WeightRemapParameter,
        )
        from aihwkit.simulator.parameters.enums import (
            BoundManagementType,
            NoiseManagementType,
            WeightClipType,
            WeightModifierType,
            WeightNoiseType,
            WeightRemapType,
        )
        from aihwkit.simulator.presets.utils import PresetIOParameters

        cls = TorchInferenceRPUConfig if self.tile_backend == "torch" else InferenceRPUConfig
        forward = PresetIOParameters(
            inp_res=_resolution(self.dac_bits, self.dac_steps),
            out_res=_resolution(self.adc_bits, self.adc_steps),
            bound_management=_enum(BoundManagementType, BOUND_MANAGEMENT_TYPES, self.bound_management),
            noise_management=_enum(NoiseManagementType, NOISE_MANAGEMENT_TYPES, self.noise_management),
            nm_thres=self.nm_thres,
            out_noise=self.out_noise,
            out_bound=self.out_bound,
            w_noise=self.w_noise,
            w_noise_type=_enum(WeightNoiseType, W_NOISE_TYPES, self.w_noise_type),
            ir_drop=self.ir_drop,
        )
        if self.clip == "fixed":
            clip = WeightClipParameter(type=WeightClipType.FIXED_VALUE, fixed_value=self.clip_value)
        elif self.clip == "sigma":
            clip = WeightClipParameter(type=WeightClipType.LAYER_GAUSSIAN, sigma=self.clip_sigma)
        else:
            clip = WeightClipParameter(type=WeightClipType.NONE)
        # std 0 means no modifier, whatever the type (one code path less in the tiles)
        modifier_type = self.modifier_type if self.modifier_std > 0 else "none"
        modifier = WeightModifierParameter(
            type=_enum(WeightModifierType, MODIFIER_TYPES, modifier_type),
            std_dev=self.modifier_std,
            rel_to_actual_wmax=True,
        )
        return cls(
            mapping=MappingParameter(
                weight_scaling_omega=self.weight_scaling_omega,
                weight_scaling_columnwise=self.weight_scaling_columnwise,
                max_input_size=self.tile_size,
                max_output_size=self.tile_size if self.tile_outputs is None else self.tile_outputs,
                digital_bias=self.digital_bias,
                learn_out_scaling=self.learn_out_scaling,
                out_scaling_columnwise=self.out_scaling_columnwise,
            ),
            forward=forward,
            remap=WeightRemapParameter(remapped_wmax=1.0, type=_enum(WeightRemapType, REMAP_TYPES, self.remap)),
            noise_model=self.noise_model_object(),
            drift_compensation=GlobalDriftCompensation() if self.drift_compensation else None,
            pre_post=PrePostProcessingParameter(
                input_range=InputRangeParameter(
                    enable=self.input_range,
                    init_value=3.0,
                    init_from_data=self.input_range_init_batches,
                    init_std_alpha=3.0,
                    decay=self.input_range_decay,
                    input_min_percentage=self.input_range_min_percentage,
                    output_min_percentage=0.95,
                    manage_output_clipping=False,
                    gradient_scale=1.0,
                    gradient_relative=True,
                )
            ),
            clip=clip,
            modifier=modifier,
        )

    def check_available(self) -> None:
        """Raise RuntimeError when the chosen ``tile_backend`` cannot run with this installation.

        The compiled tiles of an aihwkit wheel only work with the torch version it was built
        against; this tries a tiny forward pass once per process and explains the failure.
        """
        if self.tile_backend == "compiled":
            error = _compiled_tiles_error()
            if error:
                raise RuntimeError(
                    "AnalogHardware.tile_backend='compiled' cannot be used here: aihwkit's compiled "
                    f"tiles fail with the installed torch {torch.__version__} ({error}). aihwkit's "
                    "wheels are built against one torch version; use tile_backend='torch' "
                    "(same physics, pure-torch tiles, CPU and CUDA) or install the torch version "
                    "your aihwkit was built for."
                    + (" (Only the compiled tiles simulate this hardware's forward weight noise "
                       "and IR drop.)" if self.w_noise or self.ir_drop or self.w_noise_type != "none" else "")
                )

    def check_times(self, times: Any) -> None:
        """Raise ValueError when the device model cannot drift to one of ``times`` (seconds).

        aihwkit's ``ReRamWan2022NoiseModel`` is fitted at a few times only (1 s, 1 day, 2 days
        by default) and refuses any other; the other models take any time.

        Example:
            >>> AnalogHardware(noise_model="reram-wan2022").check_times([1.0, 86400.0])
        """
        from aihwkit.inference.noise.reram import ReRamWan2022NoiseModel

        model = self.noise_model if _is_noise_model(self.noise_model) else None
        if model is None and self.noise_model == "reram-wan2022":
            model = self._build_noise_model()
        if isinstance(model, ReRamWan2022NoiseModel):
            fitted = sorted(float(t) for t in model.coeff_dic)
            bad = [float(t) for t in times if float(t) not in fitted]
            if bad:
                name = f"<{type(model).__name__} object>" if model is self.noise_model else repr(self.noise_model)
                raise ValueError(
                    f"AnalogHardware.noise_model={name} cannot drift to {bad} s: "
                    f"ReRamWan2022NoiseModel is fitted at {fitted} s only; "
                    f"use evaluation times among those, e.g. EvaluationConfig(times={tuple(fitted)})"
                )

    # --- provenance ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the fields.

        A noise model object of the user's own becomes ``describe_noise_model(obj)`` (its class
        and attributes), so a table's provenance names the device model it was measured on.

        Example:
            >>> AnalogHardware(noise_model="hermes").to_dict()["g_max"]
            20.7
        """
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["noise_params"] = _jsonable(dict(self.noise_params))
        if _is_noise_model(self.noise_model):
            d["noise_model"] = describe_noise_model(self.noise_model)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AnalogHardware":
        """Inverse of ``to_dict``; missing fields take their defaults, unknown ones are an error.

        A described noise model object (``to_dict`` of a hardware built with one) cannot be
        rebuilt from its description: pass the object itself.
        """
        fields = known_fields(cls, d)
        if isinstance(fields.get("noise_model"), Mapping):
            name = fields["noise_model"].get("class", "?")
            raise ValueError(f"AnalogHardware.noise_model: {name} was a noise model object; it cannot "
                             f"be rebuilt from its description: pass AnalogHardware(noise_model=<object>), "
                             f"or one of {list(NOISE_MODELS)} with noise_params")
        return cls(**fields)


def hardware_dict_with_defaults(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` (an ``AnalogHardware.to_dict``, possibly from an older version with fewer fields)
    with every field filled in, so that provenance written before a field existed compares
    equal to the same hardware today; ``d`` itself when it does not describe a valid hardware.

    Example:
        >>> hardware_dict_with_defaults({"g_max": 25.0})["tile_size"]
        512
    """
    try:
        return AnalogHardware.from_dict(d).to_dict()
    except (TypeError, ValueError):
        return dict(d)


def to_analog(model: nn.Module, hardware: AnalogHardware = AnalogHardware()) -> nn.Module:
    """A copy of ``model`` whose Conv and Linear layers are aihwkit analog layers.

    The input model is not changed. The copy is wrapped so that it has aihwkit's
    ``program_analog_weights`` / ``drift_analog_weights`` methods, and lives on the device
    of ``model``'s parameters.

    Example:
        >>> from torch import nn
        >>> analog = to_analog(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(16, 2)))
        >>> [type(m).__name__ for m in analog.children()]
        ['AnalogConv2d', 'Flatten', 'AnalogLinear']
    """
    from aihwkit.nn.conversion import convert_to_analog

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(hardware, AnalogHardware):
        raise TypeError(f"hardware must be an AnalogHardware, got {type(hardware).__name__}")
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        raise ValueError("model has uninitialised (lazy) parameters; run one forward pass first")
    hardware.check_available()
    # inplace=False: aihwkit deep-copies the model, so the caller's digital network is untouched.
    return convert_to_analog(model, hardware.rpu_config(), inplace=False)


def _strided_conv2d_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """AnalogConv2d.forward with the im2col done by ``Tensor.unfold`` views and one copy.

    Builds exactly the matrix aihwkit's own path builds (``F.unfold(...).transpose(-1, -2)``:
    one row per output pixel, columns in (channel, kh, kw) order) and hands it to the same
    analog tile, so every simulated non-ideality is unchanged. On CUDA, ``F.unfold`` launches
    one kernel per image, which made it the largest cost of a drift evaluation on an H100.
    """
    if x.dim() != 4:
        return type(self).forward(self, x)
    kh, kw = self.kernel_size
    (sh, sw), (ph, pw) = self.stride, self.padding
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph)) if ph or pw else x
    patches = xp.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, C, H', W', kh, kw), a view
    n, c, h, w = patches.shape[:4]
    cols = patches.permute(0, 2, 3, 1, 4, 5).reshape(n, h * w, c * kh * kw)
    out = self.analog_module(cols).transpose(-1, -2)
    return out.reshape(n, self.out_channels, h, w)


def _takes_unfold_path(m: Any) -> bool:
    """Whether aihwkit's AnalogConv2d ``m`` computes through ``F.unfold`` (not indexed)."""
    if m.NEEDS_INDEXED or tuple(m.dilation) != (1, 1) or isinstance(m.padding, str):
        return False
    indexed = m.use_indexed
    if indexed is None:  # aihwkit's own rule: indexed on its compiled CUDA tiles
        indexed = bool(getattr(m.analog_module, "is_cuda", False))
    return not indexed


def strided_unfold_default(device: str | torch.device) -> bool:
    """Whether training and drift evaluation use :func:`strided_unfold` on ``device``: on CUDA."""
    return torch.device(device).type == "cuda"


@contextlib.contextmanager
def strided_unfold(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """Inside the block, the aihwkit ``AnalogConv2d`` layers of ``model`` build their im2col
    from strided views instead of ``F.unfold``; on leaving it they are as before.

    The tiles see the same matrices, so forward values are identical and gradients equal up
    to float rounding (the backward sums in another order). Training and drift evaluation use
    it on CUDA, where it made the drift evaluation of ResNet-32 on 10,000 images 2.6x faster
    on an H100; on CPU it made no measurable difference. Yields the number of layers changed.

    Example:
        >>> analog = to_analog(nn.Sequential(nn.Conv2d(1, 2, 3)))
        >>> with strided_unfold(analog) as n:
        ...     y = analog(torch.randn(1, 1, 5, 5))
        >>> n, "forward" in vars(analog[0])
        (1, False)
    """
    from aihwkit.nn.modules.conv import AnalogConv2d

    from .simulation import forward_replaced

    layers = [m for m in model.modules() if isinstance(m, AnalogConv2d) and _takes_unfold_path(m)]
    with forward_replaced(layers if enabled else [], _strided_conv2d_forward) as n:
        yield n


def analog_layer_names(model: nn.Module) -> list[str]:
    """Names of the aihwkit analog layers inside ``model`` (empty for a digital network)."""
    from aihwkit.nn.modules.base import AnalogLayerBase
    from aihwkit.nn.modules.container import AnalogContainerBase

    return [
        name for name, m in model.named_modules()
        if isinstance(m, AnalogLayerBase) and not isinstance(m, AnalogContainerBase)
    ]


@functools.lru_cache(maxsize=1)
def _compiled_tiles_error() -> str:
    """'' when aihwkit's compiled inference tiles run a tiny forward pass, else the error text."""
    try:
        from aihwkit.nn import AnalogLinear
        from aihwkit.simulator.configs import InferenceRPUConfig

        layer = AnalogLinear(2, 2, bias=False, rpu_config=InferenceRPUConfig())
        layer.eval()
        with torch.no_grad():
            layer(torch.ones(1, 2))
    except Exception as e:  # any failure means the compiled tiles are unusable here
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}".strip()
    return ""
