"""Head pose from the landmarks: how far a face is turned (yaw) and tilted (roll).

Both come from dlib's 5- or 68-point landmarks (``(k, 2)`` float64 ``(x, y)``), which
every encoded or aligned face has already: no model of its own.

- **Roll** (:func:`roll_degrees`): the angle of the line from the eye on the image's
  left to the one on its right (0: level; positive: the right eye lower).
- **Yaw** (:func:`yaw_degrees`): from where the nose lies along the eye line
  (:func:`nose_position`, in eye distances from the eyes' middle). Seen from the
  front, a head turned by ``yaw`` brings its nose, about half an eye distance in front
  of the eyes, ``0.5 * sin(yaw)`` eye distances across, while the eyes close up to
  ``cos(yaw)`` of their distance: ``nose_position = 0.5 * tan(yaw)``, so
  ``yaw = atan(2 * nose_position)``. Its sign says which way (positive: the nose
  towards the image's right). It is an estimate: on a profile dlib's landmarks string
  the eye points along the brow, and the yaw of a face turned beyond about 45 degrees is
  too small (measured on the Hamilton clip: Lin-Manuel Miranda's profile reads 18-27
  degrees, frontal faces 1-10, three-quarter faces in the audience 18-46).

:mod:`faceripper.crops` levels crops by the roll (:func:`alignment_roll`: a turned face
only a little), :func:`faceripper.tracks.decide` does not let a track's turned faces
make it farther than its frontal ones (:data:`FRONTAL_YAW`), and the manifest's ``yaw``
and ``roll`` columns give every crop's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: A face whose nose lies farther than this (in eye distances) from the middle of its
#: eyes, along the eye line, is turned (:func:`nose_offset`; a yaw of 16.7 degrees) ...
FRONTAL_NOSE_OFFSET = 0.15
#: ... and its crop is rotated at most this many degrees either way
#: (:func:`alignment_roll`). Measured with the 5-point landmarks on the Hamilton clip:
#: frontal faces lie 0.02-0.09 off (median 0.06-0.09, also when turned in the image's
#: plane by up to 60 degrees), Lin-Manuel Miranda's profile 0.16-0.25 (its four eye
#: points strung along the brow: "rolls" of up to 19 degrees), three-quarter faces in
#: the audience 0.16-0.52 (up to 17 degrees).
TURNED_MAX_ROLL = 10.0
#: ... unless its eye line is tilted at least this many degrees: then it is a tilted
#: head, and gets its whole roll. Measured with the 5-point landmarks: the spurious
#: rolls of turned faces are under 20 degrees (Lin-Manuel Miranda's profile up to 19,
#: the three-quarter faces of the Hamilton clip's audience -12 to 17), while obama3.jpg
#: (a face turned 12 degrees) tilted 50 and 55 degrees reads a nose offset of 0.20 and
#: 0.23 with rolls of 40 and 45: capped, its crops were left tilted by 30 degrees or more.
TILTED_ROLL = 25.0
#: A face is frontal enough to decide its track's identity (:func:`faceripper.tracks.decide`)
#: when its yaw (:func:`yaw_degrees`) is at most this many degrees either way.
FRONTAL_YAW = 20.0
#: ... and a track with at least this many frontal encoded faces may take its median
#: distance over those alone (:func:`frontal_median`).
FRONTAL_MIN_FACES = 3


@dataclass(frozen=True)
class HeadPose:
    """A face's pose from its landmarks, in degrees (:func:`head_pose`)."""

    #: How far the head is turned (:func:`yaw_degrees`; 0: frontal).
    yaw: float
    #: How far the eye line is tilted (:func:`roll_degrees`; 0: level).
    roll: float


def head_pose(landmarks_xy: npt.NDArray[np.float64]) -> HeadPose | None:
    """The yaw and roll of a face with dlib's ``(5, 2)`` or ``(68, 2)`` landmarks; None
    without landmarks (``(0, 2)`` or all zeros: the face was not looked at) or when its
    eyes coincide."""
    if len(landmarks_xy) == 0 or not landmarks_xy.any():
        return None
    yaw = yaw_degrees(landmarks_xy)
    if math.isnan(yaw):
        return None
    return HeadPose(yaw, roll_degrees(landmarks_xy))


def is_frontal(pose: HeadPose | None) -> bool:
    """Whether a face is frontal enough to decide its track (:data:`FRONTAL_YAW`)."""
    return pose is not None and abs(pose.yaw) <= FRONTAL_YAW


