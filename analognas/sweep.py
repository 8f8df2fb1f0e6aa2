"""Several results tables as one training set: a sweep over analog hardware settings.

Each table of a sweep is built by ``analognas dataset build`` on one hardware setting (its
provenance records it, ``settings.hardware``); the tables of one sweep share the space, the
dataset, the training and the evaluation, and differ only in their hardware and in which
networks they hold. :func:`read_tables` checks that and returns their rows with each row's
hardware, ready for ``AnalogSurrogate.fit(archs, frame, hardware=...)``.

Example:
    >>> tables = read_tables(["adc6.csv", "adc8.csv"])                      # doctest: +SKIP
    >>> model = AnalogSurrogate(tables.space).fit(tables.archs, tables.frame,
    ...                                           hardware=tables.row_hardware)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .dataset import provenance_path, read_results, settings_differences
from .hardware import hardware_dict_with_defaults
from .io import read_json

__all__ = ["SHARED_SETTINGS", "ResultsTables", "measured_columns", "read_tables"]

#: provenance sections the tables of one sweep must share (seed, sampling and max_params
#: only pick networks, and hardware is what a sweep varies)
SHARED_SETTINGS = ("space", "dataset", "training", "evaluation")



def measured_columns(frame: pd.DataFrame) -> list[str]:
    """A results table's measured columns: the accuracies and spreads (``acc_*``), ``avm``,
    ``digital_acc`` and ``wall_time_s``."""
    return [c for c in frame.columns
            if c.startswith("acc_") or c in ("avm", "digital_acc", "wall_time_s")]


@dataclasses.dataclass
class ResultsTables:
    """The successful rows of one or more results tables.

    Attributes:
        space: the search space of every table.
        paths: the tables, in the order given.
        frame: their rows, one after the other, with a ``table`` column (the path).
        hardware: each table's hardware (``AnalogHardware.to_dict()``; None for a single
            table without provenance).
        task: ``dataset``, ``input_shape``, ``num_classes`` of the tables (empty when unknown).
    """

    space: Any
    paths: list[str]
    frame: pd.DataFrame
    hardware: list[dict[str, Any] | None]
    task: dict[str, Any]

    @property
    def archs(self) -> list[Any]:
        return list(self.frame["arch"])

    @property
    def row_hardware(self) -> list[dict[str, Any]] | None:
        """Each row's hardware (None when a table's is unknown)."""
        if any(h is None for h in self.hardware):
            return None
        by_table = dict(zip(self.paths, self.hardware))
        return [by_table[t] for t in self.frame["table"]]

    @property
    def hardware_keys(self) -> list[str]:
        """Each table's hardware as a canonical string: equal strings, equal hardware."""
        return [json.dumps(h, sort_keys=True, default=str) for h in self.hardware]

    def averaged(self) -> "ResultsTables":
        """One row per network and hardware setting: repeated runs (tables on the same hardware
        that measure a network again, e.g. a table and its ``dataset retest`` side table with
        another training seed) become the mean of their metrics, with ``runs`` counting them.

        A network's mean over runs is what a surrogate should rank: its spread between
        training seeds is noise of the measurement, not a property of the network.

        Example:
            >>> t = read_tables(["t.csv", "t.retest-seed1.csv"]).averaged()     # doctest: +SKIP
            >>> t.frame["runs"].max()                                            # doctest: +SKIP
            2
        """
        frame = self.frame.reset_index(drop=True)
        if frame.empty:
            return dataclasses.replace(self, frame=frame.assign(runs=pd.Series(dtype=int)))
        keys = self.network_keys()
        metrics = measured_columns(frame)
        first = (~keys.duplicated()).to_numpy()
        out = frame[first].reset_index(drop=True)
        out[metrics] = frame[metrics].groupby(keys, sort=False).mean().loc[keys[first]].to_numpy()
        out["runs"] = keys.value_counts().loc[keys[first]].to_numpy()
        first_table = self._first_tables()
        out["table"] = [first_table[t] for t in out["table"]]
        return dataclasses.replace(self, frame=out)

    def _first_tables(self) -> dict[str, str]:
        """Each table -> the first table on its hardware setting (a run stands for it, so that
        ``row_hardware`` still maps each averaged row)."""
        first: dict[str, str] = {}
        for path, key in zip(self.paths, self.hardware_keys):
            first.setdefault(key, path)
        return {path: first[key] for path, key in zip(self.paths, self.hardware_keys)}

    def network_keys(self) -> pd.Series:
        """One label per row of ``frame`` (by position): equal for runs of the same network on
        the same hardware setting, the rows that :meth:`averaged` merges."""
        from surrogate.folds import network_groups

        first_table = self._first_tables()
        return pd.Series([f"{first_table[t]}\n{g!r}" for t, g in
                          zip(self.frame["table"], network_groups(self.space, list(self.frame["arch"])))],
                         dtype=object)

    def repeats(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """The networks measured more than once, as an (n networks x 2) array of ``metric``'s
        first two runs (rows where it is missing left out), and every network's number of runs
        with a value: the input of :func:`analognas.reliability.variance_components` and
        :func:`analognas.reliability.tau_ceiling`.

        Example:
            >>> pairs, runs = read_tables(["t.csv", "t.retest-seed1.csv"]).repeats("avm")  # doctest: +SKIP
        """
        values = pd.to_numeric(self.frame[metric], errors="coerce").to_numpy(dtype=float)
        runs: dict[str, list[float]] = {}
        for key, value in zip(self.network_keys(), values):
            if np.isfinite(value):
                runs.setdefault(key, []).append(float(value))
        pairs = np.array([v[:2] for v in runs.values() if len(v) > 1], dtype=float).reshape(-1, 2)
        return pairs, np.array([len(v) for v in runs.values()], dtype=int)


def _settings(path: str) -> dict[str, Any] | None:
    ppath = provenance_path(path)
    if not ppath.is_file():
        return None
    settings = read_json(ppath).get("settings")
    return dict(settings) if isinstance(settings, Mapping) else None


def read_tables(paths: Sequence[str | Path], space: Any = None) -> ResultsTables:
    """Read results tables whose settings differ only in their hardware (one table also works).

    Several tables each need their provenance file (``T.provenance.json``: it names the
    hardware) and must agree on the space, the dataset, the training and the evaluation
    settings; otherwise a one-line ValueError names the first table that differs and how.
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("read_tables needs at least one results table")
    settings = [_settings(path) for path in paths]
    for path, s in zip(paths, settings):
        if s is None and len(paths) > 1:
            raise ValueError(f"results={path!r} is not allowed; allowed: tables with their provenance file "
                             f"({provenance_path(path).name}), which names the hardware they were measured "
                             "on (several tables differ in it)")
    first = settings[0] or {}
    for path, s in zip(paths[1:], settings[1:]):
        diffs = settings_differences({k: v for k, v in first.items() if k in SHARED_SETTINGS},
                                     {k: v for k, v in s.items() if k in SHARED_SETTINGS},
                                     old_name=f"{paths[0]} has", new_name="this table")
        if diffs:
            raise ValueError(f"results={path!r} is not allowed; allowed: tables whose settings differ from "
                             f"{paths[0]}'s only in hardware (here {'; '.join(diffs[:3])}"
                             + (f"; and {len(diffs) - 3} more)" if len(diffs) > 3 else ")"))
    frames = []
    for path in paths:
        df = read_results(path, space)
        if space is None and len(df):
            from search_spaces import get_space

            space = get_space(str(df["space"].iloc[0]))
        frames.append(df.assign(table=path))
    hardware = [hardware_dict_with_defaults(s["hardware"]) if s and isinstance(s.get("hardware"), Mapping)
                else None for s in settings]
    dataset = first.get("dataset") or {}
    task = {k: v for k, v in (("dataset", dataset.get("name")), ("input_shape", dataset.get("input_shape")),
                              ("num_classes", dataset.get("num_classes"))) if v is not None}
    return ResultsTables(space, paths, pd.concat(frames, ignore_index=True), hardware, task)


