"""Search for a given chip: hardware settings as surrogate features, several tables, the
hardware domain, `search --hardware` and `bench chip` (issue 18)."""

import json
import warnings

import numpy as np
import pytest

from analognas import AnalogHardware
from analognas.cli import default_surrogate_path, main
from analognas.dataset import sample_architectures
from analognas.io import write_json
from analognas.reliability import tau_ceiling, variance_components
from analognas.sweep import read_tables
from search_spaces import NB201Space, ResNetLikeSpace
from surrogate import AnalogSurrogate, kendall_tau
from surrogate.hardware import HardwareDomainWarning, HardwareFeatures

from _tables import write_table

SMALL = {k: {"n_estimators": 30} for k in ("acc_1d_ranker", "acc_1d_regressor", "acc_1d_std", "avm")}
ADC_BITS = (4, 6, 8)


def synthetic(space, archs, bits=ADC_BITS):
    """Rows of ``archs`` on each ADC resolution; acc_1d rises with the bits and varies by network."""
    rows, hw, acc = [], [], []
    for b in bits:
        setting = AnalogHardware(adc_bits=b)
        for i, a in enumerate(archs):
            rows.append(a)
            hw.append(setting)
            acc.append(40.0 + (i * 7919 % 23) + 4.0 * b)  # the network's part is a fixed shuffle
    table = {"acc_1d": acc, "acc_1d_std": [1.0 + (i % 5) for i in range(len(acc))],
             "avm": [0.5 + (i % 3) for i in range(len(acc))]}
    return rows, table, hw


@pytest.fixture(scope="module")
def nb201_fit():
    space = NB201Space()
    archs = space.sample_many(40, rng=0)
    rows, table, hw = synthetic(space, archs)
    aware = AnalogSurrogate(space, params=SMALL).fit(rows, table, hardware=hw)
    plain = AnalogSurrogate(space, params=SMALL).fit(rows, table)
    return space, archs, rows, table, hw, aware, plain


def test_hardware_features_are_appended_and_rank_across_settings(nb201_fit):
    space, archs, rows, table, hw, aware, plain = nb201_fit
    assert aware.feature_names_[-1] == "hw_adc_bits" and "hw_adc_bits" not in plain.feature_names_
    assert aware.feature_names_[:-1] == plain.feature_names_
    assert [d["adc_bits"] for d in aware.domain_.hardware] == list(ADC_BITS)
    # the same networks, per setting: only the hardware-aware model tells the settings apart
    per_bits = {b: aware.for_hardware(AnalogHardware(adc_bits=b)).predict(archs)["acc_1d"].mean() for b in ADC_BITS}
    assert per_bits[4] < per_bits[6] < per_bits[8]
    pooled_aware = kendall_tau(table["acc_1d"], aware.predict(rows, hardware=hw)["acc_1d"])
    pooled_plain = kendall_tau(table["acc_1d"], plain.predict(rows)["acc_1d"])
    assert pooled_aware > 0.8 and pooled_aware > pooled_plain + 0.2
    # one network's rows: the plain model predicts one value for all its settings
    one = [i for i, a in enumerate(rows) if a == archs[0]]
    assert plain.predict([rows[i] for i in one])["acc_1d"].nunique() == 1
    assert kendall_tau([table["acc_1d"][i] for i in one],
                       aware.predict([rows[i] for i in one], hardware=[hw[i] for i in one])["acc_1d"]) == 1.0


