"""The resumable dataset builder (issue 3): sampling, table, provenance, resume, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _build_script import DATA, EVALUATION, SPACE, TRAINING
from analognas import TrainingConfig
from analognas.dataset import (
    DatasetBuilder,
    _exclusive,
    arch_key,
    arch_seed,
    build_dataset,
    provenance_path,
    read_results,
    sample_architectures,
    table_columns,
)
from search_spaces import NB201Space, ResNetLikeSpace

SCRIPT = Path(__file__).with_name("_build_script.py")
METRICS = ["index", "arch_json", "arch_seed", "acc_1d", "acc_1d_std", "avm", "acc_1", "acc_2592000",
           "params", "tiles", "status", "digital_acc"]


def build(path, n, **kw):
    args = dict(training=TRAINING, evaluation=EVALUATION, seed=0, progress=False, **DATA)
    args.update(kw)
    return build_dataset(SPACE, path, n, **args)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A 3-architecture table built once for the module."""
    path = tmp_path_factory.mktemp("ds") / "results.csv"
    build(path, 3)
    return path


# --- sampling ---------------------------------------------------------------------------------
def test_sampling_is_seeded_prefix_stable_and_distinct():
    space = NB201Space()
    for mode in ("random", "lhs"):
        a = sample_architectures(space, 12, seed=3, sampling=mode)
        assert a == sample_architectures(space, 12, seed=3, sampling=mode)
        assert a[:5] == sample_architectures(space, 5, seed=3, sampling=mode)  # i-th depends on (seed, i)
        assert len(set(a)) == 12
        assert a != sample_architectures(space, 12, seed=4, sampling=mode)


def test_lhs_covers_every_level_about_equally():
    ops = np.array([a.ops for a in sample_architectures(NB201Space(), 20, seed=0, sampling="lhs")])
    counts = np.stack([np.bincount(ops[:, e], minlength=5) for e in range(6)])  # 20 archs: 4 per op ideal
    assert counts.min() >= 3 and counts.max() <= 5
    rnd = np.array([a.ops for a in sample_architectures(NB201Space(), 20, seed=0)])
    rnd_counts = np.stack([np.bincount(rnd[:, e], minlength=5) for e in range(6)])
    assert rnd_counts.max() - rnd_counts.min() > counts.max() - counts.min()


def test_sampling_respects_max_params_for_the_dataset_shape():
    space = ResNetLikeSpace()
    archs = sample_architectures(space, 10, seed=0, max_params=20_000, sampling="lhs",
                                 input_shape=(1, 8, 8), num_classes=10)
    assert all(space.num_params(a, (1, 8, 8), 10) < 20_000 for a in archs)


def test_too_many_archs_for_a_small_space_is_a_clear_error():
    class OneArch(NB201Space):
        def sample(self, rng=None, max_params=None):
            return self.from_dict({"ops": [0] * 6})

    with pytest.raises(ValueError, match="only 1 distinct"):
        sample_architectures(OneArch(), 2)


def test_arch_seed_depends_on_seed_and_index_only():
    assert arch_seed(0, 1) == arch_seed(0, 1)
    assert len({arch_seed(s, i) for s in range(3) for i in range(50)}) == 150


# --- the table --------------------------------------------------------------------------------
def test_table_columns_rows_and_reader(table):
    raw = pd.read_csv(table)
    assert list(raw.columns) == table_columns(EVALUATION)
    assert list(raw["index"]) == [0, 1, 2]
    df = read_results(table, SPACE)
    assert len(df) == 3 and (df["status"] == "ok").all()
    archs = sample_architectures(SPACE, 3, seed=0)
    assert list(df["arch"]) == archs  # values, ready for AnalogSurrogate(space).fit(df["arch"], df)
    assert list(df["arch_json"]) == [arch_key(SPACE, a) for a in archs]
    assert df["acc_1d"].between(0, 100).all() and (df["params"] > 0).all()
    # without a space, the one named in the table parses the architectures
    assert list(read_results(table)["arch"]) == archs


def test_provenance_records_versions_configs_and_runs(table):
    prov = json.loads(provenance_path(table).read_text())
    assert prov["settings"]["space"]["name"] == "nb201"
    assert prov["settings"]["training"] == TRAINING.to_dict()
    assert prov["settings"]["evaluation"] == EVALUATION.to_dict()
    assert prov["settings"]["dataset"]["n_train"] == 200 and prov["settings"]["seed"] == 0
    assert {"analognas", "torch", "aihwkit", "numpy", "pandas"} <= set(prov["versions"])
    assert prov["device"]["training_device"] == "cpu"
    assert prov["runs"][0]["new_rows"] == 3 and prov["runs"][0]["finished"]
    assert prov["created"] and prov["updated"]


def test_rerun_skips_done_rows_and_extension_appends(table, tmp_path):
    path = tmp_path / "copy.csv"
    path.write_bytes(table.read_bytes())
    provenance_path(path).write_bytes(provenance_path(table).read_bytes())
    before = read_results(path, SPACE)
    start = time.perf_counter()
    build(path, 3)  # nothing to do
    assert time.perf_counter() - start < 5
    after = build(path, 4)  # one more: the next of the same sequence
    assert list(after["index"]) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(after.iloc[:3][METRICS], before[METRICS])
    assert list(after["arch"]) == sample_architectures(SPACE, 4, seed=0)
    runs = json.loads(provenance_path(path).read_text())["runs"]
    assert [r["new_rows"] for r in runs] == [3, 0, 1]


