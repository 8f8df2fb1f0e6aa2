"""Results tables that tests write with the real ResultsTable API (shared by several test modules)."""

from __future__ import annotations

from analognas.dataset import TABLE_FORMAT, ResultsTable, arch_key
from analognas.io import write_json


def write_table(path, space, archs, acc, hardware, dataset="digits", input_shape=(1, 8, 8)):
    """A results table written with the real ResultsTable API, and its provenance."""
    columns = ["index", "arch", "space", "status", "acc_1d", "acc_1d_std", "avm", "params", "tiles"]
    table = ResultsTable(path, columns)
    for i, (arch, y) in enumerate(zip(archs, acc)):
        table.append({"index": i, "arch": arch_key(space, arch), "space": space.name, "status": "ok",
                      "acc_1d": y, "acc_1d_std": 1.0 + i % 4, "avm": 0.5 + i % 3,
                      "params": space.num_params(arch, input_shape, 10), "tiles": 1})
    settings = {"space": {"name": space.name, "repr": repr(space)}, "seed": 0, "sampling": "random",
                "max_params": 20000,
                "dataset": {"name": dataset, "n_train": 100, "n_test": 50, "input_shape": list(input_shape),
                            "num_classes": 10},
                "hardware": hardware.to_dict(), "training": {"epochs": 1}, "evaluation": {"n_reps": 2}}
    write_json(path.with_suffix(".provenance.json"), {"format": TABLE_FORMAT, "settings": settings, "runs": []})
    return path
