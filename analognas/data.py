"""Datasets as in-memory tensors: scikit-learn's digits, Fashion-MNIST, CIFAR-10 or your own.

Whole (subsetted) datasets are held as normalised float tensors, so training and evaluation
slice batches out of one tensor instead of decoding images one by one.

Example:
    >>> data = load_dataset("digits", n_train=200, n_test=100, seed=0)
    >>> data.input_shape, data.num_classes, len(data.train), len(data.test)
    ((1, 8, 8), 10, 200, 100)
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .checks import check_int
from .io import atomic_write_bytes

DATASET_NAMES = ("digits", "fashion-mnist", "fashion-mnist-14", "cifar10")
#: (input_shape, num_classes) of each dataset, as load_dataset gives them
DATASET_SHAPES = {"digits": ((1, 8, 8), 10), "fashion-mnist": ((1, 28, 28), 10),
                  "fashion-mnist-14": ((1, 14, 14), 10), "cifar10": ((3, 32, 32), 10)}
#: where Debian's ``dataset-fashion-mnist`` package puts the four gzipped IDX files
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Per-channel mean and std of the full training sets (fixed, so a subset does not change them).
_FASHION_MNIST_NORM = ((0.2860,), (0.3530,))
#: the Fashion-MNIST datasets: the side of the square blocks each one averages its images over
_FASHION_MNIST_POOLING = {"fashion-mnist": 1, "fashion-mnist-14": 2}
_CIFAR10_NORM = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR10_FOLDER = "cifar-10-batches-py"  # torchvision's CIFAR10.base_folder
_DIGITS_N_TEST = 450  # of 1,797 images: the rest (1,347) is the training split


@dataclasses.dataclass(frozen=True)
class DatasetBundle:
    """A train and a test split as tensors, with what a network builder needs to know.

    ``train`` and ``test`` are ``TensorDataset(x, y)`` with ``x`` float32 of shape
    (n, *input_shape) and ``y`` int64 class indices. ``info`` records where the data came
    from (for provenance).
    """

    train: TensorDataset
    test: TensorDataset
    input_shape: tuple[int, int, int]
    num_classes: int
    name: str
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Plain dict for provenance records."""
        return {
            "name": self.name,
            "n_train": len(self.train),
            "n_test": len(self.test),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            **self.info,
        }


