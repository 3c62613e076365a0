"""Image files of written numbers -> ink: decoding (Pillow) and separating the ink from the paper.

`load_ink(path)` decodes a PNG, JPEG or PGM file (a scan, a photo, a screenshot) and returns the
ink as an (H, W) uint8 image, ink high, as mnist_core.segmentation reads it. `ink_from_gray`
does the second half on a grayscale array:

1. Which side is ink follows from the paper, which most pixels show: light paper (the median
   pixel above mid-grey) has dark ink, dark paper light ink.
2. The paper's level is estimated at a large scale, so that an uneven photo (a shadow, a
   gradient from a lamp) does not become ink: in blocks of 1/BACKGROUND_BLOCKS of the shorter
   side, the level PAPER_PERCENTILE of the way towards the ink's opposite (writing covers well
   under a quarter of such a block), interpolated back to every pixel.
3. The ink's contrast is its difference from the paper as a share of the way from the paper
   to black (or to white), so that ink in a shadow is as strong as ink in the light. It is ink
   where it stands out of the noise: above NOISE_SIGMAS times the noise's robust spread (and at
   least MIN_INK_STEP), stretched so that the strong ink is 255. A page without ink that stands
   out gives an image without ink.

Pillow is an optional dependency (`pip install 'mnist-core[images]'`); without it, loading says so.
"""

import warnings

import numpy as np

from .errors import FileFormatError, MnistCoreError
from .ink_marks import MAX_PIXELS
from .preprocess import resample

FORMATS = ("PNG", "JPEG", "PPM")       # Pillow's names; its PPM reader reads PGM (and PBM, PPM)
BACKGROUND_BLOCKS = 8      # blocks across the shorter side for the paper's level: larger than a stroke
PAPER_PERCENTILE = 75      # light paper is the brighter three quarters of a block (dark paper: the darker)
NOISE_SIGMAS = 5.0         # ink stands this many noise spreads out of the paper (a blank page's noise does not)
MIN_INK_STEP = 8.0         # ... and at least this many grey levels (of 255): a clean scan has no noise to measure
STRONG_INK = 90            # this percentile of the ink's strength becomes 255 (a few dark blots do not set it)
MIN_CONTRAST = 32.0        # ink weaker than this many grey levels at its strongest is no ink: a blank page


class PillowMissingError(MnistCoreError):
    """Reading image files needs Pillow, an optional dependency."""


def load_ink(path):
    """A PNG, JPEG or PGM file -> its ink (H, W) uint8, ink = 255 (see ink_from_gray)."""
    return ink_from_gray(load_gray(path))


def load_gray(path):
    """A PNG, JPEG or PGM file -> (H, W) float32 grey levels 0..255, transparency over white, EXIF rotation applied."""
    try:
        from PIL import Image, ImageOps, UnidentifiedImageError
    except ImportError:
        raise PillowMissingError("reading image files needs Pillow: pip install 'mnist-core[images]' "
                                 "(or pip install pillow)") from None
    with open(path, "rb") as file:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
                image = Image.open(file, formats=FORMATS)
        except UnidentifiedImageError:
            raise FileFormatError(path, "not a PNG, JPEG or PGM image") from None
        except Image.DecompressionBombError as exc:                    # far beyond our own limit
            raise FileFormatError(path, f"image too large to read: {exc}") from None
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise FileFormatError(path, f"a {width}x{height} image has {width * height:,} pixels, more than the "
                                        f"{MAX_PIXELS:,} a number is read from; scale it down")
        if width == 0 or height == 0:
            raise FileFormatError(path, f"the image is {width}x{height} pixels: empty")
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
            gray = _to_gray(image)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:  # what Pillow raises for broken data
            raise FileFormatError(path, f"cannot decode the {image.format} image: {exc}") from None
    return gray


def _to_gray(image):
    """A decoded Pillow image -> (H, W) float32 0..255; transparent pixels are white paper."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):              # 16-bit PGM and the like
        values = np.asarray(image, dtype=np.float32)
        return values * np.float32(255 / max(float(values.max()), 1.0)) if values.max() > 255 else values
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        from PIL import Image
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def ink_from_gray(gray):
    """(H, W) grey levels 0..255 (paper light or dark) -> ink (H, W) uint8, ink = 255, the paper 0."""
    gray = np.asarray(gray, dtype=np.float32)
    height, width = gray.shape
    light_paper = bool(np.median(gray) > 127.5)
    paper = paper_level(gray, PAPER_PERCENTILE if light_paper else 100 - PAPER_PERCENTILE)
    # Lighting multiplies what the paper and the ink reflect: the ink's contrast is its share of the way
    # from the paper's level to black (light paper) or to white (dark paper), in 0..255.
    if light_paper:
        difference = (paper - gray) * (255.0 / np.maximum(paper, 1.0))
    else:
        difference = (gray - paper) * (255.0 / np.maximum(255.0 - paper, 1.0))
    deviation = difference - np.median(difference)
    noise = 1.4826 * float(np.median(np.abs(deviation)))                        # robust sigma of the paper
    floor = max(NOISE_SIGMAS * noise, MIN_INK_STEP)
    strength = difference - floor
    inked = strength > 0
    if not inked.any():
        return np.zeros((height, width), dtype=np.uint8)
    strong = float(np.percentile(strength[inked], STRONG_INK))
    if strong + floor < MIN_CONTRAST:
        return np.zeros((height, width), dtype=np.uint8)
    return np.rint(np.clip(strength * (255.0 / max(strong, 1.0)), 0, 255)).astype(np.uint8)


def paper_level(gray, percentile):
    """(H, W) grey levels -> the paper's level at every pixel: a percentile of each block, interpolated (float32)."""
    height, width = gray.shape
    block = max(1, min(height, width) // BACKGROUND_BLOCKS)
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(gray, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    blocks = padded.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    levels = np.percentile(blocks, percentile, axis=2).astype(np.float32)        # (rows, cols)
    return resample(levels, height, width)
