"""Each tutorial runs in its quick mode and writes its plot."""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
CASES = {
    "01_search_space.py": ["tiles_vs_params.png"],
    "02_digital_to_analog.py": ["drift.png"],
    "03_device_sweep.py": ["sweep_adc_bits.png"],
    "04_dataset_and_surrogate.py": ["surrogate_ranking.png", "results.csv"],
    "05_constrained_search.py": ["pareto.png"],
    "06_bench_noise.py": ["best_of_k.png"],
    "07_designers.py": ["front_energy_latency.png", "chips.png", "adc_bits.png"],
}
#: tutorials that read AnalogNAS-Bench, shipped by the analog-nasbench distribution (dev extra)
NEED_BENCH = {"04_dataset_and_surrogate.py", "06_bench_noise.py"}


@pytest.mark.parametrize("script", sorted(CASES))
def test_tutorial_quick_mode(script, tmp_path):
    if script in NEED_BENCH:
        try:  # its module imports pkg_resources, so look for the distribution, not the module
            importlib.metadata.distribution("analog-nasbench")
        except importlib.metadata.PackageNotFoundError:
            pytest.skip("analog-nasbench (the dev extra) is needed")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(TUTORIALS / script), "--quick", "--output", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for name in CASES[script]:
        out = tmp_path / name
        assert out.is_file() and out.stat().st_size > 1000, f"{script} did not write {name}"
    assert "plot" in proc.stdout
