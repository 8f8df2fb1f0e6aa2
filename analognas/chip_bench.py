"""How well a surrogate ranks networks for analog hardware it was not fitted on
(``analognas bench chip``).

On a sweep (results tables that differ only in their hardware, :mod:`analognas.sweep`), with the
networks dealt into folds that keep a network's rows together (so a held-out network is unseen
under every setting), two models are fitted per fold: the surrogate with the hardware
features (``AnalogSurrogate.fit(..., hardware=...)``) and the same surrogate without them (all
tables pooled, hardware ignored). Two schemes:

- ``held-out hardware``: for each setting, fit on the *other* settings' rows of the training
  networks and predict the setting's rows of the test networks (leave one hardware setting out);
- ``seen hardware``: fit on every setting's rows of the training networks (the reference: the
  hardware is known, only the networks are new).

Scores, from the out-of-fold predictions:

- ``networks``: Kendall tau between predicted and measured values over one setting's networks,
  per metric (how well it ranks networks for that hardware);
- ``settings``: Kendall tau between the predicted and measured means of the settings, per
  metric (does it know which hardware is better);
- ``within network``: per network, Kendall tau between predicted and measured values across its
  settings, averaged over networks (0 where the prediction is constant: it ranks nothing).

Example:
    >>> from analognas.sweep import read_tables
    >>> bench = benchmark_chip(read_tables(["adc6.csv", "adc8.csv"]), cv=5)   # doctest: +SKIP
    >>> print(format_chip_bench(bench))                                        # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from surrogate.folds import grouped_folds, network_groups
from surrogate.hardware import HardwareDomainWarning, HardwareFeatures
from surrogate.metrics import kendall_tau
from surrogate.model import TARGETS, AnalogSurrogate, target_column

from .progress import progress_bar

from .sweep import ResultsTables

__all__ = ["ChipBench", "benchmark_chip", "format_chip_bench"]

SCHEMES = ("held-out hardware", "seen hardware")
MODELS = ("with hardware", "without hardware")


@dataclasses.dataclass
class ChipBench:
    """What :func:`benchmark_chip` measured.

    Attributes:
        networks: one row per scheme, model, setting and metric: ``tau`` over the setting's
            networks, ``n`` networks scored.
        settings: one row per scheme, model and setting: the measured and predicted mean of
            each metric over the setting's networks (``measured_<metric>``, ``predicted_<metric>``).
        summary: per scheme and model and metric: ``networks_<metric>`` (the networks' tau, mean
            over the settings), ``settings_<metric>`` (tau of the settings' means) and
            ``within_network_<metric>`` (tau across each network's settings, mean over networks;
            0 where the prediction is constant).
        labels: each setting's label (its fields that vary in the sweep).
    """

    networks: pd.DataFrame
    settings: pd.DataFrame
    summary: pd.DataFrame
    labels: list[str]


def _tau(y: np.ndarray, p: np.ndarray) -> float:
    ok = np.isfinite(y) & np.isfinite(p)
    return kendall_tau(y[ok], p[ok]) if ok.sum() > 1 else float("nan")


def benchmark_chip(tables: ResultsTables, cv: int = 5, seed: int = 0, params: Mapping[str, Any] | None = None,
                   progress: bool = False) -> ChipBench:
    """Measure both models under both schemes (see the module) on ``tables``.

    Args:
        tables: a sweep of at least two hardware settings (:func:`analognas.sweep.read_tables`).
        cv: network folds (grouped: a network's rows under every setting share a fold).
        seed: shuffles the folds and seeds the models.
        params: ``AnalogSurrogate`` parameters of both models.
    """
    archs, frame, row_hw = tables.archs, tables.frame, tables.row_hardware
    if row_hw is None:
        raise ValueError(f"tables={tables.paths!r} is not allowed; allowed: tables whose provenance names their "
                         "hardware")
    features = HardwareFeatures(row_hw)
    if len(features.settings) < 2:
        raise ValueError(f"tables={tables.paths!r} is not allowed; allowed: tables of at least 2 hardware "
                         "settings (all of these were measured on one)")
    sid = np.array([features.settings.index(h) for h in row_hw])
    labels = [", ".join(f"{f}={d.get(f)}" for f in features.fields) for d in features.settings]
    ys = {t: target_column(frame, t, len(archs)) for t in TARGETS}
    folds = grouped_folds(network_groups(tables.space, archs), cv, seed)
    pred = {(s, m): np.full((len(archs), len(TARGETS)), np.nan) for s in SCHEMES for m in MODELS}

    def fit_predict(scheme: str, train: np.ndarray, test: np.ndarray) -> None:
        sub = frame.iloc[train].reset_index(drop=True)
        tr_archs = [archs[i] for i in train]
        plain = AnalogSurrogate(tables.space, params=params, seed=seed).fit(tr_archs, sub)
        aware = AnalogSurrogate(tables.space, params=params, seed=seed).fit(
            tr_archs, sub, hardware=[row_hw[i] for i in train])
        pred[(scheme, "without hardware")][test] = plain.predict([archs[i] for i in test]).to_numpy()
        for s in np.unique(sid[test]):
            rows = test[sid[test] == s]
            with warnings.catch_warnings():
                # held out means unseen: extrapolation and unvaried fields are the point here
                warnings.simplefilter("ignore", HardwareDomainWarning)
                bound = aware.for_hardware(features.settings[s], allow_unseen=True)
            pred[(scheme, "with hardware")][rows] = bound.predict([archs[i] for i in rows]).to_numpy()

    jobs = [("held-out hardware", s, train, test) for s in range(len(labels)) for train, test in folds]
    jobs += [("seen hardware", None, train, test) for train, test in folds]
    for scheme, s, train, test in progress_bar(jobs, disable=not progress, desc="bench chip"):
        if s is not None:
            train, test = train[sid[train] != s], test[sid[test] == s]
        if len(test):
            fit_predict(scheme, train, test)

    net_rows, set_rows, summary = [], [], []
    groups = pd.factorize(pd.Series(network_groups(tables.space, archs), dtype=object))[0]
    for (scheme, model), p in pred.items():
        row: dict[str, Any] = {"scheme": scheme, "model": model}
        means = {t: ([], []) for t in TARGETS}
        for s, label in enumerate(labels):
            rows = sid == s
            for j, t in enumerate(TARGETS):
                tau = _tau(ys[t][rows], p[rows, j])
                net_rows.append({"scheme": scheme, "model": model, "setting": label, "metric": t, "tau": tau,
                                 "n": int((rows & np.isfinite(ys[t])).sum())})
                row.setdefault(f"networks_{t}", []).append(tau)
                means[t][0].append(float(np.nanmean(ys[t][rows])))
                means[t][1].append(float(np.nanmean(p[rows, j])))
            set_rows.append({"scheme": scheme, "model": model, "setting": label,
                             **{f"{kind}_{t}": means[t][k][-1] for t in TARGETS
                                for k, kind in enumerate(("measured", "predicted"))}})
        for j, t in enumerate(TARGETS):
            row[f"networks_{t}"] = float(np.nanmean(row[f"networks_{t}"]))
            row[f"settings_{t}"] = _tau(np.array(means[t][0]), np.array(means[t][1]))
            within = [_tau(ys[t][groups == g], p[groups == g, j]) for g in np.unique(groups) if (groups == g).sum() > 1]
            row[f"within_network_{t}"] = float(np.mean(np.nan_to_num(within))) if within else float("nan")
        summary.append(row)
    return ChipBench(pd.DataFrame(net_rows), pd.DataFrame(set_rows), pd.DataFrame(summary), labels)


def format_chip_bench(bench: ChipBench) -> str:
    """The bench as text: per held-out setting, the networks' tau of both models; the settings'
    means; and the summary of both schemes."""
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    held = bench.networks[bench.networks["scheme"] == "held-out hardware"]
    wide = held.pivot_table(index="setting", columns=["metric", "model"], values="tau", sort=False)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([TARGETS, MODELS])).reindex(bench.labels)
    held_means = bench.settings[bench.settings["scheme"] == "held-out hardware"]
    short = {MODELS[0]: "with hw", MODELS[1]: "without hw"}
    means = pd.DataFrame(
        {(t, "measured"): held_means[held_means["model"] == MODELS[0]].set_index("setting")[f"measured_{t}"]
         for t in TARGETS}
        | {(t, short[m]): held_means[held_means["model"] == m].set_index("setting")[f"predicted_{t}"]
           for t in TARGETS for m in MODELS})
    means = means.reindex(columns=pd.MultiIndex.from_product([TARGETS, ["measured", *short.values()]]))
    scores = ("networks", "settings", "within_network")
    summary = bench.summary.set_index(["scheme", "model"])
    summary = summary[[f"{k}_{t}" for k in scores for t in TARGETS]]
    summary.columns = pd.MultiIndex.from_product([scores, TARGETS])
    return "\n".join([
        "Kendall tau over the networks of each held-out hardware setting (fitted on the other settings; "
        "networks unseen too):",
        wide.to_string(**fmt), "",
        "each setting's mean over its networks, measured and predicted (with / without the hardware "
        "features) with the setting held out:",
        means.reindex(bench.labels).to_string(**fmt), "",
        "summary: networks = the networks' tau, mean over the settings; settings = tau of the settings' means; "
        "within_network = tau across each network's settings, mean over the networks:",
        summary.to_string(**fmt),
    ])
