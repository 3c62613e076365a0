"""The test-image guard: a correction that is (nearly) one of the MNIST test images is refused, so that the test
set the page evaluates on is never trained on.

What "close" means. A correction c (28x28 uint8, ink = 255, as the model saw it) is close to test image t when,
for some shift of c by at most SHIFT pixels along each axis, all three hold:

  1. c has t's ink: at least INK_PRESENT (95 %) of t's ink pixels (>= INK, 32 of 255) are in c at least as dark
     as in t, to within TOLERANCE (2 grey levels). Strokes drawn over t only add ink, so they keep this.
  2. c has t's rim: at least RIM_KEPT (50 %) of t's rim pixels (the anti-aliased edge of its strokes, grey levels
     INK to RIM_TOP, 223) have the same grey level in c, to within TOLERANCE. The rim is t's fingerprint: the
     grey levels a scanned pen's edge left, pixel by pixel. A stroke drawn over t hides part of it and leaves
     the rest as it was.
  3. c has t's outline: at least OUTLINE_KEPT (50 %) of the pixels just outside t's ink (not ink themselves,
     touching it) are in c to within TOLERANCE grey levels: c's ink stops where t's does. A drawing that covers
     a thinner test image (a thick 1 over a thin one) has its ink there.

A test image with fewer than MIN_RIM rim pixels (2 of the 10,000, drawn in black and white) has no grey levels
to recognise it by: its ink stands for its rim, and its outline must be kept at OUTLINE_KEPT_WITHOUT_RIM (90 %).

So a test image with a pixel changed by a grey level, or every pixel by up to 2 levels, or shifted by a pixel
or two, or with strokes drawn over it that hide less than half of its rim and outline, is refused. A digit drawn in the
page is not a test image even when it looks like one: its edge has the page brush's grey levels, not the
scanner's. Measured on every style of tests/handwriting.py, the drawn-digit benchmark's templates and drawings
(bench/bench_drawn.py) and the 60,000 MNIST training images (real handwriting by other writers, scanned as the
test images were): bench/bench_test_image_guard.py; the figures are in docs/test-image-guard.md.

What it does not catch: a test image drawn over on the page's canvas and then prepared again
(mnist_core.preprocess.prepare_canvas crops it, thickens thin strokes and fits it again, which changes its
grey levels). The page does not offer #correct for a canvas that holds a test image until it is cleared
(web/learning.js).

Cost. Each condition for one shift implies a weaker one for all shifts at once, checked for every test image
together: t's ink lies within c's ink grown by SHIFT pixels (an AND and a popcount of 13 64-bit words per test
image), and each of t's rim pixels finds its grey level, to within TOLERANCE, somewhere within SHIFT pixels in c
(one table lookup per rim pixel). Only the test images that pass both are compared pixel by pixel at each of the
(2 * SHIFT + 1) ** 2 shifts, where the outline is checked too.
"""

from dataclasses import dataclass

import numpy as np

from ..mnist import IMAGE_SIZE as SIZE

SHIFT = 2            # pixels, along each axis
TOLERANCE = 2        # grey levels
INK = 32             # a pixel at least this dark is ink
RIM_TOP = 223        # ink pixels up to this level are the rim (anti-aliased edge) rather than the stroke's core
MIN_RIM = 12         # fewer rim pixels than this: the ink is the rim
INK_PRESENT = 0.95   # condition 1: share of the test image's ink that the correction has
RIM_KEPT = 0.5       # condition 2: share of the test image's rim that the correction reproduces
OUTLINE_KEPT = 0.5   # condition 3: share of the pixels just outside its ink that the correction reproduces
OUTLINE_KEPT_WITHOUT_RIM = 0.9  # the same for a test image with fewer than MIN_RIM rim pixels
SHIFTS = [(dy, dx) for dy in range(-SHIFT, SHIFT + 1) for dx in range(-SHIFT, SHIFT + 1)]  # (S,) = 25
CHUNK = 64           # test images compared pixel by pixel at once (25 shifts x 64 x 784 int16: 2.5 MB)


@dataclass(frozen=True)
class Match:
    """A test image aligned with a correction: how much of its ink and rim the correction has."""

    index: int            # the test image
    shift: tuple          # (dy, dx): correction pixel (y + dy, x + dx) lies on test image pixel (y, x)
    ink_present: float    # condition 1's share
    rim_kept: float       # condition 2's share
    outline_kept: float   # condition 3's share
    close: bool           # all three hold


