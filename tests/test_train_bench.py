"""The training / drift-evaluation benchmark (issue 7), on tiny inputs so that it runs fast."""

from __future__ import annotations

import pytest
import torch

from analognas import AnalogHardware, to_analog
from analognas.train_bench import COLUMNS, benchmark_training, use_strided_unfold
from search_spaces import REFERENCE_NETWORKS, ResNetLikeSpace


def test_benchmark_reports_every_column_for_a_reference_network(capsys):
    df = benchmark_training(("resnet20",), batch_size=4, steps=1, warmup=0, eval_images=8, n_reps=1,
                            input_shape=(3, 8, 8), strided_unfold=True)
    assert list(df.columns) == COLUMNS and len(df) == 1
    row = df.iloc[0]
    assert row["network"] == "resnet20" and row["device"] == "cpu"
    assert row["digital_step_ms"] > 0 and row["analog_step_ms"] > 0
    assert row["ratio"] == pytest.approx(row["analog_step_ms"] / row["digital_step_ms"])
    assert row["eval_full_s"] > 0 and row["n_times"] == 4
    assert "analog_step_ms" in capsys.readouterr().out


def test_strided_unfold_gives_identical_outputs_and_gradients():
    model = ResNetLikeSpace().build(REFERENCE_NETWORKS["resnet20"], (3, 8, 8), 10)
    a, b = to_analog(model, AnalogHardware()), to_analog(model, AnalogHardware())
    b.load_state_dict(a.state_dict())
    assert use_strided_unfold(b) == 21  # every conv of ResNet-20 (19 + 2 projection shortcuts)
    x = torch.randn(4, 3, 8, 8)
    a.train(), b.train()
    torch.manual_seed(0)
    ya = a(x)
    torch.manual_seed(0)
    assert torch.equal(ya, b(x))  # same noise draws, same values: nothing simulated changes
    a.eval(), b.eval()
    for m in (a, b):
        torch.manual_seed(1)
        m.program_analog_weights()
        m.drift_analog_weights(86400.0)
    torch.manual_seed(2)
    ea = a(x)
    torch.manual_seed(2)
    assert torch.equal(ea, b(x))


def test_strided_unfold_gradients_equal_up_to_float_rounding():
    conv = torch.nn.Sequential(torch.nn.Conv2d(16, 8, 3, padding=1, bias=False))
    a, b = to_analog(conv, AnalogHardware()), to_analog(conv, AnalogHardware())
    b.load_state_dict(a.state_dict())
    use_strided_unfold(b)
    x, g = torch.randn(4, 16, 8, 8), torch.randn(4, 8, 8, 8)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    torch.manual_seed(0)
    (a(xa) * g).sum().backward()
    torch.manual_seed(0)
    (b(xb) * g).sum().backward()
    # the im2col backward sums the same terms in another order
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-6 * float(xa.grad.abs().max()))
    for pa, pb in zip(a.parameters(), b.parameters()):
        if pa.grad is not None:
            torch.testing.assert_close(pa.grad, pb.grad, rtol=0, atol=1e-5 * float(pa.grad.abs().max()) + 1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(networks=("resnet99",)), "resnet99"),
    (dict(device="tpu"), "device='tpu'"),
    (dict(batch_size=0), "batch_size=0"),
    (dict(steps=0), "steps=0"),
])
def test_bad_input_is_a_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        benchmark_training(**kw, verbose=False)
