"""The training / drift-evaluation benchmark (issue 7), on tiny inputs so that it runs fast."""

from __future__ import annotations

import pytest

from analognas.train_bench import COLUMNS, benchmark_training


def test_benchmark_reports_every_column_for_a_reference_network(capsys):
    df = benchmark_training(("resnet20",), batch_size=4, steps=1, warmup=0, eval_images=8, n_reps=1,
                            input_shape=(3, 8, 8), strided_unfold=True)
    assert list(df.columns) == COLUMNS and len(df) == 1
    row = df.iloc[0]
    assert row["network"] == "resnet20" and row["device"] == "cpu" and row["strided_unfold"]
    assert row["digital_step_ms"] > 0 and row["analog_step_ms"] > 0
    assert row["ratio"] == pytest.approx(row["analog_step_ms"] / row["digital_step_ms"])
    assert row["eval_full_s"] > 0 and row["n_times"] == 4
    assert "analog_step_ms" in capsys.readouterr().out


@pytest.mark.parametrize("kw, match", [
    (dict(networks=("resnet99",)), "resnet99"),
    (dict(device="tpu"), "device='tpu'"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(steps=0), "steps=0"),
])
def test_bad_input_is_a_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        benchmark_training(**kw, verbose=False)
