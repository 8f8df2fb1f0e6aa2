"""AnalogNAS-Bench loader: the restricted unpickler and the real data file."""

from __future__ import annotations

import builtins
import os
import pickle
import sys
import types

import numpy as np
import pytest

from search_spaces import NB201Arch, NB201Space
from surrogate import bench
from surrogate.bench import COLUMNS, load_analognas_bench, restricted_loads


# --- pickles that must be refused ------------------------------------------------------------
class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _CustomClass:
    def __init__(self) -> None:
        self.x = 1


class _CallsEval:
    def __reduce__(self):
        return (builtins.eval, ("1 + 1",))


def test_refuses_os_system_and_never_runs_it(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps({(0,) * 6: _RunsCommand(f"touch {marker}")})
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load (posix|os)\.system"):
        restricted_loads(data)
    assert not marker.exists()


def test_refuses_a_custom_class_and_builtins():
    with pytest.raises(pickle.UnpicklingError, match="_CustomClass"):
        restricted_loads(pickle.dumps([_CustomClass()]))
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        restricted_loads(pickle.dumps(_CallsEval()))


# --- fake bench files written with stand-ins for the bench's classes ----------------------------
def _fake_bench_module() -> types.ModuleType:
    mod = types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    class DriftMeasurement:
        def __init__(self, value: float, uncertainty: float) -> None:
            self.value, self.uncertainty = value, uncertainty

    for cls in (Architecture, DriftMeasurement):
        cls.__module__, cls.__qualname__ = "analognasbench.data", cls.__name__
        setattr(mod, cls.__name__, cls)
    return mod


def _fake_record(mod, ops, acc, extra=None):
    rec = mod.Architecture()
    rec.architecture = ops
    rec.baseline_accuracy = acc + 5
    for t, drop in zip(bench.BENCH_TIMES, (0.0, 0.5, 1.0, 3.0)):
        setattr(rec, f"analog_drift_{t}", mod.DriftMeasurement(acc - drop, 0.1 * acc))
    if extra is not None:
        rec.extra = extra
    return rec


def _write_fake_bench(monkeypatch, path, extra=None):
    mod = _fake_bench_module()
    monkeypatch.setitem(sys.modules, "analognasbench", types.ModuleType("analognasbench"))
    monkeypatch.setitem(sys.modules, "analognasbench.data", mod)
    data = {(2,) * 6: _fake_record(mod, (2,) * 6, 90.0, extra), (1,) * 6: _fake_record(mod, (1,) * 6, 10.0)}
    path.write_bytes(pickle.dumps(data, protocol=4))


def test_loads_a_file_in_the_bench_format(monkeypatch, tmp_path):
    path = tmp_path / "data.anb"
    _write_fake_bench(monkeypatch, path)
    df = load_analognas_bench(path)
    assert list(df.columns) == COLUMNS
    # rows come back in NASLib tuple order, whatever the file's order
    assert [a.ops for a in df["arch"]] == [(1,) * 6, (2,) * 6]
    row = df.iloc[1]
    assert row["acc_60"] == 90.0 and row["acc_1d"] == 89.0 and row["acc_2592000"] == 87.0
    assert row["avm"] == pytest.approx(3.0)
    assert row["acc_1d_std"] == pytest.approx(9.0)
    assert row["digital_acc"] == 95.0


def test_a_tampered_bench_file_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "data.anb"
    _write_fake_bench(monkeypatch, path, extra=_RunsCommand(f"touch {tmp_path / 'pwned'}"))
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_analognas_bench(path)
    assert not (tmp_path / "pwned").exists()


def test_missing_file_and_missing_package_say_how_to_install(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install analog-nasbench"):
        load_analognas_bench(tmp_path / "nope.anb")
    monkeypatch.setattr(bench, "BENCH_DISTRIBUTION", "analog-nasbench-not-there")
    monkeypatch.setattr(bench, "BENCH_PACKAGE", "analognasbench_not_there")
    with pytest.raises(ImportError, match=r"pip install analog-nasbench.*analognas\[bench\]"):
        bench.find_bench_file()


# --- the real bench --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_bench():
    try:
        bench.find_bench_file()
    except ImportError as e:
        pytest.skip(f"analog-nasbench is not installed ({e})")
    return load_analognas_bench()


def test_real_bench_has_every_nb201_cell(real_bench):
    df = real_bench
    assert len(df) == 15_625
    assert list(df.columns) == COLUMNS
    assert all(isinstance(a, NB201Arch) for a in df["arch"])
    assert list(df["arch"]) == NB201Space().all_architectures()
    assert not df.drop(columns="arch").isna().any().any()
    np.testing.assert_allclose(df["avm"], df["acc_60"] - df["acc_2592000"])
    np.testing.assert_array_equal(df["acc_1d"], df["acc_86400"])


def test_real_bench_op_encoding_matches_nb201arch(real_bench):
    df = real_bench.set_index(real_bench["arch"].map(lambda a: a.ops))
    assert df.loc[[(1,) * 6], "digital_acc"].item() == pytest.approx(10.0)  # all 'none'
    # all conv3x3 is among the best digital cells (not in analog: it drifts more than many)
    all_conv3 = df.loc[[(2,) * 6], "digital_acc"].item()
    assert (df["digital_acc"] > all_conv3).mean() < 0.05
    # Exactly the cells without an input->output path (edge order) sit at chance level.
    disconnected = np.array([NB201Space.is_disconnected(a) for a in real_bench["arch"]])
    assert disconnected.sum() == 341
    assert (real_bench["digital_acc"][disconnected] == 10.0).all()
    assert (real_bench["digital_acc"][~disconnected] > 30.0).all()


def test_loader_returns_a_fresh_copy(real_bench):
    df = load_analognas_bench()
    df.loc[0, "acc_1d"] = -1.0
    assert load_analognas_bench().loc[0, "acc_1d"] == real_bench.loc[0, "acc_1d"] != -1.0