class TestImageGuard:
    """The test images' ink, rim and outline, prepared once, against which each correction is checked."""

    __test__ = False  # a domain class, not a pytest test class

    def __init__(self, test_images, ink_present=INK_PRESENT, rim_kept=RIM_KEPT):
        """`test_images`: uint8 (N, 28, 28). The thresholds (0 < each <= 1) are the definition's; lower ones (for
        measuring how close real drawings come) let more test images through the quick checks to the exact one."""
        if not (0 < ink_present <= 1 and 0 < rim_kept <= 1):
            raise ValueError(f"thresholds must be in (0, 1], got {ink_present}, {rim_kept}")
        images = np.asarray(test_images)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIZE, SIZE) or not len(images):
            raise ValueError(f"expected uint8 test images (N, {SIZE}, {SIZE}), got {images.dtype} {images.shape}")
        self.test_images = test_images
        self.ink_present, self.rim_kept = ink_present, rim_kept
        n = len(images)
        ink = images >= INK                                                     # (N, 28, 28)
        rim = ink & (images <= RIM_TOP)
        few = rim.sum(axis=(1, 2)) < MIN_RIM
        rim[few] = ink[few]
        outline = _dilate(ink, 1) & ~ink
        self.images = images.reshape(n, -1)                                     # (N, 784)
        self.ink = ink.reshape(n, -1)                                           # (N, 784) bool
        self.rim = rim.reshape(n, -1)
        self.outline = outline.reshape(n, -1)
        self.ink_count = self.ink.sum(axis=1)                                   # (N,)
        self.rim_count = self.rim.sum(axis=1)
        self.outline_count = np.maximum(self.outline.sum(axis=1), 1)
        self.outline_share = np.where(few, OUTLINE_KEPT_WITHOUT_RIM, OUTLINE_KEPT)  # (N,): condition 3's threshold
        self.ink_bits = _pack(self.ink)                                         # (N, 13) uint64
        owners, pixels = np.nonzero(self.rim)                                   # (R,): every rim pixel, image by image
        self.rim_keys = pixels * 256 + self.images[owners, pixels]              # (R,) into `near` below, flat
        self.rim_starts = np.concatenate([[0], np.cumsum(self.rim_count)[:-1]])
        # Whole pixel counts that pass each condition (ceil of the share of the count).
        self.ink_needed = np.ceil(ink_present * self.ink_count - 1e-9).astype(np.int64)
        self.rim_needed = np.ceil(rim_kept * self.rim_count - 1e-9).astype(np.int64)

    def candidates(self, image):
        """Indices of the test images that may be close to `image` (28x28 uint8): those that pass both conditions
        for the union of all shifts, which passing them for one shift implies."""
        image = _as_image(image)
        dark = _pack(_dilate(image >= INK - TOLERANCE, SHIFT).reshape(1, -1))[0]
        has_ink = _popcount(self.ink_bits & dark)
        # near[p * 256 + v]: grey level v, to within TOLERANCE, is within SHIFT pixels of pixel p (off the frame: 0).
        levels = _windows(image).astype(np.intp)[:, :, None] + np.arange(-TOLERANCE, TOLERANCE + 1)  # (S, 784, 5)
        near = np.zeros(SIZE * SIZE * 256, dtype=np.uint8)
        near[np.arange(SIZE * SIZE)[:, None] * 256 + np.clip(levels, 0, 255)] = 1
        has_rim = np.add.reduceat(near[self.rim_keys], self.rim_starts, dtype=np.int64)   # (N,)
        return np.flatnonzero((has_ink >= self.ink_needed) & (has_rim >= self.rim_needed))

    def alignments(self, image, indices):
        """`image` against test images `indices` at every shift: the shares (ink_present, rim_kept, outline_kept),
        each (n, S) for the S shifts of SHIFTS."""
        windows = _windows(_as_image(image)).astype(np.int16)                   # (S, 784)
        shares = [[np.zeros((0, len(SHIFTS)))] for _ in range(3)]
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start:start + CHUNK]
            difference = windows[None] - self.images[chunk][:, None].astype(np.int16)   # (n, S, 784)
            same = np.abs(difference) <= TOLERANCE
            for share, (passed, mask, count) in zip(shares, (
                    (difference >= -TOLERANCE, self.ink, self.ink_count),
                    (same, self.rim, self.rim_count),
                    (same, self.outline, self.outline_count)), strict=True):
                share.append((passed & mask[chunk][:, None]).sum(axis=2) / count[chunk][:, None])
        return tuple(np.concatenate(share) for share in shares)

    def closeness(self, indices, ink_present, rim_kept, outline_kept):
        """The smallest of the three shares (alignments) over its threshold, (n, S): 1 or more is close."""
        outline_share = self.outline_share[indices][:, None]
        return np.minimum(np.minimum(ink_present / self.ink_present, rim_kept / self.rim_kept),
                          outline_kept / outline_share)

    def nearest(self, image):
        """The candidate test image (and shift) closest to passing both conditions, as a Match; None when no test
        image passes even the quick checks."""
        indices = self.candidates(image)
        if indices.size == 0:
            return None
        ink_present, rim_kept, outline_kept = shares = self.alignments(image, indices)
        closeness = self.closeness(indices, *shares)
        j, s = np.unravel_index(int(np.argmax(closeness)), closeness.shape)
        return Match(int(indices[j]), SHIFTS[s], float(ink_present[j, s]), float(rim_kept[j, s]),
                     float(outline_kept[j, s]), bool(closeness[j, s] >= 1))

    def refusal(self, image):
        """None when `image` may be trained on, else one line saying which test image it is."""
        match = self.nearest(image)
        if match is None or not match.close:
            return None
        if match.ink_present == 1 and match.rim_kept == 1 and match.outline_kept == 1 and match.shift == (0, 0):
            how = ""
        else:
            shifted = f", shifted by ({match.shift[0]}, {match.shift[1]}) pixels" if match.shift != (0, 0) else ""
            how = f" (or nearly: it has its ink and {100 * match.rim_kept:.0f} % of its strokes' edge{shifted})"
        return f"that is MNIST test image {match.index}{how}: the test images are never trained on"


