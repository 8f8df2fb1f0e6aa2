"""Tutorial 6: how noisy is AnalogNAS-Bench? The same network, measured many times.

In a NAS-Bench-201 cell, an edge that feeds nothing to the output is dead: the cell builds the
same network as the one with that edge set to 'none' (``NB201Space.canonical``). The bench
trained and measured each of its 15,625 cells on its own. So a network with dead-edge variants
was measured several times, and the spread of those measurements is the bench's measurement
noise: training seed, programming noise and drift, which no surrogate can predict.

Why it matters: a search benchmark scored on single table entries partly rewards luck. The
best feasible cell (acc_1d 90.53 with AVM < 1.0) is one of many measurements of one network;
this script shows how the best of k measurements of that network grows with k.

Run:  python tutorials/06_bench_noise.py [--quick] [--output DIR]   (seconds either way)
"""

from math import comb

import numpy as np

from _common import require_bench, tutorial_args
from analognas.plots import plot_xy
from search_spaces import NB201Space
from surrogate import load_analognas_bench

MAX_AVM = 1.0
args = tutorial_args(__doc__)
require_bench()
space = NB201Space()
bench = load_analognas_bench()
bench["network"] = [space.canonical(a).ops for a in bench["arch"]]
size = bench.groupby("network")["acc_1d"].transform("size")
mean = bench.groupby("network")["acc_1d"].transform("mean")
print(f"{len(bench):,} cells build {bench['network'].nunique():,} distinct networks; "
      f"{(size > 1).sum():,} cells belong to a network measured more than once.")

# Pooled within-network spread of networks measured at least 3 times, by how well they train
# (networks that fail to train spread over tens of points and would swamp the rest).
for low, high in ((85.0, 87.0), (87.0, 100.0)):
    repeated = bench[(size >= 3) & (mean >= low) & (mean < high)]
    spreads = []
    for column in ("acc_1d", "avm"):
        groups = repeated.groupby("network")[column]
        dev = repeated[column] - groups.transform("mean")
        spreads.append(np.sqrt((dev**2).sum() / (len(repeated) - groups.ngroups)))
    print(f"  networks with mean acc_1d {low:g}-{high:g} ({groups.ngroups} networks, {len(repeated)} cells): "
          f"measurements of one network spread by {spreads[0]:.2f} in acc_1d and {spreads[1]:.2f} in AVM "
          f"(pooled standard deviations)")

# The best feasible cell, and the other measurements of its network.
feasible = bench["avm"] < MAX_AVM
best = bench[feasible]["acc_1d"].idxmax()
network = bench.at[best, "network"]
same = bench[bench["network"] == network]
print(f"Best feasible cell {bench.at[best, 'arch'].ops}: acc_1d {bench.at[best, 'acc_1d']:.2f}, "
      f"AVM {bench.at[best, 'avm']:.2f}.")
print(f"  It is one of {len(same)} measurements of network {network}: acc_1d mean {same['acc_1d'].mean():.2f}, "
      f"std {same['acc_1d'].std():.2f}, range {same['acc_1d'].min():.2f}-{same['acc_1d'].max():.2f}; "
      f"{int((same['avm'] < MAX_AVM).sum())} of {len(same)} have AVM < {MAX_AVM}.")


def expected_best(values: np.ndarray, k: int) -> float:
    """Expected maximum of k of ``values`` drawn without replacement (exact: the i-th smallest
    is the maximum in C(i-1, k-1) of the C(n, k) draws)."""
    v = np.sort(values)
    weights = np.array([comb(i, k - 1) for i in range(len(v))], dtype=float)
    return float(v @ weights / comb(len(v), k))


acc = same.loc[same["avm"] < MAX_AVM, "acc_1d"].to_numpy()
ks = np.arange(1, len(acc) + 1)
curve = [expected_best(acc, int(k)) for k in ks]
print("  Expected best acc_1d of k feasible measurements of that network: "
      + ", ".join(f"k={k}: {c:.2f}" for k, c in zip(ks, curve) if k in (1, 2, 3, 5, len(acc))))
path = plot_xy(ks, curve, args.output / "best_of_k.png", xlabel="feasible measurements of the network (k)",
               ylabel="expected best acc_1d (%)", title=f"AnalogNAS-Bench: network {network}")
print(f"plot: {path}")
