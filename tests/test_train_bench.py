"""The training / drift-evaluation benchmark (``analognas bench train``), on tiny inputs."""

from __future__ import annotations

import pytest

from analognas.train_bench import COLUMNS, benchmark_training, table_median_network
from analognas.training import num_threads


def test_benchmark_reports_both_simulations_for_each_network(capsys):
    with num_threads(1):
        df = benchmark_training(("table-median",), batch_size=4, steps=1, warmup=0, eval_images=8, n_reps=1,
                                times=(1.0, 86400.0), record_images=8, record_pretrain_epochs=0)
    assert list(df.columns) == COLUMNS and len(df) == 2
    assert sorted(df["simulation"]) == ["aihwkit", "fast"] and set(df["input_shape"]) == {"1x28x28"}
    for _, row in df.iterrows():
        assert row["digital_step_ms"] > 0 and row["analog_step_ms"] > 0 and row["analog_fwd_ms"] > 0
        assert row["step_ratio"] == pytest.approx(row["analog_step_ms"] / row["digital_step_ms"])
        assert row["fwd_ratio"] == pytest.approx(row["analog_fwd_ms"] / row["digital_fwd_ms"])
        assert row["eval_full_s"] > 0 and row["n_times"] == 2 and row["record_cpu_s"] > 0
    # the digital figures are shared: one measurement serves both rows
    assert df["digital_step_ms"].nunique() == 1
    assert "record_cpu_s" in capsys.readouterr().out


def test_table_median_network_is_the_median_of_the_shipped_table():
    import pandas as pd
    from pathlib import Path

    from search_spaces import ResNetLikeSpace
    import analognas

    arch, shape = table_median_network()
    table = pd.read_csv(Path(analognas.__file__).parent / "data" / "resnet_like" / "results.csv")
    params = sorted(table.loc[table["status"] == "ok", "params"])
    assert ResNetLikeSpace().num_params(arch, shape, 10) == params[(len(params) - 1) // 2]


@pytest.mark.parametrize("kw, match", [
    (dict(networks=("resnet99",)), "resnet99"),
    (dict(device="tpu"), "device='tpu'"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(steps=0), "steps=0"),
    (dict(simulations=("exact",)), "simulations=\\['exact'\\]"),
])
def test_bad_input_is_a_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        benchmark_training(**kw, verbose=False)
