"""The face record that flows from detector to tracks: the faces of one frame.

:class:`Faces` holds the faces of one image as aligned numpy arrays, one row per face,
so that filtering (``faces[faces.sizes >= 100]``) keeps every column in step, as
supervision's ``Detections`` does. A frame's record starts as the detector's boxes
(:func:`faceripper.worker.frame.process_frame`); each stage fills in its columns
(sharpness, appearance, landmarks, encodings, distances) for every face or for some,
and each face of it becomes one :class:`faceripper.tracks.Observation` of its track
(:meth:`faceripper.tracks.Observation.from_faces`). :func:`faceripper.encoder.encode_faces`
returns one too (boxes, landmarks, encodings).

A column that is computed for some faces only holds NaN in the rows of the others, and
a column that no stage has computed yet has no width (``(n, 0)``): :meth:`Faces.row`
gives None for both.

To add a column: declare it below with :func:`column` and the default of a frame
where it is not computed yet (its first dimension ``n``); indexing, :meth:`Faces.append`
and the row-count check follow from the declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, as_boxes, box_sizes

Column = npt.NDArray[Any]


def column(default: Callable[[int], Column]) -> Any:
    """A column of :class:`Faces`, ``default(n)`` where the caller gives none."""
    return field(default=None, metadata={"default": default})


@dataclass(frozen=True)
class Faces:
    """Faces found in one image, one row per face.

    Attributes:
        box_trbl: ``(n, 4)`` int64 boxes, ``(top, right, bottom, left)`` in pixels of the
            full-resolution image.
        face_index: ``(n,)`` int64 the face's number in its frame (the order of the
            detector's boxes, left then top, the faces found by following after them);
            ``0 .. n - 1`` by default.
        followed: ``(n,)`` bool found by following a track HOG lost
            (:mod:`faceripper.follow`), not by the detector.
        sharpness: ``(n,)`` float64 size-normalised variance of the Laplacian (see
            :mod:`faceripper.blur`); NaN where not measured.
        blurry: ``(n,)`` bool sharpness under the run's ``--blur`` threshold.
        appearance: ``(n, s, s)`` float32 signature of the face's box
            (:func:`faceripper.crops.signature`; NaN for a box with less than 2x2 pixels
            inside the image); ``(n, 0)`` before it is computed.
        landmarks_xy: ``(n, k, 2)`` float64 landmark points ``(x, y)``; ``k`` is 5 or 68,
            0 before landmarks are computed; NaN for the faces without.
        encodings: ``(n, 128)`` float64 dlib face descriptors, NaN for the faces not
            encoded; ``(n, 0)`` before encoding.
        distances: ``(n, n_identities)`` float64 distance of each encoded face to each
            identity (:func:`faceripper.matching.person_distances`), NaN for the faces
            not encoded; ``(n, 0)`` before.

    Example:
        >>> faces = Faces(np.array([[10, 150, 150, 10], [0, 40, 30, 10]]))
        >>> large = faces[faces.sizes >= 100]
        >>> len(large), large.face_index.tolist()
        (1, [0])
        >>> both = large.append(Faces.followed_boxes(np.array([[0, 90, 90, 0]]), 2))
        >>> both.face_index.tolist(), both.followed.tolist()
        ([0, 2], [False, True])
    """

    box_trbl: BoxArray
    face_index: npt.NDArray[np.int64] = column(lambda n: np.arange(n, dtype=np.int64))
    followed: npt.NDArray[np.bool_] = column(lambda n: np.zeros(n, dtype=bool))
    sharpness: npt.NDArray[np.float64] = column(lambda n: np.full(n, np.nan))
    blurry: npt.NDArray[np.bool_] = column(lambda n: np.zeros(n, dtype=bool))
    appearance: npt.NDArray[np.float32] = column(lambda n: np.zeros((n, 0), np.float32))
    landmarks_xy: npt.NDArray[np.float64] = column(lambda n: np.zeros((n, 0, 2)))
    encodings: npt.NDArray[np.float64] = column(lambda n: np.zeros((n, 0)))
    distances: npt.NDArray[np.float64] = column(lambda n: np.zeros((n, 0)))

    def __post_init__(self) -> None:
        boxes = as_boxes(self.box_trbl)
        n = len(boxes)
        object.__setattr__(self, "box_trbl", boxes)
        for item in fields(self)[1:]:
            value = getattr(self, item.name)
            if value is None:
                object.__setattr__(self, item.name, item.metadata["default"](n))
            elif len(value) != n:
                raise ValueError(
                    f"Faces.{item.name} has {len(value)} rows, expected {n} (one per box)"
                )

    @classmethod
    def followed_boxes(cls, boxes: BoxArray, first_index: int) -> Faces:
        """Faces found by following (:mod:`faceripper.follow`), numbered from
        ``first_index`` on (after the frame's detected faces)."""
        n = len(boxes)
        return cls(boxes, face_index=first_index + np.arange(n), followed=np.ones(n, bool))

    def __len__(self) -> int:
        return len(self.box_trbl)

    def __getitem__(
        self, index: npt.NDArray[np.bool_] | npt.NDArray[np.integer[Any]] | slice
    ) -> Faces:
        """Select faces by boolean mask, integer indices or slice."""
        return Faces(**{item.name: getattr(self, item.name)[index] for item in fields(self)})

    def append(self, other: Faces) -> Faces:
        """These faces, then ``other``'s (columns of the same widths)."""
        return Faces(
            **{
                item.name: np.concatenate([getattr(self, item.name), getattr(other, item.name)])
                for item in fields(self)
            }
        )

    def with_columns(self, **columns: Column) -> Faces:
        """The same faces with these columns replaced (``n`` rows each)."""
        return replace(self, **columns)

    def row(self, column: str, i: int) -> Column | None:
        """Row ``i`` of a column computed for some faces only (a copy); None where it is
        not computed (NaN, or a column of no width)."""
        value: Column = getattr(self, column)[i]
        if value.size == 0 or np.isnan(value).all():
            return None
        return value.copy()

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        """Each face's size in pixels: the smaller of its box's width and height."""
        return box_sizes(self.box_trbl)

    @property
    def encoded(self) -> npt.NDArray[np.bool_]:
        """``(n,)`` bool: which faces have an encoding."""
        if self.encodings.shape[1] == 0:
            return np.zeros(len(self), dtype=bool)
        return np.asarray(~np.isnan(self.encodings).all(axis=1), dtype=bool)
