"""Does a results table add up? Every row belongs to a recorded run, no index is repeated.

``check_provenance(path)`` reads a results table and its ``.provenance.json`` and reports
each inconsistency in one line: bad rows (a value out of range, a garbage line), repeated
indices or networks, rows whose seed, space or ``arch_seed`` disagree with the recorded
settings, rows of no recorded run, and runs whose recorded row count differs from the rows
the table holds. A run killed with SIGKILL keeps ``finished: null``; that is not an
inconsistency: its rows carry its id and are counted here (the next build marks it
``interrupted``). Tables of format ``/1`` (before rows carried a run id) can only be checked
by totals.

Example:
    >>> report = check_provenance("runs/tiny.csv")          # doctest: +SKIP
    >>> report.consistent, print(report.format())           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .dataset import (
    TABLE_FORMAT,
    arch_seed,
    complete_size,
    lock_held,
    provenance_path,
    table_rows,
)
from .io import read_json


@dataclasses.dataclass
class ProvenanceReport:
    """What :func:`check_provenance` found.

    Attributes:
        path: the table.
        n_rows: its readable rows (failed evaluations included).
        problems: inconsistencies, one line each (empty: the table adds up).
        notes: facts worth knowing that are not inconsistencies (an interrupted run, ...).
        runs: one dict per recorded run: id, kind, started, finished, outcome, recorded
            (its ``new_rows``), rows (rows of the table carrying its id; None without ids),
            wall_s (seconds from start to end; None for a run that never finished).
    """

    path: Path
    n_rows: int
    problems: list[str]
    notes: list[str]
    runs: list[dict[str, Any]]

    @property
    def consistent(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """A readable report: the runs, then problems and notes."""
        lines = [f"{self.path}: {self.n_rows} rows, {len(self.runs)} recorded runs, "
                 + ("consistent" if self.consistent else f"{len(self.problems)} problem(s)")]
        for r in self.runs:
            rows = "?" if r["rows"] is None else r["rows"]
            # the cost of a record, as a build's planning needs it: the run's wall time per new row
            per_row = (f" ({r['wall_s'] / r['recorded']:.0f} s wall per new row)"
                       if r.get("wall_s") is not None and isinstance(r["recorded"], int) and r["recorded"] > 0 else "")
            lines.append(f"  run {r['id']} ({r['kind']}): {r['started']} -> {r['finished'] or 'never finished'}, "
                         f"{r['outcome'] or '-'}, recorded {r['recorded']} new rows{per_row}, table holds {rows}")
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _wall_s(started: Any, finished: Any) -> float | None:
    """Seconds from ``started`` to ``finished`` (ISO 8601 times); None when either is missing
    or unreadable."""
    try:
        return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return None


def _lines(df: pd.DataFrame) -> str:
    return ", ".join(str(v) for v in df["_line"])


def check_provenance(path: str | os.PathLike) -> ProvenanceReport:
    """Check that the results table at ``path`` and its provenance file agree (see the module).

    Example:
        >>> check_provenance("runs/tiny.csv").problems           # doctest: +SKIP
        []
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such results table")
    rows, problems = table_rows(p)
    notes: list[str] = []
    if complete_size(p) != p.stat().st_size:
        notes.append("the last line is torn (a writer was killed mid-row); it is ignored, and the next "
                     "build cuts it off")
    if not rows.empty:
        _check_repeats(rows, problems)

    ppath = provenance_path(p)
    if not ppath.is_file():
        if rows.empty:  # a build killed before it recorded its run: nothing to account for
            notes.append(f"no rows and no provenance file {ppath.name} yet")
        else:
            problems.append(f"no provenance file {ppath.name}: no row can be attributed to a run")
        return ProvenanceReport(p, len(rows), problems, notes, [])
    try:
        prov = read_json(ppath)
    except ValueError as e:
        problems.append(str(e))
        return ProvenanceReport(p, len(rows), problems, notes, [])
    runs = list(prov.get("runs", []))
    settings = prov.get("settings", {})
    has_ids = "run" in rows.columns
    if prov.get("format") != TABLE_FORMAT:
        notes.append(f"format {prov.get('format')!r} (not {TABLE_FORMAT!r}): rows carry no run id, so "
                     "runs can only be checked by their total")
    if not rows.empty:
        _check_settings(rows, settings, problems)

    summary = []
    counts = rows["run"].value_counts() if has_ids and not rows.empty else pd.Series(dtype=int)
    in_progress = lock_held(p)
    for i, r in enumerate(runs):
        rid = r.get("id", i + 1)
        n = int(counts.get(rid, 0)) if has_ids else None
        summary.append({"id": rid, "kind": r.get("kind", "build"), "started": r.get("started"),
                        "finished": r.get("finished"), "outcome": r.get("outcome"),
                        "recorded": r.get("new_rows"), "rows": n,
                        "wall_s": _wall_s(r.get("started"), r.get("finished"))})
        missing = [name for k, name in (("started", "start time"), ("versions", "package versions"),
                                         ("git", "git commit")) if not r.get(k)]
        if missing:
            notes.append(f"run {rid} records no {', '.join(missing)}")
        if r.get("finished") is None and r.get("outcome") is None:
            if in_progress and i == len(runs) - 1:
                notes.append(f"run {rid} is in progress (the table's lock is held)")
            elif has_ids:
                notes.append(f"run {rid} was interrupted (finished=null); it wrote {n} row(s), which carry its id")
            else:
                problems.append(f"run {rid} never finished (finished=null) and the rows carry no run id: "
                                "the rows it wrote cannot be counted")
        elif has_ids and r.get("new_rows") != n:
            problems.append(f"run {rid} records {r.get('new_rows')} new rows; the table holds {n} with its id")
    if has_ids:
        known = {s["id"] for s in summary}
        stray = rows[~rows["run"].isin(known)] if not rows.empty else rows
        if len(stray):
            problems.append(f"{len(stray)} row(s) name a run that is not recorded (runs "
                            f"{sorted(set(stray['run']))}; lines {_lines(stray.head(8))})")
    else:
        recorded = sum(int(r.get("new_rows") or 0) for r in runs)
        if recorded != len(rows):
            problems.append(f"the runs record {recorded} new rows in all; the table holds {len(rows)}")
    return ProvenanceReport(p, len(rows), problems, notes, summary)