def default_cache_dir() -> Path:
    """Folder for files analognas derives from datasets (``$ANALOGNAS_CACHE`` or ~/.cache/analognas)."""
    env = os.environ.get("ANALOGNAS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "analognas"


def load_dataset(
    name: str | tuple[Dataset, Dataset] | DatasetBundle,
    n_train: int | None = None,
    n_test: int | None = None,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    download: bool = False,
) -> DatasetBundle:
    """Load a dataset as normalised tensors, optionally a seeded random subset of it.

    Args:
        name: ``"digits"`` (scikit-learn's 8x8 digits, 1x8x8, a seeded 1,347/450 split),
            ``"fashion-mnist"`` (1x28x28; read from ``root``, by default the folder of
            Debian's ``dataset-fashion-mnist`` package), ``"fashion-mnist-14"`` (the same
            images and subsets, each 2x2 block averaged: 1x14x14, a quarter of the
            multiply-accumulates per network), ``"cifar10"`` (3x32x32 through
            torchvision; ``root`` holds ``cifar-10-batches-py``), a ``(train, test)`` pair of
            torch Datasets yielding ``(image tensor, label)`` (used as they are: normalise
            them yourself), or a DatasetBundle (subsetted again).
        n_train, n_test: keep this many images of each split (None: all), drawn with ``seed``.
        root: folder of the dataset files (see ``name``).
        seed: seed of the digits split and of the subsets.
        download: let torchvision download Fashion-MNIST / CIFAR-10 into ``root`` when the
            files are missing (needs internet).

    Example:
        >>> load_dataset("digits", n_train=100).num_classes
        10
    """
    # the sizes and the seed go on to torch as they are, so numpy scalars stay refused
    check_int("n_train", n_train, 1, none_ok="all", numpy=False)
    check_int("n_test", n_test, 1, none_ok="all", numpy=False)
    check_int("seed", seed, numpy=False)
    gen = torch.Generator().manual_seed(seed)

    if isinstance(name, DatasetBundle):
        bundle = name
        xtr, ytr = bundle.train.tensors
        xte, yte = bundle.test.tensors
        info, label, num_classes = dict(bundle.info), bundle.name, bundle.num_classes
    elif isinstance(name, (tuple, list)):
        if len(name) != 2 or not all(isinstance(d, Dataset) for d in name):
            raise ValueError("dataset pair must be (train_dataset, test_dataset), two torch Datasets")
        xtr, ytr = _materialise(name[0], "train")
        xte, yte = _materialise(name[1], "test")
        info, label = {"source": "user datasets"}, "custom"
        num_classes = int(max(ytr.max(), yte.max())) + 1
    elif name == "digits":
        (xtr, ytr, xte, yte), info = _digits(gen), {"source": "sklearn.datasets.load_digits"}
        label, num_classes = name, 10
    elif name in _FASHION_MNIST_POOLING:
        # Subset the uint8 images before converting, so only kept images become floats.
        (xtr, ytr, xte, yte), info = _fashion_mnist(root, download)
        label, num_classes = name, 10
    elif name == "cifar10":
        (xtr, ytr, xte, yte), info = _cifar10(root, download)
        label, num_classes = name, 10
    else:
        raise ValueError(
            f"dataset={name!r} is not known; allowed: {list(DATASET_NAMES)}, "
            "a (train_dataset, test_dataset) pair of torch Datasets, or a DatasetBundle"
        )

    xtr, ytr = _subset(xtr, ytr, n_train, "n_train", "training", label, gen)
    xte, yte = _subset(xte, yte, n_test, "n_test", "test", label, gen)
    if label in _FASHION_MNIST_POOLING:
        xtr, xte = (_normalise(x.unsqueeze(1), 255.0, *_FASHION_MNIST_NORM) for x in (xtr, xte))
        pool = _FASHION_MNIST_POOLING[label]
        if pool > 1:
            xtr, xte = (torch.nn.functional.avg_pool2d(x, pool) for x in (xtr, xte))
    elif label == "cifar10":
        xtr, xte = (_normalise(x.permute(0, 3, 1, 2), 255.0, *_CIFAR10_NORM) for x in (xtr, xte))
    if xtr.shape[1:] != xte.shape[1:]:
        raise ValueError(f"train images have shape {tuple(xtr.shape[1:])}, test images {tuple(xte.shape[1:])}")
    if xtr.dim() != 4:
        raise ValueError(
            f"images must be (channels, height, width) tensors, got shape {tuple(xtr.shape[1:])}"
        )
    if not isinstance(name, DatasetBundle):
        info = {**info, "seed": seed}
    return DatasetBundle(
        train=TensorDataset(xtr.contiguous(), ytr),
        test=TensorDataset(xte.contiguous(), yte),
        input_shape=tuple(int(s) for s in xtr.shape[1:]),
        num_classes=num_classes,
        name=label,
        info=info,
    )


# --- the datasets ---------------------------------------------------------------------------
def _digits(gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.as_tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(d.target, dtype=torch.int64)
    x = (x - x.mean()) / x.std()
    perm = torch.randperm(len(y), generator=gen)
    test, train = perm[:_DIGITS_N_TEST].sort().values, perm[_DIGITS_N_TEST:].sort().values
    return x[train], y[train], x[test], y[test]


def _fashion_mnist(root: str | os.PathLike | None, download: bool) -> tuple[tuple, dict]:
    src = Path(root) if root is not None else DEBIAN_FASHION_MNIST
    tv_root = _fashion_mnist_torchvision_root(src)
    if tv_root is None:
        if not download:
            raise FileNotFoundError(
                f"Fashion-MNIST files not found in {src} (looked for {', '.join(FASHION_MNIST_FILES)} "
                f"with or without .gz, there and in {src / 'FashionMNIST' / 'raw'}). Install Debian's "
                "package (apt-get install dataset-fashion-mnist), pass root= a folder holding the four "
                "IDX files, or pass download=True to let torchvision download them."
            )
        tv_root = src if root is not None else default_cache_dir() / "fashion-mnist-download"
        from torchvision.datasets import FashionMNIST

        try:
            FashionMNIST(str(tv_root), train=True, download=True)
        except Exception as e:
            raise RuntimeError(
                f"Fashion-MNIST could not be downloaded into {tv_root} ({type(e).__name__}: {e}). "
                "Without internet, install Debian's dataset-fashion-mnist package or pass root= "
                "a folder holding the four IDX files."
            ) from None
    from torchvision.datasets import FashionMNIST  # imported late: it takes seconds

    # torchvision's own reader; .data / .targets are whole uint8 / int64 tensors (no PIL).
    train = FashionMNIST(str(tv_root), train=True, download=False)
    test = FashionMNIST(str(tv_root), train=False, download=False)
    return (train.data, train.targets, test.data, test.targets), {"source": str(src)}


def _fashion_mnist_torchvision_root(src: Path) -> Path | None:
    """A folder torchvision's FashionMNIST reads (it wants ``<root>/FashionMNIST/raw/<files>``).

    Debian ships the files gzipped in one flat folder; they are unpacked once into the cache.
    """
    raw = src / "FashionMNIST" / "raw"
    if all((raw / f).is_file() for f in FASHION_MNIST_FILES):
        return src
    for folder in (src, raw):
        found = {}
        for f in FASHION_MNIST_FILES:
            if (folder / f).is_file():
                found[f] = folder / f
            elif (folder / f"{f}.gz").is_file():
                found[f] = folder / f"{f}.gz"
        if len(found) == len(FASHION_MNIST_FILES):
            key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
            cache_root = default_cache_dir() / f"fashion-mnist-{key}"
            cache_raw = cache_root / "FashionMNIST" / "raw"
            for f, path in found.items():
                target = cache_raw / f
                if not target.is_file() or target.stat().st_mtime < path.stat().st_mtime:
                    opener = gzip.open if path.suffix == ".gz" else open
                    with opener(path, "rb") as fh:
                        atomic_write_bytes(target, fh.read())  # concurrent loaders never see half a file
            return cache_root
    return None


def _cifar10(root: str | os.PathLike | None, download: bool) -> tuple[tuple, dict]:
    folder = Path(root) if root is not None else default_cache_dir() / "cifar10"
    if not (folder / _CIFAR10_FOLDER).is_dir() and not download:
        raise FileNotFoundError(
            f"CIFAR-10 not found: {folder / _CIFAR10_FOLDER} does not exist. Pass root= the "
            "folder that contains cifar-10-batches-py, or download=True to let torchvision "
            "download it there (needs internet)."
        )
    from torchvision.datasets import CIFAR10  # imported late: it takes seconds

    try:
        train = CIFAR10(str(folder), train=True, download=download)
        test = CIFAR10(str(folder), train=False, download=download)
    except Exception as e:
        raise RuntimeError(
            f"CIFAR-10 could not be {'downloaded into' if download else 'read from'} {folder} "
            f"({type(e).__name__}: {e}). Download it on a machine with internet and pass root= "
            "the folder that contains cifar-10-batches-py."
        ) from None
    xs = [torch.from_numpy(d.data) for d in (train, test)]  # uint8, (n, 32, 32, 3)
    ys = [torch.as_tensor(d.targets, dtype=torch.int64) for d in (train, test)]
    return (xs[0], ys[0], xs[1], ys[1]), {"source": str(folder)}


# --- helpers --------------------------------------------------------------------------------
def _subset(x: torch.Tensor, y: torch.Tensor, n: int | None, field: str, split: str,
            name: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None or n == len(y):
        return x, y
    if n > len(y):
        raise ValueError(f"{field}={n} is more than the {len(y)} {split} images of {name}")
    idx = torch.randperm(len(y), generator=gen)[:n].sort().values
    return x[idx], y[idx]


def _normalise(x: torch.Tensor, scale: float, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    shape = (1, len(mean), 1, 1)
    x = x.to(torch.float32).div_(scale)
    return x.sub_(torch.tensor(mean).view(shape)).div_(torch.tensor(std).view(shape))


def _materialise(ds: Dataset, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a map-style Dataset of (image tensor, label) into two tensors, once."""
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        x, y = ds.tensors
        return x.to(torch.float32), y.to(torch.int64)
    try:
        batches = list(DataLoader(ds, batch_size=1024, shuffle=False))
    except TypeError as e:
        raise TypeError(
            f"{split} dataset items must be (image tensor, label) pairs; add a ToTensor() "
            f"transform for PIL images ({e})"
        ) from None
    if not batches:
        raise ValueError(f"{split} dataset is empty")
    x = torch.cat([b[0] for b in batches]).to(torch.float32)
    y = torch.cat([torch.as_tensor(b[1]) for b in batches]).to(torch.int64)
    return x, y
