"""The MNIST test set as the page holds it: the images Random, the evaluation and the confusion matrix show,
and the guard that keeps them out of fine-tuning ("a test image is never trained on")."""

import numpy as np

from ..formats.idx import read_idx_pair
from .convert import to_bytes
from .test_image_guard import TestImageGuard

TEST_NAMES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")  # as the site serves them


class TestSet:
    """uint8 test `images` (N, 28, 28) and `labels` (N,), once loaded, and a generator for Random."""

    __test__ = False  # a domain class, not a pytest test class

    def __init__(self, seed=None):
        self.images = self.labels = None
        self._seed, self._rng = seed, None
        self._guard = None   # TestImageGuard of the loaded images, made when a correction is first checked

    def _generator(self):
        """The set's own generator, made when the images are loaded or first asked for: numpy.random (nine
        extension modules) stays out of the page's memory snapshot and its start, which only read drawings."""
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    rng = property(_generator)

    @property
    def loaded(self):
        return self.images is not None

    def load(self, images_bytes, labels_bytes):
        """Read the test images and labels from IDX bytes (raw or gzipped); returns how many."""
        self.images, self.labels = read_idx_pair(to_bytes(images_bytes), to_bytes(labels_bytes),
                                                 images_name=TEST_NAMES[0], labels_name=TEST_NAMES[1])
        self._guard = None
        self._generator()  # with the images (after the page is ready), not at the first Random
        return int(self.labels.size)

    def _require(self):
        if self.images is None:
            raise ValueError("the test set is not loaded")

    def random_index(self, seed=None):
        """A random test image's index: seeded, or from the set's own generator."""
        self._require()
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        return int(rng.integers(self.labels.size))

    def random_indices(self, count, seed=None):
        """`count` random test images' indices (a whole number, or (low, high): a random count from low to high),
        seeded or from the set's own generator."""
        self._require()
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        if isinstance(count, tuple):
            count = int(rng.integers(count[0], count[1] + 1))
        return [int(i) for i in rng.integers(self.labels.size, size=count)]

    def image(self, index):
        """(image (28, 28) uint8, label) of test image `index`."""
        self._require()
        index = int(index)
        if not 0 <= index < self.labels.size:
            raise ValueError(f"test image index {index} is out of range 0..{self.labels.size - 1}")
        return self.images[index], int(self.labels[index])

    def refusal(self, image):
        """None, or why `image` (28, 28) uint8 may not be trained on: it is one of the test images, or nearly
        (test_image_guard.py says what "nearly" means)."""
        if self.images is None:
            return None
        if self._guard is None or self._guard.test_images is not self.images:
            self._guard = TestImageGuard(self.images)
        return self._guard.refusal(image)
