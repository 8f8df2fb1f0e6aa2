"""The Python API example of docs/cli.md (the README's lab-style example) runs and learns."""

import re
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def _example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## The Python API example, checked"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_api_example_learns_and_uses_its_time_budget():
    code = _example()
    assert "time_budget_s=20" in code
    namespace: dict = {}
    start = time.perf_counter()
    exec(compile(code.replace("time_budget_s=20", "time_budget_s=2"), str(DOC), "exec"), namespace)
    result, best, domain = namespace["result"], namespace["best"], namespace["domain"]
    assert result.status == "ok" and result.acc_1d > 50.0  # chance is 10 %
    assert best.elapsed_s >= 1.8 and "time budget" in best.message  # the budget ends the run
    assert best.feasible and best.best_prediction["params"] <= domain.params_max
    assert time.perf_counter() - start < 120
