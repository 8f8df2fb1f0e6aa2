"""AnalogNAS-Bench (PyPI package ``analog-nasbench``) as a pandas DataFrame.

The bench ships one pickle, ``analognasbench/data.anb``: a dict from NASLib NB201 tuples to
``analognasbench.data.Architecture`` objects whose drift fields are
``analognasbench.data.DriftMeasurement`` objects (value ± uncertainty over 25 programmings).
Its module imports ``pkg_resources``, so we never import it: we find the file through the
installed distribution's metadata and read it with an unpickler that builds only two plain
record classes of our own and refuses every other global.

Accuracies are in percent, as in the bench.

Example:
    >>> df = load_analognas_bench()          # doctest: +SKIP
    >>> len(df), df["acc_1d"].max() <= 100   # doctest: +SKIP
    (15625, True)
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import io
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd

BENCH_PACKAGE = "analognasbench"
BENCH_DISTRIBUTION = "analog-nasbench"
BENCH_FILE = "data.anb"
#: drift times of the bench, in seconds
BENCH_TIMES = (60, 3600, 86400, 2592000)
COLUMNS = [
    "arch", "acc_1d", "acc_1d_std", "avm",
    "acc_60", "acc_3600", "acc_86400", "acc_2592000", "digital_acc",
]

_MISSING_MESSAGE = (
    "AnalogNAS-Bench is not installed: its data file {what} was not found. "
    "Install it with `pip install analog-nasbench` (or `pip install analognas[bench]`), "
    "or pass path= to the data.anb file."
)


class _Record:
    """A plain attribute bag standing in for one of the bench's classes while unpickling."""

    __slots__ = ("fields",)
    #: the bench class this record replaces (set on the subclasses below)
    source: str = ""

    # Refuses arguments, so neither NEWOBJ nor REDUCE can feed data past __setstate__'s checks.
    def __new__(cls, *args: Any) -> "_Record":
        if args:
            raise pickle.UnpicklingError(f"{cls.source}: unexpected constructor arguments in the bench file")
        obj = super().__new__(cls)
        obj.fields = {}
        return obj

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise pickle.UnpicklingError(f"{self.source}: state is not a dict of named fields")
        self.fields = dict(state)


class _ArchitectureRecord(_Record):
    __slots__ = ()
    source = "analognasbench.data.Architecture"


class _DriftRecord(_Record):
    __slots__ = ()
    source = "analognasbench.data.DriftMeasurement"


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only the bench's two record classes (as plain records).

    Any other global (functions such as ``os.system``, builtins, other classes) raises
    ``pickle.UnpicklingError`` naming the refused ``module.name``.
    """

    ALLOWED = {
        ("analognasbench.data", "Architecture"): _ArchitectureRecord,
        ("analognasbench.data", "DriftMeasurement"): _DriftRecord,
    }

    def find_class(self, module: str, name: str) -> type:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name} from the bench file: only "
                f"{sorted(f'{m}.{n}' for m, n in self.ALLOWED)} are allowed "
                "(the file may be tampered with)"
            ) from None


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def find_bench_file() -> Path:
    """Path of ``data.anb`` inside the installed ``analog-nasbench`` distribution.

    Does not import the bench's module (it needs ``pkg_resources``).
    """
    try:
        dist = importlib.metadata.distribution(BENCH_DISTRIBUTION)
        path = Path(str(dist.locate_file(f"{BENCH_PACKAGE}/{BENCH_FILE}")))
        if path.is_file():
            return path
    except importlib.metadata.PackageNotFoundError:
        pass
    # find_spec of a top-level package locates it without executing its __init__.
    spec = importlib.util.find_spec(BENCH_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / BENCH_FILE
            if path.is_file():
                return path
    raise ImportError(_MISSING_MESSAGE.format(what=f"{BENCH_PACKAGE}/{BENCH_FILE}"))


def _drift(rec: Any, field: str, key: tuple) -> tuple[float, float]:
    d = rec.fields.get(field)
    if not isinstance(d, _DriftRecord):
        raise ValueError(f"bench record {key}: field {field!r} is not a drift measurement")
    return float(d.fields["value"]), float(d.fields["uncertainty"])


def _records_to_frame(data: Any) -> pd.DataFrame:
    # Imported here so that loading the bench does not pull torch in at import time of surrogate.
    from search_spaces.nb201 import EDGES, OP_NAMES, NB201Arch

    if not isinstance(data, dict):
        raise ValueError(f"bench file holds a {type(data).__name__}, expected a dict of records")
    rows = []
    for key, rec in data.items():
        if (not isinstance(key, tuple) or len(key) != len(EDGES)
                or not all(type(o) is int and 0 <= o < len(OP_NAMES) for o in key)):
            raise ValueError(f"bench key {key!r} is not an NB201 tuple of {len(EDGES)} ops in 0..4")
        if not isinstance(rec, _ArchitectureRecord):
            raise ValueError(f"bench record {key}: not an Architecture record")
        acc = {t: _drift(rec, f"analog_drift_{t}", key) for t in BENCH_TIMES}
        rows.append({
            # The bench uses NASLib's encoding, which NB201Arch shares (op order and edge order
            # checked: exactly the cells NB201Space.is_disconnected flags sit at 10 %).
            "arch": NB201Arch(key),
            "acc_1d": acc[86400][0],
            "acc_1d_std": acc[86400][1],
            "avm": acc[60][0] - acc[2592000][0],
            "acc_60": acc[60][0],
            "acc_3600": acc[3600][0],
            "acc_86400": acc[86400][0],
            "acc_2592000": acc[2592000][0],
            "digital_acc": float(rec.fields["baseline_accuracy"]),
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    order = sorted(range(len(df)), key=lambda i: df["arch"].iat[i].ops)
    return df.iloc[order].reset_index(drop=True)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> pd.DataFrame:
    data = restricted_loads(Path(path).read_bytes())
    return _records_to_frame(data)


def load_analognas_bench(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """AnalogNAS-Bench as a DataFrame: one row per NB201 cell (15,625), in NASLib tuple order.

    Columns: ``arch`` (:class:`search_spaces.NB201Arch`), ``acc_1d`` / ``acc_1d_std`` (mean / std
    of analog accuracy at 1 day), ``avm`` (accuracy at 60 s minus accuracy at 1 month),
    ``acc_60``, ``acc_3600``, ``acc_86400``, ``acc_2592000`` (analog accuracy after each drift
    time), ``digital_acc`` (floating-point accuracy). All accuracies in percent.

    The parsed table is cached; each call returns a fresh copy.

    Example:
        >>> df = load_analognas_bench()                   # doctest: +SKIP
        >>> df.loc[df.acc_1d.idxmax(), "arch"]            # doctest: +SKIP
        NB201Arch(ops=(2, 2, 0, 4, 2, 1))
    """
    file = Path(path) if path is not None else find_bench_file()
    if not file.is_file():
        raise FileNotFoundError(_MISSING_MESSAGE.format(what=str(file)))
    return _load_cached(str(file.resolve()), file.stat().st_mtime_ns).copy()