def nearest_test_image(image28, test_images):
    """The test image best aligned with `image28` (28x28 uint8), as a Match, or None (TestImageGuard.nearest).
    Each call prepares the test images again: keep a TestImageGuard to check many images."""
    return TestImageGuard(test_images).nearest(image28)


def refusal(image28, test_images):
    """None when `image28` is not close to any of `test_images`, else a one-line message (TestImageGuard.refusal).
    Each call prepares the test images again: keep a TestImageGuard to check many images."""
    return TestImageGuard(test_images).refusal(image28)


def _windows(image):
    """(28, 28) -> (S, 784): the image moved by each of SHIFTS, zero-filled; window (dy, dx) at pixel (y, x) is
    image pixel (y + dy, x + dx)."""
    padded = np.pad(image, SHIFT)
    return np.stack([padded[SHIFT + dy:SHIFT + dy + SIZE, SHIFT + dx:SHIFT + dx + SIZE].reshape(-1)
                     for dy, dx in SHIFTS])


def _as_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.size != SIZE * SIZE:
        raise ValueError(f"expected a {SIZE}x{SIZE} uint8 image, got {image.dtype} of {image.size} pixels")
    return image.reshape(SIZE, SIZE)


def _dilate(mask, reach):
    """Boolean masks (..., H, W) grown by `reach` pixels along each axis (a square of side 2 * reach + 1)."""
    grown = mask.copy()
    for axis in (-2, -1):
        spread = grown.copy()
        for step in range(1, reach + 1):
            ahead = [slice(None)] * grown.ndim
            behind = [slice(None)] * grown.ndim
            ahead[axis], behind[axis] = slice(step, None), slice(None, -step)
            spread[tuple(ahead)] |= grown[tuple(behind)]
            spread[tuple(behind)] |= grown[tuple(ahead)]
        grown = spread
    return grown


def _pack(masks):
    """Boolean (N, 784) -> uint64 (N, 13): the bits, padded to whole words."""
    packed = np.packbits(masks, axis=1)                                         # (N, 98)
    packed = np.pad(packed, ((0, 0), (0, -packed.shape[1] % 8)))                # (N, 104)
    return np.ascontiguousarray(packed).view(np.uint64)


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def _popcount(words):
    """Set bits per row of uint64 (N, W) -> int64 (N,) (np.bitwise_count from NumPy 2.0, a byte table before it)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    return _BYTE_BITS[words.view(np.uint8)].sum(axis=1, dtype=np.int64)