def frontal_median(distances: npt.NDArray[np.float64], poses: Sequence[HeadPose | None]) -> float:
    """The median distance of a track's encoded faces to one person, turned faces not
    making it larger (:func:`faceripper.tracks.decide`).

    ``distances`` ``(n,)`` float64 and ``poses`` are the faces'. The median over all
    of them, or over the frontal ones (:func:`is_frontal`) when there are at least
    :data:`FRONTAL_MIN_FACES` of them and their median is smaller.

    Example:
        >>> frontal, turned = HeadPose(3.0, 0.0), HeadPose(35.0, 0.0)
        >>> frontal_median(np.array([0.3, 0.32, 0.31, 0.6, 0.62]), [frontal] * 3 + [turned] * 2)
        0.31
    """
    median = float(np.median(distances))
    frontal = np.array([is_frontal(p) for p in poses], dtype=bool)
    if int(frontal.sum()) >= FRONTAL_MIN_FACES:
        median = min(median, float(np.median(distances[frontal])))
    return median


def eye_centres(landmarks_xy: npt.NDArray[np.float64]) -> tuple[npt.NDArray, npt.NDArray]:
    """The centres ``(x, y)`` of the eye on the image's left and the one on its right.

    dlib's 5-point model gives two corners per eye (points 0-1 and 2-3) and the nose
    base (4); the 68-point model gives six points per eye (36-41 and 42-47).
    """
    if len(landmarks_xy) == 68:
        first, second = landmarks_xy[36:42].mean(axis=0), landmarks_xy[42:48].mean(axis=0)
    elif len(landmarks_xy) == 5:
        first, second = landmarks_xy[0:2].mean(axis=0), landmarks_xy[2:4].mean(axis=0)
    else:
        raise ValueError(f"expected 5 or 68 landmarks, got {len(landmarks_xy)}")
    return (first, second) if first[0] <= second[0] else (second, first)


def roll_degrees(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """The angle of the line from the left eye to the right eye, in degrees (0: level)."""
    left, right = eye_centres(landmarks_xy)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def nose_position(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """Where the nose lies along the eye line, in eye distances from the eyes' middle
    (0: a frontal face; 0.5: in front of the eye on the image's right, -0.5: of the
    other; NaN when the eyes coincide).

    ``landmarks_xy``: dlib's ``(5, 2)`` or ``(68, 2)`` points (the nose: point 4 of
    five, the nose tip 33 of 68).
    """
    left, right = eye_centres(landmarks_xy)
    nose = landmarks_xy[33] if len(landmarks_xy) == 68 else landmarks_xy[4]
    axis = right - left
    length = float(np.hypot(*axis))
    if length < 1e-6:
        return math.nan
    return float((nose - left) @ axis) / length**2 - 0.5


def nose_offset(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """How far the nose lies from the middle of the eyes, along the eye line, in eye
    distances (:func:`nose_position`, unsigned; infinite when the eyes coincide)."""
    position = nose_position(landmarks_xy)
    return math.inf if math.isnan(position) else abs(position)


def yaw_degrees(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """How far the head is turned, in degrees: ``atan(2 * nose_position)`` (0: frontal;
    positive: the nose towards the image's right; NaN when the eyes coincide).

    Example:
        >>> frontal = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 70]], float)
        >>> yaw_degrees(frontal)
        0.0
        >>> turned = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [57.5, 70]], float)
        >>> round(yaw_degrees(turned), 1)
        26.6
    """
    return math.degrees(math.atan(2.0 * nose_position(landmarks_xy)))


def alignment_roll(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """The rotation (degrees) that levels a face's eyes, as far as its landmarks can tell.

    A frontal face (:func:`nose_offset` at most :data:`FRONTAL_NOSE_OFFSET`) gets its
    whole roll (:func:`roll_degrees`), a tilted head included; a turned one at most
    :data:`TURNED_MAX_ROLL`: on a profile, dlib's landmarks string the eye points
    along the brow, and their "eye line" would spin the crop. A turned face whose roll
    is at least :data:`TILTED_ROLL` is a tilted head (a profile's spurious roll is
    smaller) and gets its whole roll too.

    Example:
        >>> frontal = np.array([[70, 50], [60, 48], [30, 40], [40, 42], [47, 65]], float)
        >>> alignment_roll(frontal) == roll_degrees(frontal)
        True
        >>> profile = np.array([[70, 60], [60, 57], [30, 50], [40, 52], [28, 75]], float)
        >>> round(roll_degrees(profile)), alignment_roll(profile)
        (14, 10.0)
        >>> tilted = np.array([[70, 70], [60, 60], [30, 30], [40, 40], [28, 55]], float)
        >>> round(roll_degrees(tilted)), round(alignment_roll(tilted))
        (45, 45)
    """
    roll = roll_degrees(landmarks_xy)
    if nose_offset(landmarks_xy) <= FRONTAL_NOSE_OFFSET or abs(roll) >= TILTED_ROLL:
        return roll
    return max(-TURNED_MAX_ROLL, min(TURNED_MAX_ROLL, roll))