def test_rows_drawn_by_an_older_sampler_are_kept_not_evaluated_again(table, tmp_path):
    path = tmp_path / "copy.csv"
    provenance_path(path).write_bytes(provenance_path(table).read_bytes())
    # as if another version's sampler had put another network at index 1
    other = next(a for a in sample_architectures(SPACE, 12, seed=5) if a not in sample_architectures(SPACE, 4, seed=0))
    df = pd.read_csv(table)
    df.loc[df["index"] == 1, "arch"] = arch_key(SPACE, other)
    df.to_csv(path, index=False)
    with pytest.warns(UserWarning, match=r"1 row\(s\) of the table \(indices \[1\]\) hold other architectures"):
        after = build(path, 4)
    assert list(after["index"]) == [0, 1, 2, 3]  # index 1 is not evaluated again under the new draw
    assert after["arch"].iloc[1] == other and after["arch"].iloc[3] == sample_architectures(SPACE, 4, seed=0)[3]


def test_other_settings_are_refused(table):
    for kw, field in ((dict(training=TrainingConfig(pretrain_epochs=1, epochs=2, batch_size=64)), "training.epochs"),
                      (dict(seed=1), "seed"), (dict(n_train=150), "dataset"), (dict(sampling="lhs"), "sampling")):
        with pytest.raises(ValueError, match=field):
            build(table, 3, **kw)
    with pytest.raises(ValueError, match="space"):
        build_dataset(NB201Space(channels=8, cells_per_stage=1), table, 3, training=TRAINING,
                      evaluation=EVALUATION, progress=False, **DATA)
    # device / threads do not change what is simulated: such a rerun is accepted
    build(table, 3, training=TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=2))


def test_torn_last_line_is_ignored_then_repaired(table, tmp_path):
    path = tmp_path / "torn.csv"
    good = table.read_bytes()
    lines = good.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:25])  # header, 2 rows, a torn third
    provenance_path(path).write_bytes(provenance_path(table).read_bytes())
    assert len(read_results(path, SPACE)) == 2
    df = build(path, 3)
    assert list(df["index"]) == [0, 1, 2]
    assert path.read_bytes().endswith(b"\n") and len(path.read_bytes().splitlines()) == 4
    pd.testing.assert_frame_equal(df[METRICS], read_results(table, SPACE)[METRICS])


def test_failed_rows_are_kept_not_retried_and_filtered(tmp_path):
    path = tmp_path / "bad.csv"
    bad = TrainingConfig(pretrain_epochs=1, epochs=1, pretrain_lr=1e8, batch_size=64, num_threads=1)
    df = build(path, 2, training=bad)
    assert list(df["status"]) == ["failed", "failed"] and df["reason"].str.contains("diverged").all()
    assert np.isnan(df["acc_1d"]).all()
    assert read_results(path, SPACE).empty or len(read_results(path, SPACE)) == 0
    build(path, 2, training=bad)
    assert len(read_results(path, SPACE, include_failed=True)) == 2


def test_a_second_writer_is_refused(table):
    with _exclusive(table):
        with pytest.raises(RuntimeError, match="another build"):
            build(table, 3)


@pytest.mark.parametrize("kw, match", [
    (dict(n_archs=0), "n_archs=0"),
    (dict(path="results.txt"), "ends? in .csv|ending in .csv"),
    (dict(space="nope"), "unknown search space 'nope'"),
    (dict(sampling="sobol"), "sampling='sobol'"),
    (dict(seed=-1), "seed=-1"),
    (dict(max_params=0), "max_params=0"),
])
def test_bad_input_is_a_clear_error(tmp_path, kw, match):
    args = dict(space=SPACE, path=tmp_path / "x.csv", n_archs=2)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        build_dataset(args.pop("space"), args.pop("path"), args.pop("n_archs"), training=TRAINING,
                      evaluation=EVALUATION, progress=False, **DATA, **args)
    assert not (tmp_path / "x.csv").exists()


def test_path_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        DatasetBuilder(SPACE, tmp_path / "d.csv")


def test_table_without_provenance_is_not_resumed(table, tmp_path):
    path = tmp_path / "orphan.csv"
    path.write_bytes(table.read_bytes())
    with pytest.raises(ValueError, match="no provenance"):
        build(path, 3)


# --- SIGKILL ----------------------------------------------------------------------------------
def _rows(path: Path) -> int:
    return max(len(path.read_bytes().split(b"\n")) - 2, 0) if path.exists() else 0


def test_sigkill_mid_build_then_rerun_completes_without_loss(table, tmp_path):
    path, n = tmp_path / "killed.csv", 6
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SCRIPT.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(path), str(n)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while _rows(path) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the build wrote no rows in time"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    snapshot = read_results(path, SPACE, include_failed=True)  # parses, whatever the kill left
    assert 2 <= len(snapshot) < n

    df = build(path, n)
    assert list(df["index"]) == list(range(n))
    assert df["arch_json"].is_unique
    assert len(path.read_bytes().splitlines()) == n + 1
    merged = df.set_index("index").loc[snapshot["index"]].reset_index()
    pd.testing.assert_frame_equal(merged[METRICS], snapshot[METRICS])  # finished rows intact
    # the killed + resumed table starts like an uninterrupted build with the same settings
    ref = read_results(table, SPACE)
    pd.testing.assert_frame_equal(df.iloc[:len(ref)][METRICS], ref[METRICS])
