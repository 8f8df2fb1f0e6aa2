"""Resumable builder of the results table the surrogate learns from.

``build_dataset`` samples architectures from a search space (seeded), HWA-trains and
drift-evaluates each one with ``evaluate_architecture`` and appends one row per architecture
to a CSV table the moment it is done. Killing the build at any moment loses at most the
architectures in progress; running the same command again skips what the table holds and
continues.

Table format, and why CSV. Each row is written with a single ``write()`` of one complete,
newline-terminated line to a file opened in append mode, then flushed and fsync'ed. The only
damage a kill (or power loss) can do is a torn *last* line, which has no final newline:
readers ignore it and the builder cuts it off before appending again, so that architecture is
simply evaluated again. Strings never contain newlines (they are replaced by spaces), so one
row is one line. This keeps one file, readable by any tool, with no consolidation step; a
folder of one-file-per-architecture would be just as safe but needs merging and leaves
thousands of small files. Parquet cannot be appended to row by row.

Next to ``results.csv`` live ``results.provenance.json`` (written atomically: package
versions, hardware / training / evaluation configurations, dataset, device, seed, space, and
one record per run) and, while a run writes, ``results.csv.lock`` (an advisory lock, so that
two runs never write the same table at once; removed when the run ends). A build whose
settings differ from the provenance of an existing table stops with an error naming the
differing fields instead of mixing results.

Provenance that adds up: a run (a build, a ``loop``, a ``retest``) is recorded before its
first row with ``finished: null`` (id, kind, start, command line, package versions, git
commit); each row carries the run's id in column ``run``; the end time, outcome and row count
are written when the run ends. A run killed with SIGKILL keeps ``finished: null`` and its
rows keep its id; the next run marks it ``interrupted`` with the rows it wrote. No index is
held twice (``ResultsTable.append`` refuses). ``analognas.provenance.check_provenance``
checks all of it. Reading checks every cell (file, line, column, value, what is allowed).

Columns: ``index`` (position in the seeded sequence of distinct architectures; rows the
loop adds take indices from ``LOOP_INDEX_START`` on), ``arch`` (canonical JSON of ``arch.to_dict()`` with
sorted keys), ``space``, ``seed`` (the build's seed), ``arch_seed`` (``arch_seed(seed,
index)``, the seed ``evaluate_architecture`` got: training and noise of that row are
reproducible from it alone), ``run`` (the id of the run that wrote it), then
``EvaluationResult.to_row()``: ``acc_1d``, ``acc_1d_std``, ``avm``, ``acc_<t>``,
``acc_<t>_std``, ``params``, ``tiles``, ``status``, ``reason``, ``wall_time_s``,
``digital_acc``. Failed evaluations (diverged training, an
exception) are kept with ``status="failed"`` so that they are not retried forever;
``read_results`` leaves them out unless asked.

Example:
    >>> from search_spaces import NB201Space
    >>> from analognas import TrainingConfig, EvaluationConfig
    >>> space = NB201Space(channels=4, cells_per_stage=1)
    >>> df = build_dataset(space, "runs/tiny.csv", n_archs=3, dataset="digits",
    ...     training=TrainingConfig(pretrain_epochs=1, epochs=1),
    ...     evaluation=EvaluationConfig(n_reps=2), n_train=200, n_test=100)  # doctest: +SKIP
    >>> df = read_results("runs/tiny.csv", space)                           # doctest: +SKIP
    >>> surrogate.fit(df["arch"], df)                                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as _dt
import functools
import importlib.metadata
import inspect
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .checks import check_choice, check_int
from .data import DatasetBundle, load_dataset
from .evaluation import EvaluationConfig, EvaluationResult, evaluate_architecture
from .hardware import AnalogHardware, hardware_dict_with_defaults
from .io import read_json, write_json
from .progress import progress_bar
from .training import TrainingConfig

SAMPLINGS = ("random", "lhs")
TABLE_FORMAT = "analognas-results-csv/2"
#: columns before the EvaluationResult.to_row() fields; ``run`` is the id of the run (in the
#: provenance file) that wrote the row
KEY_COLUMNS = ("index", "arch", "space", "seed", "arch_seed", "run")
#: the kinds of run that write rows: a sampled build, the surrogate-assisted loop, a retest
RUN_KINDS = ("build", "loop", "retest")
#: rows the loop adds take indices from here on, apart from the sampled sequence 0, 1, ...
#: (so a later build that extends the sequence never meets an index the loop used)
LOOP_INDEX_START = 1_000_000
#: candidates drawn per slot by the "lhs" sampling (the least-covered one is kept)
LHS_CANDIDATES = 16
#: fields that change how fast, not what, is simulated: a table may be resumed with others
_RUNTIME_FIELDS = {"training": ("device", "num_threads", "simulation"), "evaluation": ("batch_size",)}


# --- architectures ------------------------------------------------------------------------
def arch_key(space: Any, arch: Any) -> str:
    """Canonical JSON of an architecture (validated, sorted keys, no spaces): the table's key.

    Example:
        >>> from search_spaces import NB201Space
        >>> arch_key(NB201Space(), {"ops": [2, 2, 0, 3, 0, 4]})
        '{"ops":[2,2,0,3,0,4]}'
    """
    return json.dumps(space.validate(arch).to_dict(), sort_keys=True, separators=(",", ":"))


def arch_seed(seed: int, index: int) -> int:
    """The evaluation seed of the ``index``-th architecture of a build with ``seed``.

    Depends only on (seed, index), so a row is reproducible whichever process evaluates it.

    Example:
        >>> arch_seed(0, 3) == arch_seed(0, 3) != arch_seed(0, 4)
        True
    """
    # spawn_key keeps this stream apart from the sampling streams default_rng([seed, j]).
    ss = np.random.SeedSequence(entropy=seed, spawn_key=(index, 1))
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


def _sample_kwargs(space: Any, input_shape: tuple[int, int, int] | None,
                   num_classes: int | None) -> dict[str, Any]:
    """Pass the dataset's input shape to ``space.sample`` when it accepts one (the parameter
    cap then refers to the networks actually trained)."""
    params = inspect.signature(space.sample).parameters
    kwargs: dict[str, Any] = {}
    if input_shape is not None and "input_shape" in params:
        kwargs["input_shape"] = tuple(input_shape)
    if num_classes is not None and "num_classes" in params:
        kwargs["num_classes"] = int(num_classes)
    return kwargs


def _strata(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Hashable]]:
    """The hyperparameters of an architecture dict as (name, level) pairs.

    Nested dicts and lists are flattened (``blocks[1].widen``); a list also gives its length
    (``blocks.len``, e.g. the number of main blocks).
    """
    out: list[tuple[str, Hashable]] = []
    for k in sorted(d):
        v, key = d[k], f"{prefix}{k}"
        if isinstance(v, Mapping):
            out += _strata(v, key + ".")
        elif isinstance(v, (list, tuple)):
            out.append((key + ".len", len(v)))
            for i, item in enumerate(v):
                if isinstance(item, Mapping):
                    out += _strata(item, f"{key}[{i}].")
                else:
                    out.append((f"{key}[{i}]", item))
        else:
            out.append((key, v))
    return out


def sample_architectures(space: Any, n: int, seed: int = 0, max_params: int | None = None,
                         sampling: str = "random", input_shape: tuple[int, int, int] | None = None,
                         num_classes: int | None = None) -> list[Any]:
    """The first ``n`` distinct architectures of the seeded sequence of a build.

    The sequence is prefix-stable: the i-th architecture depends only on the seed (and the
    sampling settings), never on ``n``, so a larger build extends a smaller one.

    - ``"random"``: draw j is ``space.sample(default_rng([seed, j]), max_params)``;
      duplicates of earlier draws are skipped.
    - ``"lhs"``: Latin-hypercube-like coverage of the hyperparameters. Each slot draws
      LHS_CANDIDATES candidates and keeps the one whose hyperparameter levels (every field of
      ``arch.to_dict()``, e.g. each NB201 edge's operation, a ResNet's channels, kernel,
      number of main blocks and each block's type / depth / branches / widening) have been
      used least so far, so every level of every hyperparameter is used about equally often.

    Example:
        >>> from search_spaces import NB201Space
        >>> a = sample_architectures(NB201Space(), 5, seed=1)
        >>> a[:3] == sample_architectures(NB201Space(), 3, seed=1)
        True
    """
    check_choice("sampling", sampling, SAMPLINGS)
    check_int("n_archs", n, 1)
    check_int("seed", seed, 0)
    kwargs = _sample_kwargs(space, input_shape, num_classes)

    def draw(rng: np.random.Generator) -> Any:
        return space.validate(space.sample(rng, max_params=max_params, **kwargs))

    archs: list[Any] = []
    seen: set[Any] = set()
    counts: dict[str, dict[Hashable, int]] = {}
    totals: dict[str, int] = {}
    max_slots = 100 * n + 1000  # small spaces (or tight caps) may hold fewer than n archs
    for j in range(max_slots):
        if len(archs) == n:
            break
        if sampling == "random":
            arch = draw(np.random.default_rng([seed, j]))
            if arch in seen:
                continue
        else:
            rng = np.random.default_rng([seed, j, 2])
            cands = []
            for _ in range(LHS_CANDIDATES):
                c = draw(rng)
                if c not in seen and c not in cands:
                    cands.append(c)
            if not cands:
                continue

            def score(c: Any) -> float:
                levels = _strata(c.to_dict())
                # Mean (not sum) over the candidate's fields, so that architectures with fewer
                # fields (fewer main blocks) are not favoured; a level's share among earlier
                # architectures having that field, so unseen levels score 0.
                return sum(counts.get(k, {}).get(v, 0) / (totals.get(k, 0) + 1)
                           for k, v in levels) / max(len(levels), 1)

            arch = min(cands, key=score)  # ties: the first drawn
            for k, v in _strata(arch.to_dict()):
                counts.setdefault(k, {})
                counts[k][v] = counts[k].get(v, 0) + 1
                totals[k] = totals.get(k, 0) + 1
        seen.add(arch)
        archs.append(arch)
    if len(archs) < n:
        raise ValueError(
            f"n_archs={n}: only {len(archs)} distinct architectures found in {max_slots} draws "
            f"of {space!r} (max_params={max_params}); ask for fewer"
        )
    return archs


# --- evaluation of one architecture (shared by the serial and the distributed build) ---------
@dataclasses.dataclass(frozen=True)
class DataSpec:
    """A dataset by name, so that a worker can load it itself (hashable: cache key).

    Example:
        >>> DataSpec("digits", n_train=200, n_test=100).load().name
        'digits'
    """

    name: str
    n_train: int | None = None
    n_test: int | None = None
    root: str | None = None

    def load(self) -> DatasetBundle:
        # seed=0: the subset evaluate_architecture itself would draw (same images for all archs)
        return load_dataset(self.name, n_train=self.n_train, n_test=self.n_test, root=self.root, seed=0)


@functools.lru_cache(maxsize=4)
def load_cached(spec: DataSpec) -> DatasetBundle:
    """``spec.load()`` once per process (a worker keeps the data between its tasks)."""
    return spec.load()


@dataclasses.dataclass(frozen=True)
class EvalJob:
    """One architecture to evaluate: its index in the build, dict form and evaluation seed."""

    index: int
    arch: dict[str, Any]
    arch_seed: int


@dataclasses.dataclass(frozen=True)
class EvalContext:
    """Everything an evaluation needs besides the architecture and the data."""

    space: Any
    hardware: AnalogHardware
    training: TrainingConfig
    evaluation: EvaluationConfig
    seed: int
    run: int = 0  # the id of the run writing the rows (see the provenance file)


def table_columns(evaluation: EvaluationConfig) -> list[str]:
    """The table's columns for an evaluation configuration (its drift times)."""
    nan = float("nan")
    dummy = EvaluationResult(nan, nan, nan, {t: (nan, nan) for t in evaluation.times}, 0, 0, "ok")
    return list(KEY_COLUMNS) + list(dummy.to_row())


def evaluate_job(ctx: EvalContext, job: EvalJob, data: DatasetBundle) -> dict[str, Any]:
    """Evaluate one architecture and return its table row.

    Configuration problems (device not available, unusable tile backend) raise: they would
    fail every architecture and say nothing about this one. Anything else that goes wrong
    while training or evaluating this architecture becomes a ``status="failed"`` row.
    """
    ctx.training.check_device()
    ctx.hardware.check_available()
    space = ctx.space
    arch = space.validate(job.arch)
    start = time.perf_counter()
    try:
        result = evaluate_architecture(space, arch, data, hardware=ctx.hardware, training=ctx.training,
                                       evaluation=ctx.evaluation, seed=job.arch_seed)
    except Exception as e:  # noqa: BLE001 - recorded in the row, so the build goes on
        nan = float("nan")
        try:
            params = int(space.num_params(arch, data.input_shape, data.num_classes))
            tiles = int(space.num_tiles(arch, ctx.hardware.tile_size, data.input_shape, data.num_classes))
        except Exception:  # noqa: BLE001
            params = tiles = -1
        result = EvaluationResult(
            acc_1d=nan, acc_1d_std=nan, avm=nan, acc_by_time={t: (nan, nan) for t in ctx.evaluation.times},
            params=params, tiles=tiles, status="failed", reason=f"error: {type(e).__name__}: {e}",
            wall_time_s=time.perf_counter() - start,
        )
    row: dict[str, Any] = {"index": job.index, "arch": arch_key(space, arch), "space": space.name,
                           "seed": ctx.seed, "arch_seed": job.arch_seed, "run": ctx.run}
    row.update(result.to_row())
    return row


class Executor(Protocol):
    """Runs evaluations elsewhere (see ``analognas.distributed.DaskExecutor``).

    ``run`` yields each job's row as soon as it is done, in any order; the caller (the
    builder, the only writer of the table) appends it.
    """

    started: bool

    def run(self, ctx: EvalContext, jobs: Sequence[EvalJob], data: DataSpec | DatasetBundle,
            ) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


# --- the table --------------------------------------------------------------------------------
def provenance_path(path: str | os.PathLike) -> Path:
    """``results.csv`` -> ``results.provenance.json``."""
    return Path(path).with_suffix(".provenance.json")


def _check_path(path: str | os.PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.suffix.lower() != ".csv":
        raise ValueError(f"path={str(path)!r} is not allowed; the results table is a CSV file ending in .csv")
    if p.is_dir():
        raise ValueError(f"path={str(path)!r} is a folder; give a file name ending in .csv")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"path={str(path)!r}: {parent} is a file, not a folder")
            break
    return p


def _csv_line(values: Sequence[Any]) -> str:
    buf = io.StringIO()
    clean = [v.replace("\r", " ").replace("\n", " ") if isinstance(v, str) else v for v in values]
    csv.writer(buf, lineterminator="\n").writerow(clean)
    return buf.getvalue()


def complete_size(path: str | os.PathLike) -> int:
    """Bytes of the file up to and including its last newline (less than its size when a
    killed writer left a torn last line)."""
    return len(_complete_bytes(Path(path)))


def _complete_bytes(path: Path) -> bytes:
    """The file's bytes up to and including its last newline (a torn last line is dropped)."""
    data = path.read_bytes()
    end = data.rfind(b"\n")
    return data[: end + 1]


class ResultsTable:
    """Append-only CSV with crash-safe rows (see the module docstring). One writer at a time.

    It refuses a row at an index the table already holds: one index, one network.

    Example:
        >>> t = ResultsTable("runs/x.csv", ["index", "acc"])   # doctest: +SKIP
        >>> t.append({"index": 0, "acc": 91.5})                 # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self.held: set[int] = set()
        if "index" in self.columns:
            done = self.read()
            self.held = set() if done.empty else {int(i) for i in done["index"]}

    def _repair(self) -> None:
        header = _csv_line(self.columns).encode()
        if self.path.exists():
            good = _complete_bytes(self.path)
            if len(good) != self.path.stat().st_size:
                # A build was killed while writing its last row: drop the torn line.
                os.truncate(self.path, len(good))
            if good:
                first = good[: good.index(b"\n") + 1]
                if first != header:
                    raise ValueError(
                        f"{self.path}: its columns {first.decode().strip()!r} differ from this build's "
                        f"{header.decode().strip()!r} (different drift times, or a table of an older "
                        "analognas without the 'run' column?); use a new path"
                    )
                return
        # New (or header-less) table: the header appears atomically.
        from .io import atomic_write_bytes

        atomic_write_bytes(self.path, header)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write ``row`` as one complete line in one ``write()``, then fsync."""
        if list(row) != self.columns:
            raise ValueError(f"row columns {list(row)} differ from the table's {self.columns}")
        if "index" in row:
            index = int(row["index"])
            if index in self.held:
                raise ValueError(f"{self.path}: index {index} is already held by a row; a second row "
                                 "at one index is refused (not written)")
        data = _csv_line([row[c] for c in self.columns]).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            n = os.write(fd, data)
            while n < len(data):  # regular files write everything at once; be safe anyway
                n += os.write(fd, data[n:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if "index" in row:
            self.held.add(int(row["index"]))

    def read(self) -> pd.DataFrame:
        return _read_csv(self.path)


# --- reading and checking a table ---------------------------------------------------------------
#: what the integer columns may hold, by column
_INT_MINIMUM = {"index": 0, "seed": 0, "arch_seed": 0, "run": 0, "params": 0, "tiles": 0}
_ACCURACY = "a number in [0, 100] (an accuracy in percent)"


def _cell_rule(column: str, ok: bool) -> tuple[str, Any] | None:
    """(what is allowed, check) for a numeric column; None for text columns.

    ``check(x)`` says whether the float ``x`` is allowed. Failed rows may leave metrics empty
    (NaN); their counts may be -1 (unknown).
    """
    if column in _INT_MINIMUM:
        low = _INT_MINIMUM[column] if ok or column not in ("params", "tiles") else -1
        return f"an integer >= {low}", lambda x: math.isfinite(x) and x == int(x) and x >= low
    if column == "wall_time_s":
        return "empty or a number >= 0 (seconds)", lambda x: math.isnan(x) or 0 <= x < math.inf
    if column == "digital_acc" or not ok and column.startswith("acc_") and not column.endswith("_std"):
        return f"empty or {_ACCURACY}", lambda x: math.isnan(x) or 0 <= x <= 100
    if column == "avm":
        if not ok:
            return "empty or a number in [-100, 100]", lambda x: math.isnan(x) or -100 <= x <= 100
        return "a number in [-100, 100] (accuracy points lost to drift)", lambda x: -100 <= x <= 100
    if column.startswith("acc_") and column.endswith("_std"):
        if not ok:
            return "empty or a number in [0, 100]", lambda x: math.isnan(x) or 0 <= x <= 100
        return "a number in [0, 100] (a spread in accuracy points)", lambda x: 0 <= x <= 100
    if column.startswith("acc_"):
        return _ACCURACY, lambda x: 0 <= x <= 100
    return None


def _parse_rows(path: Path, text: str) -> tuple[pd.DataFrame, list[str]]:
    """The table's rows, converted and checked cell by cell, and one message per bad row.

    A bad row is left out of the frame; the message names the file, line (1 is the header),
    column, value and what is allowed. Column ``_line`` keeps each row's line number.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return pd.DataFrame(), []
    errors: list[str] = []
    if len(set(header)) != len(header) or any(not h for h in header):
        return pd.DataFrame(), [f"{path}, line 1: the header {header} has empty or repeated column names"]
    statuses = ("ok", "failed")
    rows: list[dict[str, Any]] = []
    for fields in reader:
        line = reader.line_num

        def bad(column: str, value: str, allowed: str) -> None:
            errors.append(f"{path}, line {line}, column {column}: {value!r} is not allowed; allowed: {allowed}")

        if len(fields) != len(header):
            errors.append(f"{path}, line {line}: {len(fields)} field(s), the header has {len(header)} "
                          f"(a garbage or hand-edited line?): {','.join(fields)[:60]!r}")
            continue
        row: dict[str, Any] = dict(zip(header, fields))
        status = row.get("status", "ok")
        if status not in statuses:
            bad("status", status, "'ok' or 'failed'")
            continue
        good = True
        for column, value in zip(header, fields):
            rule = _cell_rule(column, status == "ok")
            if column == "arch":
                try:
                    parsed = json.loads(value)
                except json.JSONDecodeError as e:
                    bad(column, value[:60], f"an architecture as a JSON object (here: {e})")
                    good = False
                    continue
                if not isinstance(parsed, dict):
                    bad(column, value[:60], "an architecture as a JSON object")
                    good = False
            elif column == "space" and not value:
                bad(column, value, "a search space name")
                good = False
            elif rule is not None:
                allowed, check = rule
                try:
                    x = float(value) if value.strip() else math.nan
                except ValueError:
                    x = None
                if x is None or not check(x):
                    bad(column, value, allowed)
                    good = False
                else:
                    row[column] = int(x) if column in _INT_MINIMUM else x
        if good:
            row["_line"] = line
            rows.append(row)
    df = pd.DataFrame(rows, columns=[*header, "_line"])
    for column in header:
        if column in _INT_MINIMUM:
            df[column] = df[column].astype(np.int64)
        elif _cell_rule(column, True) is not None:
            df[column] = df[column].astype(float)
        elif column not in ("arch", "space", "status", "reason"):
            with contextlib.suppress(ValueError, TypeError):  # other columns: numbers if they all are
                df[column] = pd.to_numeric(df[column])
    return df, errors


def table_rows(path: str | os.PathLike) -> tuple[pd.DataFrame, list[str]]:
    """The checked rows of a results table (column ``_line``: their line numbers) and one
    message per bad row (which is left out). A torn last line (a killed writer) is ignored.

    Example:
        >>> df, errors = table_rows("runs/tiny.csv")     # doctest: +SKIP
    """
    path = Path(path)
    data = _complete_bytes(path)
    if not data.strip():
        return pd.DataFrame(), []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not a readable results table (not UTF-8 text: {e})") from None
    return _parse_rows(path, text)


def _line_of(message: str) -> int:
    m = re.search(r", line (\d+)", message)
    return int(m.group(1)) if m else 0


def _raise_first(path: Path, errors: Sequence[str]) -> None:
    errors = sorted(errors, key=_line_of)
    if errors:
        more = (f" (and {len(errors) - 1} more bad row(s); 'analognas dataset check {path}' lists them)"
                if len(errors) > 1 else "")
        raise ValueError(errors[0] + more)


def _read_csv(path: Path) -> pd.DataFrame:
    """The table's checked rows; a bad row raises ValueError naming file, line and column."""
    df, errors = table_rows(path)
    _raise_first(path, errors)
    return df.drop(columns="_line") if "_line" in df.columns else df


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an advisory lock on ``<path>.lock`` (released by the OS even on SIGKILL).

    The lock file is removed when the build ends. Safe removal: the holder unlinks the file
    while it still holds the lock, and a process that got a lock re-checks that the lock file
    at the path is still the one it locked (same inode), else retries; so two processes never
    hold locks they both take for this table's. A SIGKILLed build leaves an empty lock file
    that nobody holds: the next build takes it and removes it.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; a single build per table is up to the user
        yield
        return
    lock = path.with_name(path.name + ".lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"{path}: another build is writing this table (lock {lock} is held)") from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # its holder removed it between our open and our lock: take the new one
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def lock_held(path: str | os.PathLike) -> bool:
    """Whether a build is writing the table at ``path`` now (its lock is held).

    Example:
        >>> lock_held("runs/none.csv")
        False
    """
    lock = Path(path).with_name(Path(path).name + ".lock")
    try:
        import fcntl

        fd = os.open(lock, os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def read_results(path: str | os.PathLike, space: Any = None, include_failed: bool = False) -> pd.DataFrame:
    """The results table, sorted by ``index``, with ``arch`` holding architecture VALUES.

    ``space`` parses the architectures (``space.from_dict``); by default the space named in
    the table (``search_spaces.get_space``). ``arch_json`` keeps the canonical JSON. Failed
    rows are left out unless ``include_failed``. A torn last line (a killed writer) is ignored.
    Every row is checked: a bad one raises ValueError naming the file, line, column, value
    and what is allowed (accuracies in [0, 100], spreads >= 0, ...).

    Example:
        >>> df = read_results("runs/tiny.csv", space)        # doctest: +SKIP
        >>> AnalogSurrogate(space).fit(df["arch"], df)        # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such results table")
    df, errors = table_rows(p)
    if df.empty and not errors:
        return df
    missing = [c for c in ("index", "arch", "status") if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: not an analognas results table (missing column(s) {missing})")
    df = df.sort_values("index", kind="stable").reset_index(drop=True)
    if space is None and len(df):
        from search_spaces import get_space

        names = sorted(set(df["space"])) if "space" in df.columns else []
        if len(names) != 1:
            raise ValueError(f"{p}: cannot tell the search space from column 'space' ({names}); pass space=")
        space = get_space(names[0])
    archs = []
    for line, text in zip(df["_line"], df["arch"]):
        try:
            archs.append(space.from_dict(json.loads(text)))
        except Exception as e:  # noqa: BLE001 - reported with its line, like every bad cell
            errors.append(f"{p}, line {line}, column arch: {text[:60]!r} is not allowed; allowed: "
                          f"an architecture of {space.name} ({e})")
            archs.append(None)
    _raise_first(p, errors)
    repeated = sorted(set(df["index"][df["index"].duplicated()]))
    if repeated:
        warnings.warn(f"{p}: indices {repeated[:8]}{' ...' if len(repeated) > 8 else ''} appear more than once "
                      f"(a table of an older analognas?); 'analognas dataset check {p}' reports it", stacklevel=2)
    if not include_failed:
        keep = (df["status"] == "ok").to_numpy()
        df, archs = df[keep].reset_index(drop=True), [a for a, k in zip(archs, keep) if k]
    if "reason" in df.columns:
        df["reason"] = ["" if pd.isna(r) else str(r) for r in df["reason"]]
    df["arch_json"] = df["arch"]
    df["arch"] = pd.Series(archs, dtype=object, index=df.index)
    return df.drop(columns="_line")


# --- provenance ---------------------------------------------------------------------------------
def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that decide the numbers in a results table."""
    out = {name: _version(name) for name in ("analognas", "torch", "aihwkit", "numpy", "pandas")}
    out["python"] = platform.python_version()
    return out


def git_commit() -> dict[str, Any] | None:
    """The git commit of the analognas checkout in use (None when not a git checkout).

    ``{"commit": sha, "dirty": bool}``; dirty means tracked files differ from the commit, so
    the commit alone does not reproduce the code.

    Example:
        >>> info = git_commit()
        >>> info is None or len(info["commit"]) == 40
        True
    """
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _device_info(training: TrainingConfig) -> dict[str, Any]:
    info: dict[str, Any] = {"training_device": training.device, "host": platform.node(),
                            "platform": platform.platform(), "processor": platform.processor()}
    if training.device.startswith("cuda") and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def _settings(space: Any, data: DatasetBundle, hardware: AnalogHardware, training: TrainingConfig,
              evaluation: EvaluationConfig, seed: int, sampling: str, max_params: int | None) -> dict[str, Any]:
    """The part of the provenance a resumed build must agree with."""
    return {
        "space": {"name": space.name, "repr": repr(space)},
        "seed": seed,
        "sampling": sampling,
        "max_params": max_params,
        "dataset": {"name": data.name, "n_train": len(data.train), "n_test": len(data.test),
                    "input_shape": list(data.input_shape), "num_classes": data.num_classes},
        "hardware": hardware.to_dict(),
        "training": training.to_dict(),
        "evaluation": evaluation.to_dict(),
    }


def settings_differences(old: Mapping[str, Any], new: Mapping[str, Any], old_name: str = "table has",
                         new_name: str = "this build") -> list[str]:
    """How two tables' ``settings`` (provenance) differ, one ``"section.field: <old_name> X,
    <new_name> Y"`` per field; runtime fields (device, threads, simulation, batch size of the
    evaluation) do not count.

    Example:
        >>> settings_differences({"seed": 0}, {"seed": 1})
        ['seed: table has 0, this build 1']
    """
    diffs = []
    for section, value in new.items():
        before = old.get(section)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            skip = _RUNTIME_FIELDS.get(section, ())
            for k in sorted(set(value) | set(before)):
                if k not in skip and before.get(k) != value.get(k):
                    diffs.append(f"{section}.{k}: {old_name} {before.get(k)!r}, {new_name} {value.get(k)!r}")
        elif before != value:
            diffs.append(f"{section}: {old_name} {before!r}, {new_name} {value!r}")
    return diffs


# --- the builder ----------------------------------------------------------------------------------
def _short(arch_json: str, width: int = 40) -> str:
    s = arch_json.replace('"', "")
    return s if len(s) <= width else s[: width - 1] + "~"


def _fmt(row: Mapping[str, Any]) -> str:
    if row["status"] != "ok":
        return f"#{row['index']} failed"
    return f"#{row['index']} acc_1d={row['acc_1d']:.1f}±{row['acc_1d_std']:.1f} avm={row['avm']:.2f}"


@dataclasses.dataclass
class DatasetBuilder:
    """Builds (and resumes) one results table; ``build_dataset`` is the one-call form.

    Args:
        space: a SearchSpace, or its name (``"nb201"``, ``"resnet_like"``).
        path: the CSV table (``.csv``); its provenance goes next to it.
        dataset: ``"digits"``, ``"fashion-mnist"``, ``"cifar10"``, a DatasetBundle or a
            (train, test) pair of torch Datasets. Loaded once per build (per worker when
            distributed).
        hardware, training, evaluation: the configurations of ``evaluate_architecture``.
        seed: the architectures and every evaluation seed follow from it (``arch_seed``).
        max_params: sample only architectures below this parameter count (for the dataset's
            input shape where the space's ``sample`` takes one).
        sampling: ``"random"`` or ``"lhs"`` (see ``sample_architectures``).
        data_root, n_train, n_test: where the data files are, and subset sizes.

    Example:
        >>> from search_spaces import NB201Space
        >>> b = DatasetBuilder(NB201Space(channels=4, cells_per_stage=1), "runs/t.csv", n_train=200)
        >>> len(b.architectures(3))
        3
    """

    space: Any
    path: str | os.PathLike
    dataset: Any = "digits"
    hardware: AnalogHardware = dataclasses.field(default_factory=AnalogHardware)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    seed: int = 0
    max_params: int | None = None
    sampling: str = "random"
    data_root: str | os.PathLike | None = None
    n_train: int | None = None
    n_test: int | None = None

    def __post_init__(self) -> None:
        from search_spaces import SearchSpace, get_space

        if isinstance(self.space, str):
            self.space = get_space(self.space)
        if not isinstance(self.space, SearchSpace):
            raise TypeError(
                f"space must be a SearchSpace or a space name ('nb201', 'resnet_like'), got {type(self.space).__name__}"
            )
        self.path = _check_path(self.path)
        for value, cls, name in ((self.hardware, AnalogHardware, "hardware"), (self.training, TrainingConfig, "training"),
                                 (self.evaluation, EvaluationConfig, "evaluation")):
            if not isinstance(value, cls):
                raise TypeError(f"{name} must be a {cls.__name__}, got {type(value).__name__}")
        check_int("seed", self.seed, 0)
        check_int("max_params", self.max_params, 1, none_ok=True)
        check_choice("sampling", self.sampling, SAMPLINGS)
        for name in ("n_train", "n_test"):
            check_int(name, getattr(self, name), 1, none_ok=True)
        if isinstance(self.dataset, str) and self.data_root is not None and not Path(self.data_root).is_dir():
            raise FileNotFoundError(f"data_root={str(self.data_root)!r} is not a folder")
        self._data: DatasetBundle | None = None

    # --- pieces -------------------------------------------------------------------------
    @property
    def data_spec(self) -> DataSpec | None:
        """How a worker loads the data itself (None for in-memory datasets)."""
        if not isinstance(self.dataset, str):
            return None
        root = None if self.data_root is None else str(self.data_root)
        return DataSpec(self.dataset, self.n_train, self.n_test, root)

    def data(self) -> DatasetBundle:
        """The dataset, loaded once."""
        if self._data is None:
            spec = self.data_spec
            if spec is not None:
                self._data = load_cached(spec)
            else:
                self._data = load_dataset(self.dataset, n_train=self.n_train, n_test=self.n_test, seed=0)
        return self._data

    def architectures(self, n_archs: int) -> list[Any]:
        """The first ``n_archs`` architectures of this build's seeded sequence."""
        data = self.data() if self.max_params is not None else None
        return sample_architectures(
            self.space, n_archs, self.seed, self.max_params, self.sampling,
            input_shape=None if data is None else data.input_shape,
            num_classes=None if data is None else data.num_classes,
        )

    def _context(self, executor: Executor | None) -> EvalContext:
        training = self.training
        if executor is None:
            # Checked here, before anything is written; workers check their own device.
            training.check_device()
            self.hardware.check_available()
        return EvalContext(self.space, self.hardware, training, self.evaluation, self.seed)

    def _provenance(self, done: pd.DataFrame, kind: str, n_archs: int | None, executor: Executor | None,
                    extra: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check the table's provenance against this build, close runs that were killed, and
        record a new run (``finished: null`` until it ends); written before any row."""
        settings = _settings(self.space, self.data(), self.hardware, self.training, self.evaluation,
                             self.seed, self.sampling, self.max_params)
        ppath = provenance_path(self.path)
        table_rows = not done.empty
        prov: dict[str, Any] | None = None
        if ppath.exists():
            prov = read_json(ppath)
            if prov.get("format") != TABLE_FORMAT:
                if table_rows:
                    raise ValueError(f"{ppath}: format {prov.get('format')!r} is not {TABLE_FORMAT!r} (a table "
                                     "of an older analognas); build a new table at a new path")
                prov = None
            else:
                old = dict(prov.get("settings", {}))
                if isinstance(old.get("hardware"), Mapping):  # tables written before newer hardware fields
                    old["hardware"] = hardware_dict_with_defaults(old["hardware"])
                diffs = settings_differences(old, settings)
                if diffs and table_rows:
                    raise ValueError(
                        f"{self.path} was built with other settings; use a new path, or the table's settings:\n  "
                        + "\n  ".join(diffs)
                    )
                if diffs:  # nothing evaluated yet: start afresh with these settings
                    prov = None
        elif table_rows:
            raise ValueError(
                f"{self.path} has rows but no provenance file {ppath.name}; its settings cannot be "
                "checked, so it is not resumed. Use a new path."
            )
        if prov is None:
            prov = {"format": TABLE_FORMAT, "table": self.path.name, "created": _now(),
                    "settings": settings, "dataset_info": self.data().describe(), "runs": []}
        runs = prov.setdefault("runs", [])
        _close_interrupted(runs, done)
        run = {"id": max((int(r["id"]) for r in runs), default=0) + 1, "kind": kind,
               "started": _now(), "finished": None, "outcome": None, "n_archs": n_archs, "new_rows": 0,
               "executor": executor.describe() if executor is not None else {"kind": "serial"},
               "argv": list(sys.argv), "git": git_commit(), "versions": package_versions(),
               "device": _device_info(self.training), **dict(extra or {})}
        prov.update(updated=_now(), n_archs=max(n_archs or 0, prov.get("n_archs", 0)),
                    versions=run["versions"], device=run["device"])
        runs.append(run)
        write_json(ppath, prov)
        return prov, run

    @contextlib.contextmanager
    def open_run(self, kind: str = "build", n_archs: int | None = None, executor: Executor | None = None,
                 extra: Mapping[str, Any] | None = None) -> Iterator["TableRun"]:
        """Lock the table, record a run in its provenance, and yield a :class:`TableRun` that
        evaluates architectures into it; the run's end, outcome and row count are recorded
        on exit (a killed run keeps ``finished: null`` and is closed by the next run).

        Example:
            >>> with builder.open_run("loop") as run:                     # doctest: +SKIP
            ...     row = run.evaluate_one(arch)
        """
        check_choice("kind", kind, RUN_KINDS)
        ctx = self._context(executor)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(self.path):
            data = self.data()
            table = ResultsTable(self.path, table_columns(self.evaluation))
            done = table.read()
            prov, record = self._provenance(done, kind, n_archs, executor, extra)
            kinds = {int(r["id"]): r.get("kind", "build") for r in prov["runs"]}
            run = TableRun(self, table, dataclasses.replace(ctx, run=record["id"]), data, record, done, kinds)
            outcome = "interrupted"
            try:
                yield run
                outcome = "completed"
            except BaseException as e:
                outcome = f"stopped: {type(e).__name__}: {e}"[:300]
                raise
            finally:
                # counted in the table, not by run.new_rows: a signal can land between a row's
                # write and the count, and the run log must match the table
                record.update(finished=_now(), outcome=outcome, new_rows=_rows_of_run(table, record["id"]))
                prov["updated"] = _now()
                write_json(provenance_path(self.path), prov)

    # --- the build ----------------------------------------------------------------------
    def build(self, n_archs: int, progress: bool = True, executor: Executor | None = None) -> pd.DataFrame:
        """Evaluate the first ``n_archs`` architectures that the table does not hold yet.

        Returns the whole table (``read_results(..., include_failed=True)``).
        """
        check_int("n_archs", n_archs, 1)
        with self.open_run("build", n_archs, executor) as run:
            done = run.done
            held = {} if done.empty else {  # index -> the architecture the table holds there
                int(i): json.dumps(json.loads(a), sort_keys=True, separators=(",", ":"))
                for i, a in zip(done["index"], done["arch"])
            }
            archs = self.architectures(n_archs)
            keys = [arch_key(self.space, a) for a in archs]
            # rows the loop or a retest added sit at indices of their own choosing
            sampled = {} if done.empty else {int(i): held[int(i)] for i, r in zip(done["index"], done["run"])
                                             if run.kinds.get(int(r)) == "build"}
            _warn_if_resampled(sampled, keys, self.seed)
            # an index the table holds is done, even if the sampler now draws another network there
            done_keys = set(held.values())
            jobs = [EvalJob(i, a.to_dict(), arch_seed(self.seed, i))
                    for i, (a, k) in enumerate(zip(archs, keys)) if i not in held and k not in done_keys]
            with closing_executor(executor), \
                    _progress_bar(progress, total=n_archs, initial=n_archs - len(jobs), path=self.path) as bar:
                for row in run.evaluate(jobs, executor, bar):
                    bar.update(1)
                    bar.set_postfix_str(f"last {_short(row['arch'], 24)} {_fmt(row)}", refresh=True)
        return read_results(self.path, self.space, include_failed=True)


def _rows_of_run(table: ResultsTable, run_id: int) -> int:
    """How many rows of the table carry the run id ``run_id``."""
    done = table.read()
    return int((done["run"] == run_id).sum()) if not done.empty and "run" in done.columns else 0


def _close_interrupted(runs: list[dict[str, Any]], done: pd.DataFrame) -> None:
    """Mark runs that never finished (killed) as interrupted, with the rows they wrote.

    Called with the table's lock held, so no such run is still going.
    """
    counts = done["run"].value_counts() if not done.empty and "run" in done.columns else pd.Series(dtype=int)
    for r in runs:
        if r.get("finished") is None and r.get("outcome") is None:
            r["outcome"] = "interrupted"
            r["new_rows"] = int(counts.get(r.get("id"), 0))


@dataclasses.dataclass
class TableRun:
    """One open run on a table (see :meth:`DatasetBuilder.open_run`): evaluates architectures
    and appends their rows, each tagged with the run's id.

    Attributes:
        done: the rows the table held when the run started (failed ones included).
        kinds: the kind of every recorded run (this one included), by run id.
        new_rows: rows this run has written.
    """

    builder: DatasetBuilder
    table: ResultsTable
    ctx: EvalContext
    data: DatasetBundle
    record: dict[str, Any]
    done: pd.DataFrame
    kinds: dict[int, str] = dataclasses.field(default_factory=dict)
    new_rows: int = 0

    def rows_of(self, kind: str) -> int:
        """Rows the table held at the start that runs of ``kind`` wrote."""
        if self.done.empty:
            return 0
        return int(self.done["run"].map(lambda k: self.kinds.get(int(k)) == kind).sum())

    def next_index(self, start: int = 0) -> int:
        """The first index from ``start`` on after every index the table holds there."""
        return max((i for i in self.table.held if i >= start), default=start - 1) + 1

    def evaluate(self, jobs: Sequence[EvalJob], executor: Executor | None = None,
                 bar: Any = None) -> Iterator[dict[str, Any]]:
        """Evaluate ``jobs`` (here, or with ``executor``), append each row the moment it is
        done, and yield it."""
        if executor is None:
            rows = self._serial(jobs, bar)
        else:
            spec = self.builder.data_spec
            rows = executor.run(self.ctx, jobs, spec if spec is not None else self.data)
        for row in rows:
            self.table.append(row)
            self.new_rows += 1
            yield row

    def evaluate_archs(self, archs: Sequence[Any], start: int = 0) -> list[dict[str, Any]]:
        """Evaluate ``archs`` at the next free indices from ``start`` on (evaluation seeds
        ``arch_seed(seed, index)`` with the table's seed) and return their rows."""
        seed = self.ctx.seed
        start = self.next_index(start)
        jobs = [EvalJob(start + i, self.builder.space.validate(a).to_dict(), arch_seed(seed, start + i))
                for i, a in enumerate(archs)]
        return list(self.evaluate(jobs))

    def _serial(self, jobs: Sequence[EvalJob], bar: Any) -> Iterator[dict[str, Any]]:
        for job in jobs:
            if bar is not None:
                bar.set_description_str(f"#{job.index} {_short(arch_key(self.builder.space, job.arch))}",
                                        refresh=True)
            yield evaluate_job(self.ctx, job, self.data)


def _warn_if_resampled(held: Mapping[int, str], keys: Sequence[str], seed: int) -> None:
    """Warn when the table holds other architectures than the sampler now draws at its indices."""
    changed = [i for i, k in enumerate(keys) if i in held and held[i] != k]
    if changed:
        warnings.warn(
            f"{len(changed)} row(s) of the table (indices {changed[:8]}{' ...' if len(changed) > 8 else ''}) "
            f"hold other architectures than this version's sampler draws there for seed {seed} "
            "(the sampler changed since they were built); they are kept as they are, and only "
            "indices the table does not hold yet are evaluated",
            stacklevel=3,
        )


@contextlib.contextmanager
def closing_executor(executor: Executor | None) -> Iterator[None]:
    """Run the block; then close ``executor`` if the block is where it started (an executor
    the caller had started already stays open for the caller's next use)."""
    owned = executor is not None and not executor.started
    try:
        yield
    finally:
        if owned:
            executor.close()


def _progress_bar(enabled: bool, total: int, initial: int, path: Path) -> Any:
    return progress_bar(total=total, initial=initial, disable=not enabled, unit="arch",
                        desc=f"building {path.name}", dynamic_ncols=True)


def build_dataset(
    space: Any,
    path: str | os.PathLike,
    n_archs: int,
    dataset: Any = "digits",
    hardware: AnalogHardware | None = None,
    training: TrainingConfig | None = None,
    evaluation: EvaluationConfig | None = None,
    seed: int = 0,
    max_params: int | None = None,
    sampling: str = "random",
    data_root: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Evaluate ``n_archs`` sampled architectures into the CSV table at ``path`` (resumable).

    Rerunning the same call skips the architectures already in the table (finished or
    failed) and continues; a larger ``n_archs`` extends the table with the next
    architectures of the same seeded sequence. Settings that differ from the table's
    provenance raise ValueError. ``executor`` runs the evaluations elsewhere, e.g.
    ``analognas.distributed.DaskExecutor(n_workers=4)``; this process still writes the table.
    Returns the whole table (``read_results(path, space, include_failed=True)``).

    Example:
        >>> from search_spaces import NB201Space
        >>> df = build_dataset(NB201Space(channels=4, cells_per_stage=1), "runs/t.csv", 4,
        ...     training=TrainingConfig(pretrain_epochs=1, epochs=1), n_train=200,
        ...     evaluation=EvaluationConfig(n_reps=2))                  # doctest: +SKIP
        >>> len(df)                                                   # doctest: +SKIP
        4
    """
    builder = DatasetBuilder(
        space, path, dataset,
        hardware=hardware if hardware is not None else AnalogHardware(),
        training=training if training is not None else TrainingConfig(),
        evaluation=evaluation if evaluation is not None else EvaluationConfig(),
        seed=seed, max_params=max_params, sampling=sampling, data_root=data_root,
        n_train=n_train, n_test=n_test,
    )
    return builder.build(n_archs, progress=progress, executor=executor)
