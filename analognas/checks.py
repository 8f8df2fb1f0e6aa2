"""Checks of configuration values: one home, one phrasing for every refusal.

Every check raises a one-line ``ValueError`` of the form
``<Owner.>field=<value!r> is not allowed; allowed: <what>``, where ``<what>`` follows from the
bounds given, and returns the value as a plain Python object. The rules are the same
everywhere:

- a bool is never an integer or a number (``True`` is not 1 here);
- numpy integers and floats are numbers; ``numpy=False`` takes only Python ``int`` and
  ``float`` (and their subclasses), for values that go on, as they are, to JSON or torch;
- NaN is never a number, and infinity only where ``allow_inf=True``;
- ``none_ok`` lets ``None`` through; a string there also says what ``None`` means.

Example:
    >>> check_int("epochs", 3, 0, owner="TrainingConfig")
    3
    >>> check_int("epochs", -1, 0, owner="TrainingConfig")
    Traceback (most recent call last):
    ...
    ValueError: TrainingConfig.epochs=-1 is not allowed; allowed: an integer >= 0
    >>> check_number("lr", 0.0, gt=0)
    Traceback (most recent call last):
    ...
    ValueError: lr=0.0 is not allowed; allowed: a positive number
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

__all__ = ["not_allowed", "check_int", "check_number", "check_bool", "check_choice", "known_fields"]


def not_allowed(name: str, value: Any, allowed: str, owner: str | None = None) -> ValueError:
    """The standard refusal of ``value`` for field ``name`` (returned, to be raised).

    Example:
        >>> str(not_allowed("clip", "gauss", "['fixed', 'sigma', 'none']", owner="AnalogHardware"))
        "AnalogHardware.clip='gauss' is not allowed; allowed: ['fixed', 'sigma', 'none']"
    """
    text = repr(value)
    if "\n" in text:  # e.g. an array: the message stays one line
        text = " ".join(text.split())
    return ValueError(f"{owner + '.' if owner else ''}{name}={text} is not allowed; allowed: {allowed}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _or_none(what: str, none_ok: bool | str) -> str:
    if not none_ok:
        return what
    return f"{what} or None" + (f" ({none_ok})" if isinstance(none_ok, str) else "")


def _is_number(value: Any, numpy: bool) -> bool:
    kinds = (int, float, np.integer, np.floating) if numpy else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None, *,
              none_ok: bool | str = False, numpy: bool = True, owner: str | None = None,
              what: str | None = None) -> int | None:
    """``value`` as an ``int`` when it is an integer from ``minimum`` to ``maximum``.

    Args:
        name, value: the field and its value.
        minimum, maximum: inclusive bounds (None: none).
        none_ok: let ``None`` through (returned as is); a string says what it means.
        numpy: accept numpy integers (False: Python ``int`` only).
        owner: the class the field belongs to, put before the name ("TrainingConfig").
        what: the allowed values in words, instead of the wording made from the bounds.

    Example:
        >>> check_int("adc_bits", None, 2, 24, none_ok="no quantisation")
        >>> check_int("adc_bits", True, 2, 24, none_ok="no quantisation")
        Traceback (most recent call last):
        ...
        ValueError: adc_bits=True is not allowed; allowed: an integer from 2 to 24 or None (no quantisation)
    """
    if value is None and none_ok:
        return None
    kinds = (int, np.integer) if numpy else int
    if (isinstance(value, kinds) and not isinstance(value, bool)
            and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)):
        return int(value)
    if what is None:
        if minimum is not None and maximum is not None:
            what = f"an integer from {minimum} to {maximum}"
        elif minimum == 1:
            what = "a positive integer"
        elif minimum is not None:
            what = f"an integer >= {minimum}"
        else:
            what = "an integer" if maximum is None else f"an integer <= {maximum}"
    raise not_allowed(name, value, _or_none(what, none_ok), owner)


def check_number(name: str, value: Any, *, gt: float | None = None, ge: float | None = None,
                 lt: float | None = None, le: float | None = None, none_ok: bool | str = False,
                 allow_inf: bool = False, numpy: bool = True, owner: str | None = None,
                 what: str | None = None) -> float | None:
    """``value`` as a ``float`` when it is a number within the bounds.

    Args:
        name, value: the field and its value.
        gt, ge, lt, le: bounds: greater than, at least, less than, at most (None: none).
        none_ok: let ``None`` through (returned as is); a string says what it means.
        allow_inf: accept infinity (within the bounds); NaN is never accepted.
        numpy: accept numpy integers and floats (False: Python ``int`` and ``float`` only).
        owner, what: as in :func:`check_int`.

    Example:
        >>> check_number("momentum", 0.9, ge=0, lt=1)
        0.9
        >>> check_number("momentum", float("nan"), ge=0, lt=1)
        Traceback (most recent call last):
        ...
        ValueError: momentum=nan is not allowed; allowed: a number in [0, 1)
    """
    if value is None and none_ok:
        return None
    if _is_number(value, numpy):
        # an int too large for a float is finite; only floats can be NaN or infinite
        x = value if isinstance(value, (int, np.integer)) else float(value)
        if (not (isinstance(x, float) and (math.isnan(x) or (math.isinf(x) and not allow_inf)))
                and (gt is None or x > gt) and (ge is None or x >= ge)
                and (lt is None or x < lt) and (le is None or x <= le)):
            return float(value)
    if what is None:
        what = _describe_range(gt, ge, lt, le)
    raise not_allowed(name, value, _or_none(what, none_ok), owner)


def _describe_range(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    low = gt if gt is not None else ge
    high = lt if lt is not None else le
    if low is None and high is None:
        return "a number"
    if high is None:
        return "a positive number" if gt == 0 else f"a number {'>' if gt is not None else '>='} {_num(low)}"
    if low is None:
        return f"a number {'<' if lt is not None else '<='} {_num(high)}"
    if ge is not None and le is not None:
        return f"a number from {_num(ge)} to {_num(le)}"
    return f"a number in {'(' if gt is not None else '['}{_num(low)}, {_num(high)}{')' if lt is not None else ']'}"


def check_bool(name: str, value: Any, *, none_ok: bool = False, numpy: bool = True,
               owner: str | None = None) -> bool | None:
    """``value`` as a ``bool`` when it is True or False (numpy's ``bool_`` too, unless ``numpy=False``).

    Example:
        >>> check_bool("encoded", "yes", none_ok=True)
        Traceback (most recent call last):
        ...
        ValueError: encoded='yes' is not allowed; allowed: None, True or False
    """
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_) if numpy else bool):
        return bool(value)
    raise not_allowed(name, value, "None, True or False" if none_ok else "True or False", owner)


def check_choice(name: str, value: Any, allowed: Collection[Any], *, owner: str | None = None,
                 what: str | None = None) -> Any:
    """``value`` when it is one of ``allowed`` (a dict: one of its keys).

    Example:
        >>> check_choice("schedule", "step", ("cosine", "constant"), owner="TrainingConfig")
        Traceback (most recent call last):
        ...
        ValueError: TrainingConfig.schedule='step' is not allowed; allowed: ['cosine', 'constant']
    """
    try:
        ok = value in allowed
    except (TypeError, ValueError):  # unhashable for a dict or set; an array compared elementwise
        ok = False
    if ok and isinstance(value, bool):  # True == 1: a bool matches only a bool
        ok = any(a is value for a in allowed)
    if not ok:
        raise not_allowed(name, value, what if what is not None else str(list(allowed)), owner)
    return value


def known_fields(cls: type, d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` as keyword arguments of dataclass ``cls``, with an error naming unknown keys.

    Example:
        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class Point:
        ...     x: int = 0
        >>> known_fields(Point, {"x": 1})
        {'x': 1}
        >>> known_fields(Point, {"y": 1})
        Traceback (most recent call last):
        ...
        ValueError: Point: unknown field(s) ['y']; allowed: ['x']
    """
    if not isinstance(d, Mapping):
        raise TypeError(f"{cls.__name__}.from_dict needs a dict, got {type(d).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in d if k not in names]
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; allowed: {names}")
    return dict(d)
