"""Dataset builds on Dask distributed (issue 7): a LocalCluster of 2 CPU worker processes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd
import pytest

pytest.importorskip("distributed")

from _build_script import DATA, EVALUATION, SPACE, TRAINING
from analognas.dataset import build_dataset
from analognas.distributed import DaskExecutor, _worker_gpu
from analognas.provenance import check_provenance

N = 4
# wall_time_s differs from run to run; everything else must be identical
METRICS = ["index", "arch_json", "arch_seed", "acc_1d", "acc_1d_std", "avm", "acc_1", "acc_1_std",
           "acc_3600", "acc_86400", "acc_2592000", "acc_2592000_std", "params", "tiles", "status", "digital_acc"]


def build(path, executor=None, n=N):
    return build_dataset(SPACE, path, n, training=TRAINING, evaluation=EVALUATION, seed=0,
                         progress=False, executor=executor, **DATA)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return build(tmp_path_factory.mktemp("serial") / "serial.csv")


@pytest.fixture(scope="module")
def executor():
    with DaskExecutor(n_workers=2, threads_per_worker=1, processes=True) as ex:
        yield ex


def test_distributed_build_equals_serial_build(serial, executor, tmp_path):
    df = build(tmp_path / "dask.csv", executor)
    assert executor.started  # the build does not close an executor it did not start
    pd.testing.assert_frame_equal(df[METRICS], serial[METRICS])
    pids = executor.client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_killing_a_worker_mid_task_loses_nothing(serial, executor, tmp_path):
    path, n = tmp_path / "killed.csv", N + 2
    client = executor.client
    killed: list[int] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            executing = client.run(lambda dask_worker: len(dask_worker.state.executing))
            busy = [addr for addr, k in executing.items() if k > 0]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        df = build(path, executor, n)
    finally:
        killer.join()
    assert killed, "no worker was killed mid-task"
    assert killed[0] not in client.run(os.getpid).values()  # it died (its nanny started a new one)
    assert list(df["index"]) == list(range(n)) and df["arch_json"].is_unique
    assert len(path.read_bytes().splitlines()) == n + 1
    assert (df["status"] == "ok").all()
    pd.testing.assert_frame_equal(df.iloc[:N][METRICS], serial[METRICS])
    report = check_provenance(path)  # rows from the workers carry the run's id
    assert report.consistent and report.runs[-1]["rows"] == n, report.format()


def test_in_memory_dataset_is_broadcast(serial, executor, tmp_path):
    from analognas import load_dataset

    bundle = load_dataset("digits", n_train=200, n_test=100, seed=0)
    df = build_dataset(SPACE, tmp_path / "bundle.csv", 2, dataset=bundle, training=TRAINING,
                       evaluation=EVALUATION, progress=False, executor=executor)
    pd.testing.assert_frame_equal(df[METRICS], serial.iloc[:2][METRICS])


def test_a_configuration_error_on_the_workers_stops_the_build(executor, tmp_path):
    from analognas import TrainingConfig

    gpu = TrainingConfig(pretrain_epochs=1, epochs=1, batch_size=64, num_threads=1, device="cuda")
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tmp_path / "gpu.csv"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        build_dataset(SPACE, path, 2, training=gpu, evaluation=EVALUATION, progress=False,
                      executor=executor, **DATA)
    assert len(path.read_bytes().splitlines()) == 1  # header only: no "failed" rows recorded


def test_executor_arguments_are_checked():
    with pytest.raises(ValueError, match="n_workers=0"):
        DaskExecutor(n_workers=0)
    with pytest.raises(ValueError, match="address=''"):
        DaskExecutor(address="")
    assert not DaskExecutor().started
    if not __import__("torch").cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            DaskExecutor(cuda=True).start()


def test_gpu_is_chosen_from_the_worker_name():
    assert [_worker_gpu(i, 2) for i in range(4)] == [0, 1, 0, 1]
    assert _worker_gpu("tcp://10.0.0.1:4000-3", 4) == 3 and _worker_gpu("gpu-worker", 4) == 0
