"""Progress bars into a log file redraw rarely (every redraw there stays as a line)."""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from analognas.progress import progress_bar, progress_interval


def _redraws(make_bar, capsys, steps: int = 40, pause_s: float = 0.03) -> int:
    with make_bar(total=steps, desc="steps") as bar:
        for _ in range(steps):
            time.sleep(pause_s)  # slow steps, like training or drift evaluation
            bar.update()
    err = capsys.readouterr().err
    assert f"{steps}/{steps}" in err  # the final state is drawn
    return err.count("\r")


def test_a_bar_into_a_file_redraws_at_most_every_progress_interval(capsys):
    """Power: plain tqdm (0.1 s between redraws) on the same 1.2 s loop draws about 12 lines."""
    assert progress_interval() == 10.0  # capsys' stderr is no terminal
    assert _redraws(tqdm, capsys) >= 6
    assert _redraws(progress_bar, capsys) <= 3
