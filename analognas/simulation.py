"""A fast forward pass for aihwkit's torch inference tiles, with the same simulated physics.

aihwkit's ``AnalogConv2d`` unfolds its input (im2col) and then runs every input and output
non-ideality on the unfolded matrix, which holds each pixel ``kh * kw`` times: on a 3x3
convolution the elementwise work is about nine times that of the image. Every input-side
step of aihwkit's torch tile is elementwise and maps zero to zero (clip to the input range,
divide by it, DAC rounding, clip to the input bound), so doing it on the image before the
convolution gives exactly the matrix the tile would see; the matrix product becomes a
``conv2d``; the output-side steps (output noise, ADC rounding and bound, scales, drift
compensation, learned out scaling, digital bias) then run once per output, as in aihwkit.

aihwkit stays the device model and the owner of every parameter: the programmed and drifted
weights, the input ranges, the mapping scales, the drift-compensation factor, the learned
out scales and the biases are read from the tiles at each call, ``program_analog_weights``,
``drift_analog_weights``, ``AnalogSGD`` and the tiles' clipping and remapping run unchanged,
and the training weight modifier is aihwkit's own function. Only the plumbing differs:

- values: the same to float32 rounding (the convolution sums in another order, so an output
  that lands within rounding of an ADC step boundary can round to the neighbouring step);
- gradients: the same, including the input-range gradient, which aihwkit takes per unfolded
  element; here it is computed from the unfolded output gradient in the backward pass;
- random draws: the same distributions (output noise per output, modifier noise per tile
  and batch), not the same numbers for a given seed.

Layers whose tile settings this path does not reproduce (noise management other than NONE or
CONSTANT, bound management, input noise or asymmetry, stochastic rounding, output asymmetry,
indexed or dilated convolutions) keep aihwkit's own forward; :func:`unsupported_reason` says
why for a layer.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from analognas.hardware import to_analog
    >>> analog = to_analog(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(16, 2))).eval()
    >>> with fast_simulation(analog) as n:
    ...     y = analog(torch.randn(2, 1, 4, 4))
    >>> n, tuple(y.shape)
    (2, (2, 2))
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SIMULATIONS", "fast_simulation", "unsupported_reason", "fast_layers", "tile_grid", "forward_replaced"]

#: how analog layers can be computed: this module's fast path, or aihwkit's own forward
SIMULATIONS = ("fast", "aihwkit")


# --- which tiles the fast path reproduces --------------------------------------------------
def _tile_reason(tile: Any) -> str | None:
    """None when the fast path reproduces ``tile`` (an aihwkit TorchInferenceTile), else why not."""
    from aihwkit.simulator.parameters.enums import (
        AnalogMVType,
        BoundManagementType,
        NoiseManagementType,
    )
    from aihwkit.simulator.tiles.inference_torch import TorchInferenceTile

    if type(tile) is not TorchInferenceTile:
        return f"tile class {type(tile).__name__} (only TorchInferenceTile)"
    io = tile.rpu_config.forward
    checks = (
        (io.is_perfect or io.mv_type == AnalogMVType.IDEAL, "an ideal (perfect) forward"),
        (io.mv_type != AnalogMVType.ONE_PASS, f"forward.mv_type={io.mv_type}"),
        (io.bound_management != BoundManagementType.NONE, f"forward.bound_management={io.bound_management}"),
        (io.noise_management not in (NoiseManagementType.NONE, NoiseManagementType.CONSTANT),
         f"forward.noise_management={io.noise_management}"),
        (io.inp_noise > 0, "forward.inp_noise > 0"),
        (io.inp_asymmetry != 0 or io.out_asymmetry != 0, "input/output asymmetry"),
        (io.inp_sto_round or io.out_sto_round, "stochastic rounding"),
        (getattr(tile.rpu_config.pre_post.input_range, "manage_output_clipping", False),
         "pre_post.input_range.manage_output_clipping"),
        (tile.analog_bias, "an analog bias"),
        (tile.rpu_config.modifier.per_batch_sample, "modifier.per_batch_sample"),
    )
    for failed, what in checks:
        if failed:
            return what
    return None


def tile_grid(module: Any) -> list[tuple[Any, int, int, int, int]]:
    """(tile, in_start, in_end, out_start, out_end) for each tile of an aihwkit analog module
    (a layer's ``analog_module``): which rows and columns of the layer's weight it holds.

    Example:
        >>> from analognas.hardware import AnalogHardware, to_analog
        >>> layer = to_analog(nn.Sequential(nn.Linear(40, 3)), AnalogHardware(tile_size=16))[0]
        >>> [t[1:3] for t in tile_grid(layer.analog_module)]
        [(0, 14), (14, 27), (27, 40)]
    """
    from aihwkit.simulator.tiles.array import TileModuleArray

    if type(module) is not TileModuleArray:
        return [(module, 0, module.in_size, 0, module.out_size)]
    tiles = []
    in_start = 0
    for in_size, row in zip(module.in_sizes, module.array):
        out_start = 0
        for out_size, tile in zip(module.out_sizes, row):
            tiles.append((tile, in_start, in_start + in_size, out_start, out_start + out_size))
            out_start += out_size
        in_start += in_size
    return tiles


def unsupported_reason(layer: nn.Module) -> str | None:
    """None when :func:`fast_simulation` runs ``layer`` (an aihwkit AnalogConv2d or AnalogLinear)
    on its fast path, else a short reason why it keeps aihwkit's forward.

    Example:
        >>> from analognas.hardware import to_analog
        >>> unsupported_reason(to_analog(nn.Sequential(nn.Linear(3, 2)))[0]) is None
        True
    """
    from aihwkit.nn.modules.conv import AnalogConv2d
    from aihwkit.nn.modules.linear import AnalogLinear

    if isinstance(layer, AnalogConv2d):
        if tuple(layer.dilation) != (1, 1) or isinstance(layer.padding, str):
            return "dilated or string-padded convolution"
        if layer.use_indexed or layer.NEEDS_INDEXED:
            return "indexed convolution"
        if getattr(layer, "groups", 1) != 1:
            return "grouped convolution"
    elif not isinstance(layer, AnalogLinear):
        return f"{type(layer).__name__} is not an AnalogConv2d or AnalogLinear"
    for tile, *_ in tile_grid(layer.analog_module):
        reason = _tile_reason(tile)
        if reason:
            return reason
    return None


# --- the tile computation -------------------------------------------------------------------
def _step(res: float, bound: float) -> float:
    """The size of one DAC/ADC level, as aihwkit's ``UniformQuantize`` computes it."""
    return (1 / res if res > 1.0 else res) * 2 * bound


@dataclasses.dataclass(frozen=True)
class _ConvGeometry:
    """How a tile's rows sit in a convolution's unfolded (channel, kh, kw) columns."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    c0: int  # first input channel the tile reads
    c1: int  # one past the last
    lead: int  # unfolded columns of channel c0 before the tile's first row
    trail: int  # unfolded columns of channel c1 - 1 after the tile's last row

    @classmethod
    def of(cls, layer: Any, start: int, end: int) -> "_ConvGeometry":
        kh, kw = layer.kernel_size
        k2 = kh * kw
        c0, c1 = start // k2, (end - 1) // k2 + 1
        return cls((kh, kw), tuple(layer.stride), tuple(layer.padding), c0, c1, start - c0 * k2, c1 * k2 - end)

    def kernel_of(self, weight: torch.Tensor) -> torch.Tensor:
        """The tile's (out, rows) weights as a conv kernel over channels c0..c1 (zeros elsewhere)."""
        if self.lead or self.trail:
            weight = F.pad(weight, (self.lead, self.trail))
        return weight.reshape(weight.shape[0], self.c1 - self.c0, *self.kernel)

    def unfold(self, x: torch.Tensor) -> torch.Tensor:
        """The tile's unfolded input rows, (N, rows, L), as aihwkit's F.unfold gives them."""
        cols = F.unfold(x, self.kernel, padding=self.padding, stride=self.stride)
        end = cols.shape[1] - self.trail
        return cols[:, self.lead:end]

    def rows(self) -> int:
        """The tile's rows: unfolded columns of channels c0..c1 it holds."""
        return (self.c1 - self.c0) * self.kernel[0] * self.kernel[1] - self.lead - self.trail

    def unfolded_sums(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Sum, sum of squares and count of the tile's unfolded input, without unfolding it.

        Each pixel enters the unfolded matrix as many times as kernel positions of the tile's
        rows read it: the unfold of ones, folded back, counts that multiplicity.
        """
        n, c, h, w = x.shape
        ones = torch.ones(1, c, h, w, dtype=x.dtype, device=x.device)
        cols = F.unfold(ones, self.kernel, padding=self.padding, stride=self.stride)
        cols[:, :self.lead] = 0
        cols[:, cols.shape[1] - self.trail:] = 0
        mult = F.fold(cols, (h, w), self.kernel, padding=self.padding, stride=self.stride)
        count = n * cols.shape[2] * self.rows()
        return (x * mult).sum(), (x * x * mult).sum(), count


class _InputRangeGrad(torch.autograd.Function):
    """Identity on a convolution tile's output; its backward adds aihwkit's input-range gradient.

    aihwkit's ``InputRangeForward`` takes, for every unfolded input element clipped at the
    range, the part of that element's own gradient that would widen the range. The image-level
    path only sees gradients summed over the copies of a pixel, so the per-copy gradients are
    rebuilt here from the output gradient (unfolded input gradient = dY^T W / range).
    """

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, input_range: torch.Tensor, upper: torch.Tensor,
                lower: torch.Tensor, clipped: torch.Tensor, weight: torch.Tensor,
                geometry: _ConvGeometry, params: Any) -> torch.Tensor:
        ctx.save_for_backward(input_range, upper, lower, clipped, weight)
        ctx.geometry, ctx.params = geometry, params
        return y.view_as(y)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        input_range, upper, lower, clipped, weight = ctx.saved_tensors
        geometry, params = ctx.geometry, ctx.params
        ir = input_range.detach()
        ir_grad = torch.zeros_like(input_range)
        any_upper, any_lower = bool(upper.any()), bool(lower.any())
        if any_upper or any_lower:
            n, o = grad.shape[:2]
            # gradient reaching each unfolded input element, (N, L, rows)
            g = torch.matmul(grad.reshape(n, o, -1).transpose(1, 2), weight) / ir
            if any_upper:
                ir_grad += (g.clamp(max=0.0) * geometry.unfold(upper.to(g.dtype)).transpose(1, 2)).sum()
            if any_lower:
                ir_grad -= (g.clamp(min=0.0) * geometry.unfold(lower.to(g.dtype)).transpose(1, 2)).sum()
        if params.gradient_relative:
            ir_grad *= ir
            ir_grad *= params.gradient_scale
        if params.decay > 0:
            kept = 1.0 - _unfolded_share(clipped, geometry)
            ir_grad += params.decay * ir * (kept > params.input_min_percentage)
        return grad, ir_grad, None, None, None, None, None, None


def _unfolded_share(mask: torch.Tensor, geometry: _ConvGeometry) -> torch.Tensor:
    """Share of the tile's unfolded input elements whose pixel is in ``mask``."""
    total, _, count = geometry.unfolded_sums(mask.to(torch.float32))
    return total / count


def _update_input_range(tile: Any, x: torch.Tensor, geometry: _ConvGeometry | None) -> None:
    """aihwkit's input-range initialisation from data (first ``init_from_data`` batches)."""
    params = tile.rpu_config.pre_post.input_range
    idx = tile.input_range_update_idx
    if not idx < params.init_from_data:
        return
    with torch.no_grad():
        if geometry is None:
            std = x.std()
        else:
            total, squares, count = geometry.unfolded_sums(x)
            std = ((squares - total * total / count) / (count - 1)).clamp(min=0).sqrt()
        if std > 0.0:
            tile.input_range.data = (tile.input_range.data * idx + params.init_std_alpha * std) / (idx + 1)
            tile.input_range_update_idx.data += 1
        tile.input_range.data = tile.input_range.data.abs()


def _noise_management(io: Any) -> float:
    """The constant input scale of noise management NONE or CONSTANT (the only ones supported)."""
    from aihwkit.simulator.parameters.enums import NoiseManagementType

    if io.noise_management == NoiseManagementType.CONSTANT and io.nm_thres > 0:
        return float(io.nm_thres)
    return 1.0


def _tile_weight(tile: Any, batch: int) -> torch.Tensor:
    """The tile's weights as the forward pass sees them (aihwkit's modifier noise in training)."""
    from aihwkit.simulator.tiles.torch_tile import TorchSimulatorTile

    if tile.training:
        return TorchSimulatorTile.modify_weight(tile.tile.weight, tile.rpu_config.modifier, batch)
    return tile.tile.weight


def _channel_view(y: torch.Tensor, conv: bool) -> tuple[int, ...]:
    return (1, -1) + (1,) * (y.dim() - 2) if conv else (1,) * (y.dim() - 1) + (-1,)


def _tile_forward(tile: Any, x: torch.Tensor, geometry: _ConvGeometry | None) -> torch.Tensor:
    """One tile's output for its slice ``x`` of the layer input (image for a conv, rows else).

    With autograd on, the operations mirror aihwkit's one by one (so do the gradients);
    without, they run in place and the per-output scales are applied as one product.
    """
    if tile.training and tile.input_range is not None:
        _update_input_range(tile, x, geometry)
    if torch.is_grad_enabled():
        return _tile_forward_autograd(tile, x, geometry)
    return _tile_forward_inplace(tile, x, geometry)


def _matmul(x: torch.Tensor, weight: torch.Tensor, geometry: _ConvGeometry | None) -> torch.Tensor:
    if geometry is None:
        return F.linear(x, weight)
    return F.conv2d(x, geometry.kernel_of(weight), stride=geometry.stride, padding=geometry.padding)


def _tile_forward_autograd(tile: Any, x: torch.Tensor, geometry: _ConvGeometry | None) -> torch.Tensor:
    from aihwkit.simulator.tiles.utils import UniformQuantize

    io = tile.rpu_config.forward
    ir = tile.input_range
    nm = _noise_management(io)
    x_clipped = None
    if ir is not None:
        bound = abs(ir.item())
        x = torch.clamp(x, -bound, bound)
        if geometry is None:
            from aihwkit.simulator.tiles.inference_torch import InputRangeForward

            x = InputRangeForward.apply(x, ir, tile.rpu_config.pre_post.input_range)
        x_clipped = x
        x = x / ir
    if nm != 1.0:
        x = x * (1.0 / nm)
    if io.inp_res > 0:
        x = UniformQuantize.apply(x, io.inp_res, io.inp_bound, False)
    inp_bound = io.inp_bound if io.inp_bound > 0 else math.inf
    masks = None
    if geometry is not None and ir is not None and ir.requires_grad:
        # aihwkit's input-range gradient counts a clipped element only where the DAC clamp
        # below lets its gradient through: torch.clamp passes none at the bounds themselves
        with torch.no_grad():
            high, low = x_clipped >= ir, x_clipped <= -ir
            inside = (x > -inp_bound) & (x < inp_bound)
            masks = (high & inside, low & inside, high | low)
    x = torch.clamp(x, -inp_bound, inp_bound)

    weight = _tile_weight(tile, x.shape[0])
    y = _matmul(x, weight, geometry)
    if masks is not None:
        y = _InputRangeGrad.apply(y, ir, *masks, weight.detach() / nm, geometry,
                                  tile.rpu_config.pre_post.input_range)
    channel = _channel_view(y, geometry is not None)
    if tile.tile.out_noise_values is not None:
        y = y + torch.randn_like(y) * tile.tile.out_noise_values.view(channel)
    elif io.out_noise > 0:
        y = y + io.out_noise * torch.randn_like(y)
    if io.out_res > 0:
        y = UniformQuantize.apply(y, io.out_res, io.out_bound, False)
    out_bound = io.out_bound if io.out_bound > 0 else math.inf
    y = torch.clamp(y, -out_bound, out_bound)
    if nm != 1.0 or io.out_scale != 1.0:
        y = y * (io.out_scale * nm)
    scale = ir
    if tile.mapping_scales is not None:
        mapping = tile.get_mapping_scales().view(channel)
        scale = mapping if scale is None else scale * mapping
    if scale is not None:
        y = y * scale
    if not tile.training and tile.rpu_config.drift_compensation is not None:
        y = y * tile.alpha
    if tile.out_scaling_alpha is not None:
        y = y * tile.out_scaling_alpha.view(channel)
    if tile.digital_bias and tile.bias is not None:
        y = y + tile.bias.view(channel)
    return y


def _tile_forward_inplace(tile: Any, x: torch.Tensor, geometry: _ConvGeometry | None) -> torch.Tensor:
    # The same operations as _tile_forward_autograd with the scalar factors merged, so that
    # each side makes as few passes over its tensor as it can: the DAC levels (integers)
    # go through the tile, and the ADC rounds in units of its own step.
    io = tile.rpu_config.forward
    ir = tile.input_range
    nm = _noise_management(io)
    inp_bound = io.inp_bound if io.inp_bound > 0 else math.inf
    in_step = _step(io.inp_res, io.inp_bound) if io.inp_res > 0 else 1.0
    scale_in = 1.0 / (nm * in_step)
    if ir is not None:
        value = ir.item()
        x = torch.clamp(x, -abs(value), abs(value))
        scale_in /= value
    else:
        x = x.clone()
    if scale_in != 1.0:
        x.mul_(scale_in)
    if io.inp_res > 0:
        x.round_()
    # the clipped input already lies within the DAC's bound unless that bound is below one
    if ir is None or inp_bound < 1.0:
        x.clamp_(-inp_bound / in_step, inp_bound / in_step)

    y = _matmul(x, _tile_weight(tile, x.shape[0]), geometry)
    channel = _channel_view(y, geometry is not None)
    out_step = _step(io.out_res, io.out_bound) if io.out_res > 0 else 1.0
    if in_step != out_step:
        y.mul_(in_step / out_step)
    if tile.tile.out_noise_values is not None:
        y.add_(torch.randn_like(y).mul_(tile.tile.out_noise_values.view(channel) / out_step))
    elif io.out_noise > 0:
        y.add_(torch.randn_like(y), alpha=io.out_noise / out_step)
    if io.out_res > 0:
        y.round_()
    out_bound = io.out_bound if io.out_bound > 0 else math.inf
    y.clamp_(-out_bound / out_step, out_bound / out_step)
    # one product for every per-output scale aihwkit applies in turn
    factor = torch.full((y.shape[1 if geometry is not None else -1],), io.out_scale * nm * out_step,
                        dtype=y.dtype, device=y.device)
    if ir is not None:
        factor = factor * ir.detach()
    if tile.mapping_scales is not None:
        factor = factor * tile.get_mapping_scales().detach().view(-1)
    if not tile.training and tile.rpu_config.drift_compensation is not None:
        factor = factor * torch.as_tensor(tile.alpha, dtype=y.dtype, device=y.device).view(-1)
    if tile.out_scaling_alpha is not None:
        factor = factor * tile.out_scaling_alpha.detach().view(-1)
    if tile.digital_bias and tile.bias is not None:
        return torch.addcmul(tile.bias.detach().view(channel), y, factor.view(channel))
    return y.mul_(factor.view(channel))


def _layer_forward(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """Forward of an aihwkit AnalogConv2d / AnalogLinear through the fast tile computation:
    tiles holding the same input rows are concatenated along the outputs, and the partial
    products of different input rows summed, as aihwkit's ``TileModuleArray`` does."""
    from aihwkit.nn.modules.conv import AnalogConv2d

    conv = isinstance(layer, AnalogConv2d)
    if conv and x.dim() != 4:
        return type(layer).forward(layer, x)
    module = layer.analog_module
    grid = tile_grid(module)
    rows: dict[int, list[torch.Tensor]] = {}
    for tile, start, end, _, _ in grid:
        if conv:
            geometry = _ConvGeometry.of(layer, start, end)
            y = _tile_forward(tile, x[:, geometry.c0:geometry.c1], geometry)
        else:
            y = _tile_forward(tile, x[..., start:end], None)
        rows.setdefault(start, []).append(y)
    out = None
    for parts in rows.values():
        y = parts[0] if len(parts) == 1 else torch.cat(parts, 1 if conv else -1)
        out = y if out is None else out + y
    bias = getattr(module, "bias", None)
    if grid[0][0] is not module and bias is not None:  # a tile array keeps one digital bias
        out = out + bias.view(_channel_view(out, conv))
    return out


def fast_layers(model: nn.Module) -> tuple[list[nn.Module], dict[str, str]]:
    """The analog layers of ``model`` the fast path runs, and {name: reason} for the others."""
    from aihwkit.nn.modules.conv import AnalogConv2d
    from aihwkit.nn.modules.linear import AnalogLinear

    fast, slow = [], {}
    for name, m in model.named_modules():
        if isinstance(m, (AnalogConv2d, AnalogLinear)):
            reason = unsupported_reason(m)
            if reason is None:
                fast.append(m)
            else:
                slow[name] = reason
    return fast, slow


@contextlib.contextmanager
def fast_simulation(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """Inside the block, the supported analog layers of ``model`` run the fast forward;
    on leaving it they are as before. Yields the number of layers switched.

    The switch is an instance attribute removed on exit: the classes, the state dict and
    pickling are untouched, and aihwkit's programming, drift, optimizer and remapping work as
    usual inside the block.
    """
    with forward_replaced(fast_layers(model)[0] if enabled else [], _layer_forward) as n:
        yield n


@contextlib.contextmanager
def forward_replaced(layers: Iterable[nn.Module], forward: Callable[..., Any]) -> Iterator[int]:
    """Inside the block, ``forward`` (a function of the layer and its input) is the forward of
    each of ``layers`` that has no replacement yet; yields how many were switched.

    The replacement is an instance attribute removed on exit, so the class and the state dict
    never change.
    """
    changed = []
    for m in layers:
        if "forward" not in vars(m):
            m.forward = types.MethodType(forward, m)
            changed.append(m)
    try:
        yield len(changed)
    finally:
        for m in changed:
            vars(m).pop("forward", None)
