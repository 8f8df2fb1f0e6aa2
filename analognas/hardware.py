"""The analog hardware model: a small dataclass that becomes an aihwkit RPU configuration.

A user who designs in-memory-computing hardware changes the fields of ``AnalogHardware``;
``rpu_config()`` turns them into aihwkit's configuration and ``to_analog`` converts a digital
network into one made of aihwkit analog layers that use it.

Example:
    >>> from torch import nn
    >>> hw = AnalogHardware(g_max=20.0, adc_bits=6)
    >>> analog = to_analog(nn.Sequential(nn.Linear(8, 4)), hw)
    >>> type(analog[0]).__name__
    'AnalogLinear'
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import types
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

NOISE_MODELS = ("pcm",)
CLIP_TYPES = ("fixed", "sigma", "none")
TILE_BACKENDS = ("torch", "compiled")
_MIN_BITS, _MAX_BITS = 2, 24


# --- helpers ------------------------------------------------------------------------------
def _resolution(bits: int | None) -> float:
    # aihwkit: a resolution r in (0, 1] means steps of r over the range; <= 0 means no quantisation.
    return -1.0 if bits is None else 1.0 / (2**bits - 2)


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"AnalogHardware.{name}={value!r} is not allowed; allowed: {list(allowed)}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"AnalogHardware.{name}={value!r} is not allowed; allowed: True or False")


def _check_number(name: str, value: Any, what: str, ok) -> None:
    if (
        isinstance(value, bool) or not isinstance(value, (int, float))
        or not math.isfinite(value) or not ok(value)
    ):
        raise ValueError(f"AnalogHardware.{name}={value!r} is not allowed; allowed: {what}")


def _known_fields(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` as keyword arguments of dataclass ``cls``, with an error naming unknown keys."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{cls.__name__}.from_dict needs a dict, got {type(d).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in d if k not in names]
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; allowed: {names}")
    return dict(d)



@dataclasses.dataclass(frozen=True)
class AnalogHardware:
    """The analog in-memory-computing hardware a network is trained for and evaluated on.

    The defaults follow aihwkit's ``StandardHWATrainingPreset`` (Rasch et al., 2023), the setup
    behind AnalogNAS and AnalogNAS-Bench: PCM devices, 8-bit DAC and ADC, output noise 0.04,
    global drift compensation, 512-row tiles, digital biases.

    Fields (what they model, their aihwkit setting):

    - ``noise_model``: device model applied when weights are programmed and drift. Only
      ``"pcm"``: aihwkit's ``PCMLikeNoiseModel`` (programming noise, 1/f read noise and
      conductance drift of phase-change memory, fitted to measured devices).
    - ``g_max``: maximum device conductance in µS (default 25.0, the value the PCM model was
      fitted at). Programming noise is relative to it.
    - ``prog_noise_scale``, ``read_noise_scale``, ``drift_scale``: multiply the PCM model's
      programming noise, read noise and drift (1.0 = as measured, 0.0 = switch that effect off).
    - ``drift_compensation``: rescale the outputs by a global factor read from the tile at each
      inference time (aihwkit's ``GlobalDriftCompensation``); without it drift shrinks all
      outputs over time.
    - ``dac_bits``: input (DAC) resolution in bits, default 8. aihwkit quantises inputs to
      ``2**bits - 2`` steps over the input range (``forward.inp_res = 1 / (2**bits - 2)``, 8 bits
      give the preset's 254 steps). ``None`` means no quantisation.
    - ``adc_bits``: output (ADC) resolution in bits, default 8 (``forward.out_res``), same
      convention as ``dac_bits``.
    - ``out_noise``: standard deviation of the Gaussian noise added to every tile output,
      relative to the output range (``forward.out_noise``, default 0.04).
    - ``out_bound``: output saturation of the ADC relative to a fully-on input on a
      maximal-conductance column (``forward.out_bound``, default 10.0).
    - ``modifier_std``: standard deviation of the Gaussian noise added to the weights at every
      training mini-batch, relative to the largest weight of the tile (aihwkit's ``AddNormal``
      weight modifier, default 0.08). This is what makes the training hardware-aware; 0.0
      switches it off.
    - ``clip``: weight clipping during training: ``"fixed"`` clips to ``±clip_value`` (default,
      ``clip_value=1.0`` as in the preset, where weights are scaled to [-1, 1] per column),
      ``"sigma"`` clips to ``±clip_sigma`` standard deviations of the layer's weights,
      ``"none"`` does not clip.
    - ``tile_size``: rows and columns of one crossbar tile (``mapping.max_input_size`` and
      ``max_output_size``, default 512). Larger weight matrices are split over several tiles.
    - ``digital_bias``: biases are added digitally after the tile rather than stored in it
      (default True; aihwkit's torch tiles support only digital biases).
    - ``tile_backend``: ``"torch"`` (default) uses aihwkit's pure-torch tiles
      (``TorchInferenceRPUConfig``), which run on CPU and CUDA with any recent torch;
      ``"compiled"`` uses aihwkit's C++/CUDA tiles (``InferenceRPUConfig``), faster on CPU but
      only working with the torch version aihwkit was built against.

    Fixed settings taken from the preset: column-wise weight scaling to the conductance range
    with learned output scales, channel-wise weight remapping after each update, learned input
    ranges (initialised from the first 100 batches), constant noise management and no bound
    management. Two effects of the preset are left out because aihwkit's torch tiles cannot
    simulate them: IR drop and PCM read noise injected during training (``forward.w_noise``);
    the weight modifier takes the latter's role during training, and the PCM model still adds
    read noise at inference.
    """

    noise_model: str = "pcm"
    g_max: float = 25.0
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0
    drift_compensation: bool = True
    dac_bits: int | None = 8
    adc_bits: int | None = 8
    out_noise: float = 0.04
    out_bound: float = 10.0
    modifier_std: float = 0.08
    clip: str = "fixed"
    clip_value: float = 1.0
    clip_sigma: float = 2.5
    tile_size: int = 512
    digital_bias: bool = True
    tile_backend: str = "torch"

    def __post_init__(self) -> None:
        _check_choice("noise_model", self.noise_model, NOISE_MODELS)
        _check_number("g_max", self.g_max, "a positive number (µS)", lambda v: v > 0)
        for name in ("prog_noise_scale", "read_noise_scale", "drift_scale"):
            _check_number(name, getattr(self, name), "a number >= 0", lambda v: v >= 0)
        _check_bool("drift_compensation", self.drift_compensation)
        for name in ("dac_bits", "adc_bits"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int)
                or not _MIN_BITS <= value <= _MAX_BITS
            ):
                raise ValueError(
                    f"AnalogHardware.{name}={value!r} is not allowed; "
                    f"allowed: an integer from {_MIN_BITS} to {_MAX_BITS}, or None (no quantisation)"
                )
        _check_number("out_noise", self.out_noise, "a number >= 0", lambda v: v >= 0)
        _check_number("out_bound", self.out_bound, "a positive number", lambda v: v > 0)
        _check_number("modifier_std", self.modifier_std, "a number >= 0", lambda v: v >= 0)
        _check_choice("clip", self.clip, CLIP_TYPES)
        _check_number("clip_value", self.clip_value, "a positive number", lambda v: v > 0)
        _check_number("clip_sigma", self.clip_sigma, "a positive number", lambda v: v > 0)
        if isinstance(self.tile_size, bool) or not isinstance(self.tile_size, int) or self.tile_size < 1:
            raise ValueError(
                f"AnalogHardware.tile_size={self.tile_size!r} is not allowed; "
                "allowed: a positive integer (rows and columns of one crossbar tile)"
            )
        _check_bool("digital_bias", self.digital_bias)
        _check_choice("tile_backend", self.tile_backend, TILE_BACKENDS)
        if self.tile_backend == "torch" and not self.digital_bias:
            raise ValueError(
                "AnalogHardware.digital_bias=False is not allowed with tile_backend='torch': "
                "aihwkit's torch tiles keep biases digital; use digital_bias=True or "
                "tile_backend='compiled'"
            )

    # --- aihwkit ------------------------------------------------------------------------
    def rpu_config(self) -> Any:
        """The aihwkit RPU configuration for this hardware (a new object at every call).

        Example:
            >>> type(AnalogHardware().rpu_config()).__name__
            'TorchInferenceRPUConfig'
        """
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
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
            WeightRemapType,
        )
        from aihwkit.simulator.presets.utils import PresetIOParameters

        cls = TorchInferenceRPUConfig if self.tile_backend == "torch" else InferenceRPUConfig
        forward = PresetIOParameters(
            inp_res=_resolution(self.dac_bits),
            out_res=_resolution(self.adc_bits),
            bound_management=BoundManagementType.NONE,
            noise_management=NoiseManagementType.CONSTANT,
            nm_thres=1.0,
            out_noise=self.out_noise,
            out_bound=self.out_bound,
            w_noise=0.0,
            ir_drop=0.0,
        )
        if self.clip == "fixed":
            clip = WeightClipParameter(type=WeightClipType.FIXED_VALUE, fixed_value=self.clip_value)
        elif self.clip == "sigma":
            clip = WeightClipParameter(type=WeightClipType.LAYER_GAUSSIAN, sigma=self.clip_sigma)
        else:
            clip = WeightClipParameter(type=WeightClipType.NONE)
        modifier = WeightModifierParameter(
            type=WeightModifierType.ADD_NORMAL if self.modifier_std > 0 else WeightModifierType.NONE,
            std_dev=self.modifier_std,
            rel_to_actual_wmax=True,
        )
        return cls(
            mapping=MappingParameter(
                weight_scaling_omega=1.0,
                weight_scaling_columnwise=True,
                max_input_size=self.tile_size,
                max_output_size=self.tile_size,
                digital_bias=self.digital_bias,
                learn_out_scaling=True,
                out_scaling_columnwise=True,
            ),
            forward=forward,
            remap=WeightRemapParameter(remapped_wmax=1.0, type=WeightRemapType.CHANNELWISE_SYMMETRIC),
            noise_model=PCMLikeNoiseModel(
                g_max=self.g_max,
                prog_noise_scale=self.prog_noise_scale,
                read_noise_scale=self.read_noise_scale,
                drift_scale=self.drift_scale,
            ),
            drift_compensation=GlobalDriftCompensation() if self.drift_compensation else None,
            pre_post=PrePostProcessingParameter(
                input_range=InputRangeParameter(
                    enable=True,
                    init_value=3.0,
                    init_from_data=100,
                    init_std_alpha=3.0,
                    decay=0.001,
                    input_min_percentage=0.95,
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
                )

    # --- provenance ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AnalogHardware":
        """Inverse of ``to_dict``; missing fields take their defaults, unknown ones are an error."""
        return cls(**_known_fields(cls, d))


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

    changed = []
    if enabled:
        for m in model.modules():
            # an instance attribute, removed on exit: the class and the state dict never change
            if isinstance(m, AnalogConv2d) and "forward" not in vars(m) and _takes_unfold_path(m):
                m.forward = types.MethodType(_strided_conv2d_forward, m)
                changed.append(m)
    try:
        yield len(changed)
    finally:
        for m in changed:
            vars(m).pop("forward", None)


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
