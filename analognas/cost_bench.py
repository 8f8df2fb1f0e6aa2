"""The cost model's benchmarks: a table of reference networks, and the check against aihwkit.

Example:
    >>> from search_spaces import REFERENCE_NETWORKS, ResNetLikeSpace
    >>> df = cost_table({"resnet20": (ResNetLikeSpace(), REFERENCE_NETWORKS["resnet20"])})
    >>> df[["network", "mode", "tiles"]].values.tolist()
    [['resnet20', 'one-phase', 38], ['resnet20', 'four-phase', 38]]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from .progress import progress_bar

from analognas.cost import HERMES_MODES, HERMES_ONE_PHASE, IMCChip, aihwkit_layer_counts, network_cost
from search_spaces.base import SearchSpace

__all__ = ["cost_table", "check_against_aihwkit", "markdown_table"]


def cost_table(networks: Mapping[str, tuple[SearchSpace, Any]], chips: Mapping[str, IMCChip] = HERMES_MODES,
               input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> pd.DataFrame:
    """One row per network and chip: parameters, tiles, chips, MVMs, core MVMs, ADC conversions,
    digital operations, energy (µJ) charging whole cores and charging the cells used
    (``IMCChip.array_energy_by_use``: the two bounds), latency layer by layer (ms) and pipeline
    interval (µs)."""
    rows = []
    for name, (space, arch) in networks.items():
        params = space.num_params(arch, input_shape, num_classes)
        for mode, chip in chips.items():
            c = network_cost(space, arch, chip, input_shape, num_classes)
            rows.append({"network": name, "mode": mode, "params": params, "tiles": c.tiles, "chips": c.chips,
                         "mvms": c.mvms, "tile_mvms": c.tile_mvms, "adc_conversions": c.adc_conversions,
                         "digital_ops": c.digital_ops, "energy_uJ": c.energy_j * 1e6,
                         "energy_by_use_uJ": network_cost(space, arch, chip.replace(array_energy_by_use=True),
                                                          input_shape, num_classes).energy_j * 1e6,
                         "latency_ms": c.latency_s * 1e3, "pipeline_interval_us": c.pipeline_interval_s * 1e6})
    return pd.DataFrame(rows)


def check_against_aihwkit(space: SearchSpace, n: int, max_params: int | None = None, seed: int = 0,
                          chip: IMCChip = HERMES_ONE_PHASE, input_shape: tuple[int, int, int] = (3, 32, 32),
                          num_classes: int = 10, progress: bool = True) -> dict[str, Any]:
    """Compare, on ``n`` random networks of ``space`` (below ``max_params``), every analog
    layer's tiles and reuse factor from :func:`~analognas.cost.network_cost` with aihwkit's
    ``analog_summary`` of the built, converted network.

    Returns the counts: ``networks``, ``layers`` compared, ``split_layers`` (over several
    tiles), ``mismatches`` (networks that differ, with their architectures).
    """
    kwargs = {} if max_params is None else {"max_params": max_params}
    if max_params is not None and space.name == "resnet_like":
        kwargs["input_shape"] = tuple(input_shape)
    archs = space.sample_many(n, seed, **kwargs)
    layers = split = 0
    mismatches = []
    for arch in progress_bar(archs, disable=not progress, desc=f"aihwkit check ({space.name})"):
        df = network_cost(space, arch, chip, input_shape, num_classes).layers
        df = df[df["kind"] != "digital"]
        ours = list(zip(df["tiles"].tolist(), df["mvms"].tolist()))
        reference = aihwkit_layer_counts(space, arch, chip, input_shape, num_classes)
        layers += len(ours)
        split += int((df["tiles"] > 1).sum())
        if ours != reference:
            mismatches.append(arch.to_dict())
    return {"space": space.name, "networks": len(archs), "layers": layers, "split_layers": split,
            "mismatches": mismatches, "max_params": max_params, "seed": seed, "core": chip.core_rows,
            "input_shape": list(input_shape)}


def markdown_table(df: pd.DataFrame, digits: int = 3) -> str:
    """``df`` as a Markdown table; floats to ``digits`` significant digits, integers with commas.

    Example:
        >>> print(markdown_table(pd.DataFrame({"a": [1234], "b": [0.012345]})))
        | a | b |
        | --- | --- |
        | 1,234 | 0.0123 |
    """
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.{digits}g}"
        if isinstance(v, int) or hasattr(v, "dtype") and v.dtype.kind in "iu":
            return f"{int(v):,}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "| " + " | ".join("---" for _ in df.columns) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
