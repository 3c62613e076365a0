"""Shared fixtures: the real MNIST test and training sets (fetched once into the cache) and the shipped models."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
SHIPPED_MODELS = {"mnist-fc": ASSETS / "mnist-fc-f32.gguf", "mnist-cnn": ASSETS / "mnist-cnn-f32.gguf"}


@pytest.fixture(scope="session")
def mnist_test_files():
    """(images path, labels path) of the verified MNIST test set, fetched if needed."""
    from mnist_core.data import dataset_files
    return dataset_files("mnist", "test")


@pytest.fixture(scope="session")
def mnist_test(mnist_test_files):
    """The 10,000 MNIST test images (uint8, (N, 28, 28)) and labels."""
    from mnist_core.formats.idx import read_idx_pair
    return read_idx_pair(*mnist_test_files)


@pytest.fixture(scope="session")
def mnist_train():
    """The 60,000 MNIST training images and labels."""
    from mnist_core.data import load_split
    return load_split("mnist", "train")
