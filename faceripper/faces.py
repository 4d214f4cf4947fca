"""The face record that flows from detector to writer.

:class:`Faces` holds the faces of one image as parallel numpy arrays, so that filtering
(``faces[faces.sizes >= 100]``) keeps every field in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, as_boxes, box_sizes


def _empty(shape: tuple[int, ...], dtype: type = np.float64) -> npt.NDArray:
    return np.zeros(shape, dtype=dtype)


@dataclass(frozen=True)
class Faces:
    """Faces found in one image.

    Attributes:
        box_trbl: ``(n, 4)`` int64 boxes, ``(top, right, bottom, left)`` in pixels of the
            full-resolution image.
        landmarks_xy: ``(n, k, 2)`` float64 landmark points ``(x, y)``; ``k`` is 5 or 68,
            0 before landmarks are computed.
        encodings: ``(n, 128)`` float64 dlib face descriptors; ``(n, 0)`` before encoding.
        sharpness: ``(n,)`` float64 size-normalised variance of the Laplacian (see
            :mod:`faceripper.blur`); NaN where not measured.

    Example:
        >>> faces = Faces(np.array([[10, 150, 150, 10], [0, 40, 30, 10]]))
        >>> len(faces[faces.sizes >= 100])
        1
    """

    box_trbl: BoxArray
    landmarks_xy: npt.NDArray[np.float64] = field(default=None)  # type: ignore[arg-type]
    encodings: npt.NDArray[np.float64] = field(default=None)  # type: ignore[arg-type]
    sharpness: npt.NDArray[np.float64] = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        boxes = as_boxes(self.box_trbl)
        n = len(boxes)
        object.__setattr__(self, "box_trbl", boxes)
        if self.landmarks_xy is None:
            object.__setattr__(self, "landmarks_xy", _empty((n, 0, 2)))
        if self.encodings is None:
            object.__setattr__(self, "encodings", _empty((n, 0)))
        if self.sharpness is None:
            object.__setattr__(self, "sharpness", np.full(n, np.nan))
        for item in fields(self):
            value = getattr(self, item.name)
            if len(value) != n:
                raise ValueError(
                    f"Faces.{item.name} has {len(value)} rows, expected {n} (one per box)"
                )

    def __len__(self) -> int:
        return len(self.box_trbl)

    def __getitem__(
        self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer[Any]] | slice
    ) -> Faces:
        """Select faces by boolean mask, integer indices or slice."""
        return Faces(
            box_trbl=self.box_trbl[index],
            landmarks_xy=self.landmarks_xy[index],
            encodings=self.encodings[index],
            sharpness=self.sharpness[index],
        )

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        """Each face's size in pixels: the smaller of its box's width and height."""
        return box_sizes(self.box_trbl)
