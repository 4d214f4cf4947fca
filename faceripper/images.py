"""Reading reference photos and converting video frames into what dlib takes.

Every image handed to dlib is a C-contiguous ``(height, width, 3)`` uint8 array in RGB
order. dlib 20 rejects non-contiguous views such as ``frame[:, :, ::-1]``, so colour
conversion always makes a new array.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.errors import ImageReadError, NotAnImageError

ImageRGB = npt.NDArray[np.uint8]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


def is_image_name(path: Path) -> bool:
    """Whether ``path`` has one of the image extensions faceripper reads."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def load_rgb(path: Path) -> ImageRGB:
    """Read an image file as an upright RGB uint8 array of shape ``(h, w, 3)``.

    Pixel for pixel the same as ``face_recognition.load_image_file`` for an 8-bit
    image without EXIF rotation, so encodings match that library's. Beyond it: the
    EXIF orientation is applied (phone photos come out upright), 16-bit images are
    scaled to 8 bits instead of clipped, and grayscale, palette and RGBA images are
    converted (alpha is dropped, as face_recognition does).

    Raises:
        ImageReadError: the file is missing, truncated or corrupt.
        NotAnImageError: (an ``ImageReadError``) the file is not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
            if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                wide = np.asarray(image, dtype=np.float64)
                peak = 65535.0 if wide.max(initial=0) > 255 or image.mode != "I" else 255.0
                gray = np.clip(np.rint(wide * (255.0 / peak)), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
            if image.mode == "F":
                gray = np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))
            return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise NotAnImageError(f"{path}: not an image file") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{path}: image too large ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot decode image ({exc})") from exc


def bgr_to_rgb(frame_bgr: npt.NDArray[np.uint8]) -> ImageRGB:
    """Convert an OpenCV BGR frame into a new contiguous RGB array."""
    import cv2

    return np.ascontiguousarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))