def _check_repeats(rows: pd.DataFrame, problems: list[str]) -> None:
    """One index, one row; one network, one row."""
    for index, group in rows.groupby("index", sort=True):
        if len(group) > 1:
            nets = group["arch"].map(lambda s: json.dumps(json.loads(s), sort_keys=True)).nunique()
            seeds = sorted(set(group["arch_seed"])) if "arch_seed" in group else []
            problems.append(f"index {index} appears {len(group)} times (lines {_lines(group)}; "
                            f"{nets} different network(s), arch_seed {seeds})")
    canon = rows["arch"].map(lambda s: json.dumps(json.loads(s), sort_keys=True))
    for _, group in rows[canon.duplicated(keep=False)].groupby(canon):
        problems.append(f"one network is measured {len(group)} times (lines {_lines(group)}, "
                        f"indices {list(group['index'])})")


def _check_settings(rows: pd.DataFrame, settings: dict[str, Any], problems: list[str]) -> None:
    """Seed, space and evaluation seeds of the rows against the recorded settings."""
    seed = settings.get("seed")
    space = settings.get("space", {}).get("name")
    if "seed" in rows and seed is not None:
        bad = rows[rows["seed"] != seed]
        if len(bad):
            problems.append(f"{len(bad)} row(s) have a seed other than the table's {seed} (lines {_lines(bad.head(8))})")
    if "space" in rows and space is not None:
        bad = rows[rows["space"] != space]
        if len(bad):
            problems.append(f"{len(bad)} row(s) name a space other than the table's {space!r} "
                            f"(lines {_lines(bad.head(8))})")
    if seed is None or "arch_seed" not in rows:
        return
    # every run evaluates row i with arch_seed(seed, i): a row is reproducible from the table
    seeded = rows
    expected = [arch_seed(int(seed), int(i)) for i in seeded["index"]]
    bad = seeded[seeded["arch_seed"].to_numpy() != pd.Series(expected, dtype="int64").to_numpy()]
    if len(bad):
        problems.append(f"{len(bad)} row(s) have an arch_seed other than arch_seed(seed={seed}, index) "
                        f"(lines {_lines(bad.head(8))}): their numbers cannot be reproduced from the table")

