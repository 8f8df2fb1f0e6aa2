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
- ``settings``: Kendall tau between the predicted and measured mean acc_1d of the settings (does
  it know which hardware is better);
- ``within network``: per network, Kendall tau between predicted and measured acc_1d across its
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
from tqdm.auto import tqdm

from surrogate.folds import grouped_folds, network_groups
from surrogate.hardware import HardwareDomainWarning, HardwareFeatures
from surrogate.metrics import kendall_tau
from surrogate.model import TARGETS, AnalogSurrogate, target_column

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
        settings: one row per scheme, model and setting: the measured and predicted mean
            acc_1d over the setting's networks.
        summary: per scheme and model: mean ``networks`` tau per metric over the settings,
            ``settings_tau`` (order of the settings' mean acc_1d) and ``within_network_tau``.
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
    for scheme, s, train, test in tqdm(jobs, disable=not progress, desc="bench chip"):
        if s is not None:
            train, test = train[sid[train] != s], test[sid[test] == s]
        if len(test):
            fit_predict(scheme, train, test)

    net_rows, set_rows, summary = [], [], []
    groups = pd.factorize(pd.Series(network_groups(tables.space, archs), dtype=object))[0]
    for (scheme, model), p in pred.items():
        for s, label in enumerate(labels):
            rows = sid == s
            for j, t in enumerate(TARGETS):
                net_rows.append({"scheme": scheme, "model": model, "setting": label, "metric": t,
                                 "tau": _tau(ys[t][rows], p[rows, j]),
                                 "n": int((rows & np.isfinite(ys[t])).sum())})
            set_rows.append({"scheme": scheme, "model": model, "setting": label,
                             "measured_acc_1d": float(np.nanmean(ys["acc_1d"][rows])),
                             "predicted_acc_1d": float(np.nanmean(p[rows, 0]))})
        within = []
        for g in np.unique(groups):
            rows = groups == g
            if rows.sum() > 1:
                tau = _tau(ys["acc_1d"][rows], p[rows, 0])
                within.append(0.0 if np.isnan(tau) else tau)
        ours = pd.DataFrame(net_rows[-len(labels) * len(TARGETS):])
        means = pd.DataFrame(set_rows[-len(labels):])
        summary.append({"scheme": scheme, "model": model,
                        **{t: float(ours[ours["metric"] == t]["tau"].mean()) for t in TARGETS},
                        "settings_tau": _tau(means["measured_acc_1d"].to_numpy(), means["predicted_acc_1d"].to_numpy()),
                        "within_network_tau": float(np.mean(within)) if within else float("nan")})
    return ChipBench(pd.DataFrame(net_rows), pd.DataFrame(set_rows), pd.DataFrame(summary), labels)


def format_chip_bench(bench: ChipBench) -> str:
    """The bench as text: per held-out setting, the networks' tau of both models; the settings'
    mean acc_1d; and the summary of both schemes."""
    fmt = {"float_format": lambda v: f"{v:.3f}"}
    held = bench.networks[bench.networks["scheme"] == "held-out hardware"]
    wide = held.pivot_table(index="setting", columns=["metric", "model"], values="tau", sort=False)
    wide = wide.reindex(columns=pd.MultiIndex.from_product([TARGETS, MODELS])).reindex(bench.labels)
    means = bench.settings[bench.settings["scheme"] == "held-out hardware"].pivot_table(
        index="setting", columns="model", values=["measured_acc_1d", "predicted_acc_1d"], sort=False)
    means = pd.DataFrame({"measured": means[("measured_acc_1d", MODELS[0])],
                          **{f"predicted, {m}": means[("predicted_acc_1d", m)] for m in MODELS}}).reindex(bench.labels)
    return "\n".join([
        "Kendall tau over the networks of each held-out hardware setting (fitted on the other settings; "
        "networks unseen too):",
        wide.to_string(**fmt), "",
        "mean acc_1d of each setting's networks, measured and predicted with the setting held out:",
        means.to_string(**fmt), "",
        "summary (networks: mean tau over the settings; settings: tau of the settings' mean acc_1d; "
        "within network: mean tau across each network's settings):",
        bench.summary.to_string(index=False, **fmt),
    ])
