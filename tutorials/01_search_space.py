"""Tutorial 1: the ResNet-like search space.

For IMC hardware designers: every architecture below is a value (a small dict) you can read,
change and store. From it we get, without building any network, the number of weights and
the number of crossbar tiles the network needs: each conv layer is unrolled into a matrix of
(in_channels x k x k) rows and out_channels columns, which is split into tile_size x tile_size
crossbars.

Run:  python tutorials/01_search_space.py [--quick] [--output DIR]
"""

import json

import numpy as np
import torch

from _common import tutorial_args
from analognas.plots import plot_xy
from search_spaces import ResNetLikeSpace, resnet20

args = tutorial_args(__doc__)
space = ResNetLikeSpace()
print(f"The space holds {space.size():.3e} distinct architectures.")

# 1. A reference network, expressed in the space.
arch = resnet20()
print("ResNet-20:", json.dumps(arch.to_dict()))
print(f"  {space.num_params(arch):,} parameters, {space.num_tiles(arch, tile_size=256)} tiles of 256x256")
for rows, cols in space.layer_shapes(arch)[:3]:
    print(f"  first layers as crossbar matrices: {rows} rows x {cols} columns")

# 2. Sample under a parameter budget (the seed makes it reproducible) and mutate.
rng = np.random.default_rng(0)
small = space.sample(rng, max_params=200_000)
child = space.mutate(small, rng)
print("sampled:", json.dumps(small.to_dict()))
print("mutated:", json.dumps(child.to_dict()))

# 3. Build it as a torch network for 28x28 grey images and run a batch through it.
net = space.build(child, input_shape=(1, 28, 28), num_classes=10)
print("output of a batch of 4 images:", tuple(net(torch.randn(4, 1, 28, 28)).shape))

# 4. How many tiles do networks of the space need? (tiles grow with the parameter count)
n = 200 if args.quick else 2000
archs = space.sample_many(n, rng=1, max_params=1_000_000)
params = np.array([space.num_params(a) for a in archs])
tiles = np.array([space.num_tiles(a, tile_size=256) for a in archs])
path = plot_xy(params, tiles, args.output / "tiles_vs_params.png",
               "parameters", "crossbar tiles (256x256)", f"{n} sampled architectures", line=False)
print(f"median {int(np.median(tiles))} tiles; plot written to {path}")
