"""Datasets: digits, Fashion-MNIST from Debian's files (when installed), user datasets."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from analognas import DatasetBundle, load_dataset
from analognas.data import DEBIAN_FASHION_MNIST, FASHION_MNIST_FILES

HAVE_FASHION = all((DEBIAN_FASHION_MNIST / f"{f}.gz").is_file() for f in FASHION_MNIST_FILES)
needs_fashion = pytest.mark.skipif(
    not HAVE_FASHION, reason=f"Fashion-MNIST files not in {DEBIAN_FASHION_MNIST} (apt-get install dataset-fashion-mnist)"
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALOGNAS_CACHE", str(tmp_path / "cache"))


def test_digits_tensors_split_and_normalisation():
    d = load_dataset("digits")
    assert isinstance(d, DatasetBundle)
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10 and d.name == "digits"
    assert (len(d.train), len(d.test)) == (1347, 450)
    x, y = d.train.tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (1347, 1, 8, 8)
    assert abs(float(x.mean())) < 0.1 and 0.8 < float(x.std()) < 1.2
    assert set(y.tolist()) == set(range(10))
    assert d.describe()["n_train"] == 1347


def test_subsets_are_seeded():
    a = load_dataset("digits", n_train=100, n_test=50, seed=3)
    b = load_dataset("digits", n_train=100, n_test=50, seed=3)
    c = load_dataset("digits", n_train=100, n_test=50, seed=4)
    assert (len(a.train), len(a.test)) == (100, 50)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert torch.equal(a.test.tensors[1], b.test.tensors[1])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    # a bundle can be subsetted again
    smaller = load_dataset(a, n_train=10)
    assert (len(smaller.train), len(smaller.test)) == (10, 50) and smaller.num_classes == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "mnist"}, r"dataset='mnist' is not known; allowed: \['digits', 'fashion-mnist', 'fashion-mnist-14', 'cifar10'\]"),
        ({"name": "digits", "n_train": 0}, "n_train=0 is not allowed"),
        ({"name": "digits", "n_test": 2.5}, "n_test=2.5 is not allowed"),
        ({"name": "digits", "n_train": 5000}, "n_train=5000 is more than the 1347 training images"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_missing_folders_are_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_dataset("fashion-mnist", root=missing)
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}.*cifar-10-batches-py.*download=True"):
        load_dataset("cifar10", root=tmp_path)


class _ListDataset(Dataset):
    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(n)
        self.x = torch.randn(n, 3, 6, 6, generator=g)
        self.y = torch.arange(n) % 4

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_user_dataset_pair():
    d = load_dataset((_ListDataset(40), TensorDataset(torch.randn(12, 3, 6, 6), torch.arange(12) % 3)))
    assert d.input_shape == (3, 6, 6) and d.num_classes == 4 and d.name == "custom"
    assert (len(d.train), len(d.test)) == (40, 12)
    assert torch.equal(d.train.tensors[0], _ListDataset(40).x)
    with pytest.raises(ValueError, match="pair"):
        load_dataset((_ListDataset(4),))


@needs_fashion
def test_fashion_mnist_from_debian_files():
    d = load_dataset("fashion-mnist", n_train=300, n_test=100, seed=0)
    assert d.input_shape == (1, 28, 28) and d.num_classes == 10
    x, y = d.train.tensors
    assert x.shape == (300, 1, 28, 28) and x.dtype == torch.float32
    assert -1.0 < float(x.min()) < 0.0 and float(x.max()) > 1.5  # normalised with the train mean / std
    assert 0 <= int(y.min()) and int(y.max()) <= 9
    assert d.info["source"] == str(DEBIAN_FASHION_MNIST)
    again = load_dataset("fashion-mnist", n_train=300, n_test=100, seed=0)
    assert torch.equal(again.test.tensors[0], d.test.tensors[0])


@needs_fashion
def test_fashion_mnist_14_is_the_same_subset_averaged_over_2x2_blocks():
    full = load_dataset("fashion-mnist", n_train=200, n_test=50, seed=3)
    small = load_dataset("fashion-mnist-14", n_train=200, n_test=50, seed=3)
    assert small.input_shape == (1, 14, 14) and small.name == "fashion-mnist-14"
    for a, b in zip(full.train.tensors + full.test.tensors, small.train.tensors + small.test.tensors):
        if a.dim() == 4:
            assert torch.allclose(torch.nn.functional.avg_pool2d(a, 2), b)
            assert not torch.allclose(a[:, :, ::2, ::2], b)  # averaged, not strided
        else:
            assert torch.equal(a, b)  # the same images and labels


@needs_fashion
def test_fashion_mnist_from_user_folders(tmp_path):
    # a flat folder mixing uncompressed and gzipped IDX files
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in FASHION_MNIST_FILES[2:]:  # the small test files
        with gzip.open(DEBIAN_FASHION_MNIST / f"{f}.gz", "rb") as src, open(flat / f, "wb") as dst:
            shutil.copyfileobj(src, dst)
    for f in FASHION_MNIST_FILES[:2]:
        (flat / f"{f}.gz").symlink_to(DEBIAN_FASHION_MNIST / f"{f}.gz")
    d = load_dataset("fashion-mnist", root=flat, n_train=50, n_test=50)
    assert d.input_shape == (1, 28, 28) and (len(d.train), len(d.test)) == (50, 50)
    # the unpacked cache is torchvision's own layout (<root>/FashionMNIST/raw), readable as a root
    (tv_root,) = (tmp_path / "cache").glob("fashion-mnist-*")
    assert (tv_root / "FashionMNIST" / "raw" / FASHION_MNIST_FILES[0]).is_file()
    again = load_dataset("fashion-mnist", root=tv_root, n_train=50, n_test=50)
    assert torch.equal(again.train.tensors[0], d.train.tensors[0])
    # a folder with only some of the files is reported, naming the folder
    (flat / f"{FASHION_MNIST_FILES[0]}.gz").unlink()
    with pytest.raises(FileNotFoundError, match=str(flat)):
        load_dataset("fashion-mnist", root=flat)
