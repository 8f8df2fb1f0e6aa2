"""Analog hardware settings as surrogate features, and whether a setting lies in a surrogate's domain.

A surrogate fitted on results tables measured on several hardware settings (say ADC resolutions
and maximal conductances) takes the :class:`~analognas.AnalogHardware` fields whose values differ
between those settings as features, next to the architecture's. :class:`HardwareFeatures` holds
the settings (``AnalogHardware.to_dict()`` each) and derives everything from them: which fields
vary, how each is encoded, the feature names, and what a new setting would be:

- a number (``adc_bits``, ``g_max``, ...): one feature ``hw_<field>``; ``None`` (e.g. no ADC
  quantisation) is XGBoost's missing value;
- a boolean: one feature ``hw_<field>``, 0 or 1;
- anything else (a device model's name, ``noise_params``): one 0/1 feature per fitted value,
  ``hw_<field>=<value as JSON>``.

Asking about another setting (:meth:`HardwareFeatures.check`):

- a field that never varied in training but differs now is *refused*: the surrogate cannot tell
  what it changes (this is every difference for a surrogate fitted on one setting);
- so is a value a categorical field (or ``None`` of a numeric one) never took;
- a number the surrogate was not fitted on is a *warning*: outside the fitted range the trees
  predict as at the nearest fitted value; between fitted values they predict as at one of its
  neighbours (an XGBoost split ``x < 8`` puts 7 with 6), not in between: trees do not
  interpolate (measured in docs/chip.md).

Example:
    >>> hw = HardwareFeatures([{"adc_bits": 6, "g_max": 25.0}, {"adc_bits": 8, "g_max": 25.0}])
    >>> hw.names
    ['hw_adc_bits']
    >>> hw.encode([{"adc_bits": 8, "g_max": 25.0}]).tolist()
    [[8.0]]
    >>> refusals, warned = hw.check({"adc_bits": 10, "g_max": 25.0})
    >>> refusals, warned[0][:63]
    ([], 'AnalogHardware.adc_bits=10 lies outside the fitted values [6, 8]')
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["HARDWARE_PREFIX", "HardwareDomainWarning", "HardwareFeatures", "check_hardware", "hardware_dict",
           "is_setting"]

#: prefix of the hardware features' names
HARDWARE_PREFIX = "hw_"


class HardwareDomainWarning(UserWarning):
    """A surrogate was asked about hardware outside the settings it was fitted on."""


def hardware_dict(hardware: Any) -> dict[str, Any]:
    """``hardware`` (an ``AnalogHardware`` or its ``to_dict()``, possibly of an older version
    with fewer fields) as a full ``to_dict()``, so equal settings compare equal.

    Example:
        >>> hardware_dict({"adc_bits": 6})["g_max"]
        25.0
    """
    from analognas.hardware import AnalogHardware, hardware_dict_with_defaults

    if isinstance(hardware, AnalogHardware):
        return hardware.to_dict()
    if isinstance(hardware, Mapping):
        return hardware_dict_with_defaults(hardware)
    raise TypeError(f"hardware must be an AnalogHardware or its to_dict(), got {type(hardware).__name__}")


def is_setting(value: Any) -> bool:
    """Whether ``value`` is one hardware setting (an ``AnalogHardware`` or a mapping of its
    fields), not a sequence of them."""
    from analognas.hardware import AnalogHardware

    return isinstance(value, (AnalogHardware, Mapping))


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(values: Sequence[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(v is None or _is_number(v) for v in values):
        return "number"
    return "category"


class HardwareFeatures:
    """The hardware settings a surrogate was fitted on, and the features they give.

    Args:
        settings: hardware settings (``AnalogHardware`` values or ``to_dict()`` dicts, complete
            or not: compare them after :func:`hardware_dict` when they may be partial); repeats
            are dropped, the first occurrence keeps its place.

    Example:
        >>> hw = HardwareFeatures([{"adc_bits": 6, "g_max": 10.0}, {"adc_bits": 8, "g_max": 25.0}])
        >>> hw.fields, hw.describe()
        (['adc_bits', 'g_max'], '2 hardware settings: adc_bits 6/8, g_max 10.0/25.0')
    """

    def __init__(self, settings: Sequence[Any]) -> None:
        distinct: list[dict[str, Any]] = []
        for s in settings:
            d = s.to_dict() if hasattr(s, "to_dict") else dict(s)
            if d not in distinct:
                distinct.append(d)
        if not distinct:
            raise ValueError("HardwareFeatures needs at least one hardware setting")
        self.settings = distinct
        keys = list(dict.fromkeys(k for d in distinct for k in d))
        #: fields whose values differ between the settings, in AnalogHardware's field order
        self.fields = [k for k in keys if any(d.get(k) != distinct[0].get(k) for d in distinct)]
        self.kinds = {f: _kind([d.get(f) for d in distinct]) for f in self.fields}
        #: the fitted values of each varying field (JSON texts for categories), in first-seen order
        self.values = {f: list(dict.fromkeys(_text(d.get(f)) if self.kinds[f] == "category" else d.get(f)
                                             for d in distinct)) for f in self.fields}

    def __repr__(self) -> str:
        return f"HardwareFeatures({self.describe()})"

    @property
    def names(self) -> list[str]:
        """Feature names, in column order."""
        out = []
        for f in self.fields:
            if self.kinds[f] == "category":
                out.extend(f"{HARDWARE_PREFIX}{f}={v}" for v in self.values[f])
            else:
                out.append(f"{HARDWARE_PREFIX}{f}")
        return out

    def encode(self, settings: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One feature row per setting (dicts as :func:`hardware_dict` gives them)."""
        rows = np.zeros((len(settings), len(self.names)))
        for i, d in enumerate(settings):
            col = 0
            for f in self.fields:
                value = d.get(f)
                if self.kinds[f] == "category":
                    cats = self.values[f]
                    if _text(value) in cats:
                        rows[i, col + cats.index(_text(value))] = 1.0
                    col += len(cats)
                else:
                    rows[i, col] = np.nan if value is None else float(value)
                    col += 1
        return rows

    def check(self, setting: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """(refusals, warnings) for a setting (a :func:`hardware_dict`): one line per field.

        Refusals: fields that never varied in training and differ, and values of a varying
        field the surrogate cannot place (an unseen category, ``None``). Warnings: numbers
        it was not fitted on (outside the fitted range, or between fitted values).
        """
        refusals, outside = [], []
        first = self.settings[0]
        for f in dict.fromkeys([*first, *setting]):
            value = setting.get(f)
            if f not in self.fields:
                if value != first.get(f):
                    refusals.append(f"AnalogHardware.{f}={value!r} is not allowed for this surrogate; allowed: "
                                    f"{first.get(f)!r}, the only value it was fitted on (it cannot tell what "
                                    f"{f} changes)")
                continue
            seen = self.values[f]
            if self.kinds[f] == "category" or (value is None and None not in seen):
                if (_text(value) if self.kinds[f] == "category" else value) not in seen:
                    shown = [json.loads(v) for v in seen] if self.kinds[f] == "category" else seen
                    refusals.append(f"AnalogHardware.{f}={value!r} is not allowed for this surrogate; allowed: "
                                    f"one of the fitted values {shown}")
                continue
            numbers = sorted(v for v in seen if v is not None)
            if value is None or self.kinds[f] != "number" or not numbers or value in numbers:
                continue
            if not numbers[0] <= value <= numbers[-1]:
                outside.append(f"AnalogHardware.{f}={value!r} lies outside the fitted values "
                               f"[{_short(numbers[0])}, {_short(numbers[-1])}]: extrapolation (the trees "
                               "predict as at the nearest fitted value)")
            else:
                outside.append(f"AnalogHardware.{f}={value!r} was not fitted on; it lies between the fitted "
                               f"values [{', '.join(_short(v) for v in numbers)}]: the trees predict as at a neighbouring "
                               "fitted value, not in between")
        return refusals, outside

    def describe(self) -> str:
        """One line: how many settings, and the values of the fields that vary."""
        if len(self.settings) == 1:
            return "1 hardware setting"
        varying = ", ".join(f"{f} " + "/".join(str(json.loads(v)) if self.kinds[f] == "category" else str(v)
                                               for v in self.values[f]) for f in self.fields)
        return f"{len(self.settings)} hardware settings: {varying}"

    def choices(self) -> str:
        """The fitted settings, one short description each (their varying fields)."""
        return "; ".join(", ".join(f"{f}={d.get(f)!r}" for f in self.fields) for d in self.settings)


def _short(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and math.isfinite(value) else str(value)


def check_hardware(features: HardwareFeatures | None, setting: Mapping[str, Any],
                   allow_unseen: bool = False) -> list[str]:
    """Why ``setting`` lies outside the settings of ``features`` (None: not recorded), one
    reason per entry, warned as :class:`HardwareDomainWarning`; refusals raise a one-line
    ValueError unless ``allow_unseen``, which turns them into warnings too."""
    if features is None:
        reasons = ["the surrogate records no hardware settings (it was saved before they were recorded, or "
                   "fitted without them): whether this hardware lies in its domain cannot be checked"]
    else:
        refusals, reasons = features.check(setting)
        if refusals and not allow_unseen:
            raise ValueError("; ".join(refusals))
        reasons = refusals + reasons
    for reason in reasons:
        warnings.warn(reason, HardwareDomainWarning, stacklevel=3)
    return reasons
