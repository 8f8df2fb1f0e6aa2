"""Dataset builds across processes, GPUs and machines with Dask distributed.

Why Dask rather than Ray: it is pure pip (``pip install "dask[distributed]"``), light to
import, runs as a ``LocalCluster`` of worker processes on a laptop, connects to any existing
cluster through its scheduler address (``Client("tcp://host:8786")``; dask-jobqueue /
dask-kubernetes / ``dask scheduler`` + ``dask worker`` start one on SLURM, Kubernetes or
plain SSH), and dask-cuda's ``LocalCUDACluster`` gives one worker per GPU of a node, each
with its own ``CUDA_VISIBLE_DEVICES``. Its futures API (``submit`` + ``as_completed`` +
``retries``) is all a build needs; nothing of it leaks into the rest of the package.

How a distributed build works:

- one task per architecture: ``run_job(ctx, job, data)`` is a pure function of the space,
  the configurations, the architecture dict and its seed (``arch_seed(seed, index)``), so a
  row is the same whichever worker computes it, and equal to the serial build's row when
  torch uses the same number of threads (``torch_threads``, default 1 per task);
- each worker loads the dataset once (``load_cached`` keyed by the DataSpec) and keeps it
  between tasks; an in-memory dataset is broadcast to the workers once instead;
- the driver (the process calling ``build_dataset``) gathers results ``as_completed`` and
  is the only writer of the table, so the table keeps the serial build's guarantees (one
  fsync'ed line per row, resume, no duplicates);
- a worker that dies (killed, out of memory, node lost) loses only the tasks it was running:
  the scheduler gives them to another worker (up to ``distributed.scheduler.allowed-failures``
  times, default 3), and a task that raises is re-run ``retries`` times. Evaluation failures
  of an architecture itself (diverged training) are ordinary "failed" rows, not task errors.

GPUs: with ``cuda=True`` and no address, a ``LocalCUDACluster`` (dask-cuda) starts one
worker per visible GPU, each seeing only its own GPU, so ``device="cuda"`` means that GPU.
Without dask-cuda, a ``LocalCluster`` with one worker per GPU is started and each worker
picks ``cuda:<worker name mod GPU count>`` (LocalCluster names workers 0, 1, ...). Workers
declare the resource ``{"GPU": 1}`` and every task asks for it, so a GPU never runs two
evaluations at once. For an existing cluster, start workers as ``dask cuda worker
tcp://scheduler:8786`` (one per GPU) or ``CUDA_VISIBLE_DEVICES=i dask worker ... --resources
GPU=1`` and pass ``task_resources={"GPU": 1}``.

Scripts that start a LocalCluster must guard their entry point with
``if __name__ == "__main__":`` (workers are spawned processes).

Example:
    >>> from analognas.dataset import build_dataset
    >>> from analognas.distributed import DaskExecutor
    >>> with DaskExecutor(n_workers=2) as ex:                          # doctest: +SKIP
    ...     build_dataset("nb201", "runs/nb201.csv", 100, executor=ex)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .checks import check_int
from .data import DatasetBundle
from .dataset import DataSpec, EvalContext, EvalJob, evaluate_job, load_cached

_TRAILING_INT = re.compile(r"(\d+)$")


def _worker_gpu(name: Any, n_gpus: int) -> int:
    """GPU index for a worker called ``name`` (LocalCluster: 0, 1, ...; else a trailing number)."""
    if isinstance(name, int):
        return name % n_gpus
    m = _TRAILING_INT.search(str(name))
    return int(m.group(1)) % n_gpus if m else 0


def _pin_device(ctx: EvalContext) -> EvalContext:
    """On a worker: turn ``device="cuda"`` into this worker's own GPU when it sees several."""
    if ctx.training.device != "cuda":
        return ctx  # "cpu", or an explicit "cuda:N" the user asked for
    import torch

    n = torch.cuda.device_count()
    if n <= 1:
        return ctx  # dask-cuda / CUDA_VISIBLE_DEVICES: "cuda" already is this worker's GPU
    try:
        from distributed import get_worker

        name = get_worker().name
    except ValueError:  # not on a worker
        return ctx
    training = dataclasses.replace(ctx.training, device=f"cuda:{_worker_gpu(name, n)}")
    return dataclasses.replace(ctx, training=training)


def run_job(ctx: EvalContext, job: EvalJob, data: DataSpec | DatasetBundle) -> dict[str, Any]:
    """The task: evaluate one architecture on a worker and return its table row."""
    bundle = load_cached(data) if isinstance(data, DataSpec) else data
    return evaluate_job(_pin_device(ctx), job, bundle)


