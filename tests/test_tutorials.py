"""Each tutorial runs in its quick mode and writes its plot."""

import importlib.metadata
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
CASES = {
    "01_search_space.py": ["tiles_vs_params.png"],
    "02_digital_to_analog.py": ["drift.png"],
    "03_device_sweep.py": ["devices.png"],
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


@pytest.mark.parametrize("script", sorted(NEED_BENCH))
def test_tutorial_needing_the_bench_stops_at_once_naming_the_extra(script, tmp_path):
    # run the tutorial as if analog-nasbench were not installed (its distribution hidden)
    hide = (
        "import importlib.metadata as m, importlib.util as u, runpy, sys\n"
        "dist, spec = m.distribution, u.find_spec\n"
        "def distribution(name):\n"
        "    if name == 'analog-nasbench': raise m.PackageNotFoundError(name)\n"
        "    return dist(name)\n"
        "m.distribution = distribution\n"
        "u.find_spec = lambda name, *a: None if name == 'analognasbench' else spec(name, *a)\n"
        f"sys.argv = [{str(TUTORIALS / script)!r}, '--quick', '--output', {str(tmp_path)!r}]\n"
        f"sys.path.insert(0, {str(TUTORIALS)!r})\n"
        f"runpy.run_path({str(TUTORIALS / script)!r}, run_name='__main__')\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode != 0 and time.perf_counter() - start < 60
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "analognas[bench]" in err and "Traceback" not in err, err
    assert not (tmp_path / "results.csv").exists()  # no work was done first


def test_scatter_plots_do_not_join_their_points(tmp_path):
    from PIL import Image

    from analognas.plots import plot_xy

    rng = np.random.default_rng(0)
    x, y = rng.random(200), rng.random(200)  # unordered points: a line would zigzag between them
    inked = {}
    for line in (True, False):
        path = plot_xy(x, y, tmp_path / f"{line}.png", "x", "y", line=line)
        img = np.asarray(Image.open(path).convert("RGB"), dtype=int)
        inked[line] = int(((img[..., 2] - img[..., 0]) > 60).sum())  # matplotlib's blue C0
    assert inked[False] < 0.5 * inked[True]