def test_multi_hardware_surrogate_needs_a_setting_and_warns_outside_the_fitted_range(nb201_fit):
    space, archs, rows, table, hw, aware, plain = nb201_fit
    with pytest.raises(ValueError, match=r"^hardware=None is not allowed for this surrogate; allowed: one of the 3 "
                                         r"hardware settings .*\(adc_bits=4; adc_bits=6; adc_bits=8\)"):
        aware.predict(archs[:2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = aware.for_hardware(AnalogHardware(adc_bits=6))
    assert not caught and fitted.outside == [] and fitted.seen
    # trees do not interpolate: a value between fitted ones is said so
    with pytest.warns(HardwareDomainWarning, match=r"adc_bits=7 was not fitted on; it lies between the fitted "
                                                   r"values \[4, 6, 8\]: the trees predict as at a neighbouring"):
        between = aware.for_hardware(AnalogHardware(adc_bits=7))
    assert len(between.outside) == 1 and not between.seen
    with pytest.warns(HardwareDomainWarning,
                      match=r"AnalogHardware.adc_bits=10 lies outside the fitted values \[4, 8\]"):
        far = aware.for_hardware(AnalogHardware(adc_bits=10))
    assert len(far.outside) == 1 and "extrapolation" in far.outside[0]
    with pytest.raises(ValueError, match=r"^AnalogHardware.g_max=10.0 is not allowed for this surrogate; "
                                         r"allowed: 25.0, the only value it was fitted on"):
        aware.for_hardware(AnalogHardware(adc_bits=6, g_max=10.0))


def test_single_hardware_surrogate_refuses_another_hardware(nb201_fit):
    space, archs, rows, table, hw, aware, plain = nb201_fit
    n = len(archs)
    one = AnalogSurrogate(space, params=SMALL).fit(rows[:n], {k: v[:n] for k, v in table.items()},
                                                   hardware=AnalogHardware(adc_bits=4))
    assert one.feature_names_ == plain.feature_names_  # one setting: nothing varies, no feature
    message = ("AnalogHardware.adc_bits=6 is not allowed for this surrogate; allowed: 4, the only value it was "
               "fitted on (it cannot tell what adc_bits changes)")
    with pytest.raises(ValueError) as err:
        one.for_hardware(AnalogHardware(adc_bits=6))
    assert str(err.value) == message
    with pytest.raises(ValueError, match="adc_bits=6 is not allowed"):
        one.predict(archs[:2], hardware={"adc_bits": 6})
    with pytest.warns(HardwareDomainWarning, match="adc_bits=6 is not allowed"):
        anyway = one.for_hardware(AnalogHardware(adc_bits=6), allow_unseen=True)
    assert anyway.outside == [message]
    same = one.for_hardware(AnalogHardware(adc_bits=4))
    assert same.seen and same.outside == []
    assert np.allclose(same.predict(archs[:5]), one.predict(archs[:5]))


def test_hardware_surrogate_saves_and_loads_with_its_settings(nb201_fit, tmp_path):
    space, archs, rows, table, hw, aware, plain = nb201_fit
    aware.save(tmp_path / "s")
    meta = json.loads((tmp_path / "s" / "metadata.json").read_text())
    assert meta["feature_names"][-1] == "hw_adc_bits" and len(meta["domain"]["hardware"]) == 3
    loaded = AnalogSurrogate.load(tmp_path / "s")
    assert loaded.hardware_features_.names == ["hw_adc_bits"]
    setting = AnalogHardware(adc_bits=6)
    assert np.allclose(loaded.predict(archs[:6], hardware=setting), aware.predict(archs[:6], hardware=setting))
    assert "3 hardware settings: adc_bits 4/6/8" in loaded.domain_.describe()


def test_categorical_and_boolean_fields_are_encoded_explicitly():
    settings = [AnalogHardware().to_dict(), AnalogHardware(noise_model="hermes", drift_compensation=False).to_dict()]
    features = HardwareFeatures(settings)
    assert features.fields == ["noise_model", "g_max", "drift_compensation"]
    assert features.names == ['hw_noise_model="pcm"', 'hw_noise_model="hermes"', "hw_g_max",
                              "hw_drift_compensation"]
    assert features.encode(settings).tolist() == [[1, 0, 25.0, 1], [0, 1, 20.7, 0]]
    refusals, _ = features.check(AnalogHardware(noise_model="reram-cmo").to_dict())
    assert refusals[0].startswith("AnalogHardware.noise_model='reram-cmo' is not allowed for this surrogate; "
                                  "allowed: one of the fitted values ['pcm', 'hermes']")


def test_a_surrogate_without_hardware_still_loads_and_predicts():
    model = AnalogSurrogate.load(default_surrogate_path("nb201"))  # fitted before hardware was recorded
    assert model.hardware_features_ is None and model.domain_.hardware is None
    assert not any(n.startswith("hw_") for n in model.feature_names_)
    archs = model.space.sample_many(4, rng=1)
    assert model.predict(archs).shape == (4, 3)
    with pytest.warns(HardwareDomainWarning, match="records no hardware settings"):
        bound = model.for_hardware(AnalogHardware())
    assert np.allclose(bound.predict(archs), model.predict(archs))


def test_the_shipped_resnet_surrogate_records_its_tables_one_hardware_setting():
    model = AnalogSurrogate.load(default_surrogate_path("resnet_like"))
    assert len(model.domain_.hardware) == 1 and not any(n.startswith("hw_") for n in model.feature_names_)
    archs = model.space.sample_many(4, rng=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the table's own hardware: no warning
        bound = model.for_hardware(AnalogHardware.from_dict(model.domain_.hardware[0]))
    assert np.allclose(bound.predict(archs), model.predict(archs))
    with pytest.raises(ValueError, match="adc_bits=4 is not allowed for this surrogate; allowed: 8, the only"):
        model.for_hardware(AnalogHardware(adc_bits=4))  # a setting it never saw changed


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three synthetic ResNet-like tables on digits, ADC 4/6/8 bits, acc_1d rising with the bits."""
    folder = tmp_path_factory.mktemp("sweep")
    space = ResNetLikeSpace()
    archs = sample_architectures(space, 16, 0, max_params=20000, input_shape=(1, 8, 8), num_classes=10)
    rows, table, hw = synthetic(space, archs)
    n = len(archs)
    paths = [write_table(folder / f"adc{b}.csv", space, archs, table["acc_1d"][k * n:(k + 1) * n],
                         AnalogHardware(adc_bits=b)) for k, b in enumerate(ADC_BITS)]
    return folder, space, archs, paths


def test_read_tables_refuses_tables_that_differ_in_more_than_hardware(sweep, tmp_path, capsys):
    folder, space, archs, paths = sweep
    tables = read_tables(paths)
    assert len(tables.frame) == 3 * len(archs) and tables.task["dataset"] == "digits"
    assert [h["adc_bits"] for h in tables.row_hardware[::len(archs)]] == list(ADC_BITS)
    other = write_table(tmp_path / "fm.csv", space, archs, [50.0] * len(archs), AnalogHardware(adc_bits=6),
                        dataset="fashion-mnist")
    assert main(["surrogate", "train", "--results", str(paths[0]), str(other), "--output", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(
        f"analognas surrogate train: error: results='{other}' is not allowed; "
        f"allowed: tables whose settings differ from {paths[0]}'s only in hardware")
    assert "dataset.name: " in err and "'digits', this table 'fashion-mnist'" in err
    nb = NB201Space()
    cells = nb.sample_many(len(archs), rng=0)
    wrong = write_table(tmp_path / "nb.csv", nb, cells, [50.0] * len(cells), AnalogHardware(adc_bits=6))
    with pytest.raises(ValueError, match=r"only in hardware \(here space.name: .*'resnet_like', this table 'nb201'"):
        read_tables([paths[0], wrong])


def test_repeated_runs_on_one_hardware_are_averaged(sweep, tmp_path, capsys):
    folder, space, archs, paths = sweep
    first = read_tables([paths[1]]).frame
    # a second run of the first 10 networks on the same hardware: each acc_1d 3 points higher
    rerun = write_table(tmp_path / "adc6.retest-seed1.csv", space, archs[:10], first["acc_1d"][:10] + 3.0,
                        AnalogHardware(adc_bits=6))
    both = read_tables([paths[1], rerun]).averaged()
    assert len(both.frame) == len(archs) and list(both.frame["runs"]) == [2] * 10 + [1] * (len(archs) - 10)
    assert np.allclose(both.frame["acc_1d"], first["acc_1d"] + np.where(np.arange(len(archs)) < 10, 1.5, 0.0))
    assert both.row_hardware == [both.hardware[0]] * len(archs)
    # another setting stays its own row
    assert len(read_tables([paths[0], paths[1], rerun]).averaged().frame) == 2 * len(archs)
    assert main(["surrogate", "train", "--results", str(paths[1]), str(rerun), "--output", str(tmp_path / "s"),
                 "--cv", "3", "--trees", "20"]) == 0
    out = capsys.readouterr().out
    assert "10 networks measured in more than one run on the same hardware" in out
    assert "across hardware" not in out  # one setting: the taus do not score an order across settings
    domain = AnalogSurrogate.load(tmp_path / "s").domain_
    assert domain.n_rows == len(archs) and domain.n_averaged == 10
    # the noise between the two runs bounds the tau any model can reach: acc_1d differs by
    # 3 points between them, so below 1; acc_1d_std and avm repeat exactly, so 1
    assert "ceiling: a perfect model" in out and "of the 10 networks measured twice" in out
    pairs, runs = read_tables([paths[1], rerun]).repeats("acc_1d")
    assert pairs.shape == (10, 2) and sorted(runs) == [1] * (len(archs) - 10) + [2] * 10
    assert domain.cv_tau_ceiling["acc_1d"] == pytest.approx(tau_ceiling(*variance_components(pairs), runs))
    assert 0 < domain.cv_tau_ceiling["acc_1d"] < 1 and domain.cv_tau_ceiling["avm"] == pytest.approx(1.0)
    assert f"{len(archs)} networks (10 of them the mean of several runs)" in domain.describe()


def test_search_ranks_for_the_hardware_given(sweep, tmp_path, capsys):
    folder, space, archs, paths = sweep
    sur = tmp_path / "sur"
    assert main(["surrogate", "train", "--results", *map(str, paths), "--output", str(sur), "--cv", "0",
                 "--trees", "20"]) == 0
    out = capsys.readouterr().out
    assert "48 rows (network x hardware), 3 hardware settings: adc_bits 4/6/8" in out and "hw_adc_bits" in out
    common = ["search", "--surrogate", str(sur), "--time-budget", "1", "--population", "20", "--no-progress"]

    assert main([*common, "--output", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "ranks for one hardware: give it with --hardware FILE.json" in err and "adc_bits=6" in err

    hw_file = write_json(tmp_path / "hw.json", {"adc_bits": 6})
    assert main([*common, "--hardware", str(hw_file), "--output", str(tmp_path / "a6")]) == 0
    out = capsys.readouterr().out
    result = json.loads((tmp_path / "a6" / "result.json").read_text())
    assert result["hardware"]["setting"]["adc_bits"] == 6 and result["hardware"]["given"]
    assert result["hardware"]["seen"] and result["inside_domain"]
    assert "ranked for hardware adc_bits=6 (a fitted setting)" in out
    # the flag wins over the file, and an unfitted value is outside the domain
    assert main([*common, "--hardware", str(hw_file), "--adc-bits", "7", "--output", str(tmp_path / "a7")]) == 0
    result = json.loads((tmp_path / "a7" / "result.json").read_text())
    assert result["hardware"]["setting"]["adc_bits"] == 7 and not result["hardware"]["seen"]
    assert not result["inside_domain"] and any("adc_bits=7 was not fitted on" in r for r in result["outside_domain"])

    assert main([*common, "--adc-bits", "10", "--output", str(tmp_path / "a10")]) == 0
    result = json.loads((tmp_path / "a10" / "result.json").read_text())
    assert not result["inside_domain"]
    assert any("adc_bits=10 lies outside the fitted values [4, 8]" in r for r in result["outside_domain"])

    assert main([*common, "--g-max", "10", "--output", str(tmp_path / "g")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "AnalogHardware.g_max=10.0 is not allowed for this surrogate" in err
    assert not (tmp_path / "g" / "result.json").exists()


def test_bench_chip_scores_held_out_settings(sweep, tmp_path, capsys):
    folder, space, archs, paths = sweep
    assert main(["bench", "chip", "--tables", *map(str, paths), "--cv", "4", "--trees", "20", "--no-progress",
                 "--json", str(tmp_path / "chip.json")]) == 0
    out = capsys.readouterr().out
    assert "Kendall tau over the networks of each held-out hardware setting" in out
    report = json.loads((tmp_path / "chip.json").read_text())
    summary = {(r["scheme"], r["model"]): r for r in report["summary"]}
    # the settings' order (acc_1d rises with the bits) is known only with the hardware features
    assert summary[("seen hardware", "with hardware")]["settings_acc_1d"] == 1.0
    assert summary[("seen hardware", "with hardware")]["within_network_acc_1d"] > 0.9
    assert summary[("seen hardware", "without hardware")]["within_network_acc_1d"] == 0.0
    assert {r["setting"] for r in report["networks"]} == {"adc_bits=4", "adc_bits=6", "adc_bits=8"}
    assert all(r["n"] == len(archs) for r in report["networks"])


def test_search_counts_tiles_with_the_hardware_and_evaluate_reuses_it(sweep, tmp_path, capsys):
    folder, space, archs, paths = sweep
    sur = tmp_path / "sur"
    assert main(["surrogate", "train", "--results", *map(str, paths), "--output", str(sur), "--cv", "0",
                 "--trees", "20"]) == 0
    common = ["search", "--surrogate", str(sur), "--time-budget", "1", "--population", "20", "--no-progress",
              "--allow-unseen-hardware"]
    chip = write_json(tmp_path / "chip.json", {"adc_bits": 6, "tile_size": 64})
    assert main([*common, "--hardware", str(chip), "--output", str(tmp_path / "s")]) == 0
    result = json.loads((tmp_path / "s" / "result.json").read_text())
    # tiles are counted on the chip's 64-row tiles, not on a default the chip does not have
    assert result["constraints"]["tile_size"] == 64
    assert main([*common, "--hardware", str(chip), "--tile-size", "128", "--output", str(tmp_path / "t")]) == 0
    assert json.loads((tmp_path / "t" / "result.json").read_text())["constraints"]["tile_size"] == 128
    capsys.readouterr()

    # evaluating the searched network trains it on the hardware it was ranked for
    common = ["evaluate", str(tmp_path / "s" / "result.json"), "--pretrain-epochs", "0", "--epochs", "1",
              "--n-train", "64", "--n-test", "32", "--n-reps", "1", "--batch-size", "32"]
    assert main([*common, "--output", str(tmp_path / "e")]) == 0
    report = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert report["dataset"] == "digits"
    assert report["hardware"]["adc_bits"] == 6 and report["hardware"]["tile_size"] == 64
    assert "the setting" in capsys.readouterr().err
    assert main([*common, "--adc-bits", "8", "--output", str(tmp_path / "e8")]) == 0
    report = json.loads((tmp_path / "e8" / "evaluation.json").read_text())
    assert report["hardware"]["adc_bits"] == 8 and report["hardware"]["tile_size"] == 512