@dataclasses.dataclass
class DaskExecutor:
    """Runs a dataset build's evaluations on Dask workers (see the module docstring).

    Args:
        address: scheduler address of an existing cluster (``"tcp://host:8786"``), or None
            to start a local cluster for the build.
        n_workers: workers of the local cluster (None: 2 on CPU, one per GPU with ``cuda``).
        threads_per_worker: tasks a worker runs at once (keep 1: one evaluation per process).
        processes: local workers are processes (True) or threads of this process.
        cuda: start one worker per GPU (dask-cuda's LocalCUDACluster when installed).
        retries: re-runs of a task that raised (a dead worker's tasks are rescheduled anyway).
        task_resources: resources each task needs, e.g. ``{"GPU": 1}`` (set for ``cuda``).
        torch_threads: torch CPU threads per task when the training config leaves
            ``num_threads`` at None (default 1: tasks share the cores, and a serial build with
            ``num_threads=1`` then gives identical numbers).
        max_in_flight: tasks submitted ahead of the results (None: 2 per worker thread).

    Example:
        >>> ex = DaskExecutor(n_workers=2)      # nothing starts until a build uses it
        >>> ex.started
        False
    """

    address: str | None = None
    n_workers: int | None = None
    threads_per_worker: int = 1
    processes: bool = True
    cuda: bool = False
    retries: int = 2
    task_resources: Mapping[str, float] | None = None
    torch_threads: int | None = None
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.address is not None and (not isinstance(self.address, str) or not self.address):
            raise ValueError(f"address={self.address!r} is not allowed; allowed: None or 'tcp://host:port'")
        # Dask takes them as they are, so numpy scalars stay refused
        plain = {"owner": "DaskExecutor", "numpy": False}
        check_int("threads_per_worker", self.threads_per_worker, 1, **plain)
        check_int("retries", self.retries, 0, **plain)
        for name in ("n_workers", "torch_threads", "max_in_flight"):
            check_int(name, getattr(self, name), 1, none_ok=True, **plain)
        self._client: Any = None
        self._cluster: Any = None

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (starts the cluster on first use)."""
        if self._client is None:
            self.start()
        return self._client

    def start(self) -> Any:
        """Connect to ``address``, or start a local cluster; returns the Client."""
        if self._client is not None:
            return self._client
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError(
                'DaskExecutor needs Dask distributed: pip install "dask[distributed]" '
                "(or analognas[distributed])"
            ) from None
        if self.address is not None:
            self._client = Client(self.address)
            return self._client
        kwargs: dict[str, Any] = dict(threads_per_worker=self.threads_per_worker, processes=self.processes,
                                      dashboard_address=None, silence_logs=logging.WARNING)
        if self.cuda:
            import torch

            n_gpus = torch.cuda.device_count()
            if n_gpus == 0:
                raise RuntimeError("DaskExecutor(cuda=True) but no CUDA device is visible here")
            kwargs["resources"] = {"GPU": 1}
            try:
                from dask_cuda import LocalCUDACluster

                self._cluster = LocalCUDACluster(n_workers=self.n_workers or n_gpus, **kwargs)
            except ImportError:
                self._cluster = LocalCluster(n_workers=self.n_workers or n_gpus, **kwargs)
        else:
            self._cluster = LocalCluster(n_workers=self.n_workers or 2, **kwargs)
        self._client = Client(self._cluster)
        return self._client

    def close(self) -> None:
        """Close the client, and the local cluster if this executor started one."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> "DaskExecutor":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """For the table's provenance."""
        return {"kind": "dask", "address": self.address or "local", "n_workers": self.n_workers,
                "threads_per_worker": self.threads_per_worker, "cuda": self.cuda,
                "task_resources": dict(self.resources or {})}

    @property
    def resources(self) -> dict[str, float] | None:
        if self.task_resources is not None:
            return dict(self.task_resources)
        return {"GPU": 1} if self.cuda and self.address is None else None

    # --- running --------------------------------------------------------------------------
    def run(self, ctx: EvalContext, jobs: Sequence[EvalJob],
            data: DataSpec | DatasetBundle) -> Iterator[dict[str, Any]]:
        """Submit one task per job and yield rows as they complete (any order).

        A task that still fails after its retries stops the build: the remaining tasks are
        cancelled and RuntimeError is raised after the rows already finished were yielded
        (so they are in the table); rerunning the build retries what is missing.
        """
        from distributed import as_completed

        client = self.client
        if ctx.training.num_threads is None:
            # One torch thread per task by default: tasks share the machine's cores, and the
            # same thread count as a serial build with num_threads=1 gives the same numbers.
            ctx = dataclasses.replace(
                ctx, training=dataclasses.replace(ctx.training, num_threads=self.torch_threads or 1))
        if isinstance(data, DatasetBundle):
            # Sent once, not once per task. Scattered data lives only on the workers: if all
            # that hold it die, its tasks fail; a named dataset (DataSpec) has no such risk.
            data = client.scatter(data, broadcast=True, hash=False)
        window = self.max_in_flight or max(2, 2 * sum(client.nthreads().values()))

        todo = iter(jobs)
        futures = as_completed()
        pending: set[Any] = set()

        def submit_next() -> None:
            job = next(todo, None)
            if job is not None:
                fut = client.submit(run_job, ctx, job, data, pure=False, retries=self.retries,
                                    resources=self.resources, key=f"analognas-eval-{job.index}-{os.urandom(4).hex()}")
                pending.add(fut)
                futures.add(fut)

        for _ in range(window):
            submit_next()
        try:
            for fut in futures:
                pending.discard(fut)
                try:
                    row = fut.result()
                except Exception as e:  # noqa: BLE001
                    raise RuntimeError(
                        f"evaluation task {fut.key} failed on the cluster ({type(e).__name__}: {e}); "
                        "rows finished so far are in the table; rerun the build to retry the rest"
                    ) from e
                fut.release()
                submit_next()
                yield row
        finally:
            for fut in pending:
                fut.cancel()
