"""Synthetic look-alikes: face morphs of two people, for stress-testing identity rules.

A *relative* of person A is a morph of a photo of A and a photo of another person B:
dlib's 68 landmarks of both faces, B's photo first brought onto A's by a similarity
transform of the landmarks, then both warped piecewise-affinely (a Delaunay
triangulation of the blended landmarks, :class:`cv2.Subdiv2D`, with the image's corners
and edge midpoints) to the blended shape ``(1 - alpha) * A + alpha * B`` and
cross-dissolved at ``alpha``. At ``alpha`` 0 it is A's photo, at 1 B's face in A's frame.

Real look-alikes (a father beside his son; Kim Hong-up and Hu Jintao in ``lfw_dev``) lie
about 0.38-0.5 from the referenced person's photo: the zone in which the video-adaptive
rules of :mod:`faceripper.adaptive` lend borderline tracks to a person.
:func:`relative_photos` picks, per morph, the ``alpha`` whose morph lands at a distance
drawn in such a zone from the nearest of A's photos (and within 0.5 of A's reference),
and uses a different photo of A and of B each time, so that the
relative's faces vary across shots as a real person's do.

Pixels are RGB uint8 as in :mod:`faceripper.testing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.images import ImageRGB, load_rgb

Points = npt.NDArray[np.float64]


def landmarks68(image: ImageRGB) -> Points | None:
    """The 68 dlib landmarks ``(68, 2)`` ``(x, y)`` of the largest face HOG finds (upsample
    1), or ``None`` when it finds none."""
    from faceripper.detector import detect_faces
    from faceripper.encoder import face_landmarks

    boxes = detect_faces(image)
    if len(boxes) == 0:
        return None
    heights = boxes[:, 2] - boxes[:, 0]
    largest = boxes[int(np.argmax(heights))][None]
    return face_landmarks(image, largest, "68")[0]


def _frame_points(width: int, height: int) -> Points:
    w, h = width - 1, height - 1
    return np.array(
        [(0, 0), (w / 2, 0), (w, 0), (w, h / 2), (w, h), (w / 2, h), (0, h), (0, h / 2)],
        dtype=np.float64,
    )


def _triangles(points: Points, width: int, height: int) -> list[tuple[int, int, int]]:
    """Delaunay triangles of ``points`` as index triples."""
    import cv2

    subdiv = cv2.Subdiv2D((0, 0, width, height))
    inside = np.clip(points, 0, [width - 1e-3, height - 1e-3])
    for x, y in inside:
        subdiv.insert((float(x), float(y)))
    triangles: list[tuple[int, int, int]] = []
    for t in subdiv.getTriangleList():
        corners = np.array(t, dtype=np.float64).reshape(3, 2)
        distances = np.linalg.norm(inside[None] - corners[:, None], axis=2)
        index = distances.argmin(axis=1)
        if distances[np.arange(3), index].max() < 1.0 and len(set(index.tolist())) == 3:
            triangles.append((int(index[0]), int(index[1]), int(index[2])))
    return triangles


def _warp_triangle(
    source: npt.NDArray[np.float32],
    target: npt.NDArray[np.float32],
    tri_from: Points,
    tri_to: Points,
) -> None:
    """Warp the triangle ``tri_from`` of ``source`` onto ``tri_to`` of ``target`` (in place)."""
    import cv2

    height, width = target.shape[:2]
    x0, y0 = np.floor(tri_to.min(axis=0)).astype(int)
    x1, y1 = np.ceil(tri_to.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return
    matrix = cv2.getAffineTransform(
        tri_from.astype(np.float32), (tri_to - [x0, y0]).astype(np.float32)
    )
    patch = cv2.warpAffine(
        source,
        matrix,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    cv2.fillConvexPoly(mask, np.round(tri_to - [x0, y0]).astype(np.int32), 1.0, cv2.LINE_AA)
    region = target[y0:y1, x0:x1]
    region[:] = region * (1 - mask[..., None]) + patch * mask[..., None]


def morph_faces(
    image_a: ImageRGB, points_a: Points, image_b: ImageRGB, points_b: Points, alpha: float
) -> ImageRGB:
    """The morph of A's face (``image_a``, landmarks ``points_a``) and B's at ``alpha``
    (0: A, 1: B's face in A's frame), in A's frame: B's photo is first moved onto A's by
    the similarity transform of its landmarks onto A's."""
    import cv2

    height, width = image_a.shape[:2]
    similarity, _ = cv2.estimateAffinePartial2D(
        points_b.astype(np.float32), points_a.astype(np.float32)
    )
    if similarity is None:
        raise ValueError("the two faces' landmarks do not align")
    b_in_a = cv2.warpAffine(
        np.ascontiguousarray(image_b),
        similarity,
        (width, height),
        borderMode=cv2.BORDER_REFLECT_101,
    )
    moved_b = points_b @ similarity[:, :2].T + similarity[:, 2]
    frame = _frame_points(width, height)
    pa = np.vstack([points_a, frame])
    pb = np.vstack([moved_b, frame])
    blended = (1 - alpha) * pa + alpha * pb
    source_a = image_a.astype(np.float32)
    source_b = b_in_a.astype(np.float32)
    warped_a = source_a.copy()
    warped_b = source_b.copy()
    for i, j, k in _triangles(blended, width, height):
        corners = [i, j, k]
        _warp_triangle(source_a, warped_a, pa[corners], blended[corners])
        _warp_triangle(source_b, warped_b, pb[corners], blended[corners])
    out = (1 - alpha) * warped_a + alpha * warped_b
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def encode_largest(image: ImageRGB) -> npt.NDArray[np.float64] | None:
    """The encoding of the largest face HOG finds in ``image`` (``None``: no face)."""
    from faceripper.detector import detect_faces
    from faceripper.encoder import encode_faces

    boxes = detect_faces(image)
    if len(boxes) == 0:
        return None
    largest = boxes[int(np.argmax(boxes[:, 2] - boxes[:, 0]))][None]
    return encode_faces(np.ascontiguousarray(image), largest).encodings[0]


#: The morph weights of B tried for a relative (:func:`relative_photos`): 0.15-0.7. At
#: 0.3 half the morphs of ``lfw_dev`` lie already past 0.46 from A's reference photo
#: (``benchmarks/morphs.py``), so lighter weights are needed to reach the zone.
ALPHAS = tuple(round(0.15 + 0.05 * i, 2) for i in range(12))


@dataclass(frozen=True)
class Relative:
    """One morph photo of a relative.

    Attributes:
        path: the photo written.
        a_photo: the photo of A it morphs.
        b_photo: the photo of B it morphs.
        alpha: B's weight.
        distance: its encoding's distance to A's reference encoding.
        nearest: its encoding's distance to the nearest of A's photos.
    """

    path: Path
    a_photo: Path
    b_photo: Path
    alpha: float
    distance: float
    nearest: float


def relative_photos(
    a_photos: Sequence[Path],
    b_photos: Sequence[Path],
    a_reference: npt.NDArray[np.float64],
    a_encodings: npt.NDArray[np.float64],
    out_dir: Path,
    rng: np.random.Generator,
    n: int = 6,
    zone: tuple[float, float] = (0.38, 0.48),
    alphas: Sequence[float] = ALPHAS,
    zone_of: str = "nearest",
) -> list[Relative]:
    """``n`` morph photos of a relative of A (another photo of A and of B each time, in
    turn) written as JPEG to ``out_dir``.

    A real look-alike is a look-alike of every photo of A, not only of the reference: for
    each morph, of the ``alphas`` whose morph lies within 0.5 of ``a_reference`` (A's
    reference encoding), the one whose distance to the nearest of ``a_encodings`` (all of
    A's photos, the reference among them: the faces the video shows of A) is nearest a
    distance drawn uniformly in ``zone``; never one nearer than ``zone[0] - 0.04`` to one of
    A's photos (a light morph of one of A's photos lies near that photo: it is A's face, not a
    stranger's). With ``zone_of="reference"`` the drawn distance is to ``a_reference``
    instead (the bar of the near rule). A pair of photos without such a weight, or whose
    landmarks or morph HOG cannot find, is skipped: fewer than ``n`` photos may come back
    (none where A's photos all lie far from A's reference, so that no look-alike of them
    is within 0.5 of it)."""
    import cv2

    def loaded(paths: Sequence[Path]) -> list[tuple[Path, ImageRGB, Points]]:
        out = []
        for path in paths:
            image = load_rgb(path)
            points = landmarks68(image)
            if points is not None:
                out.append((path, image, points))
        return out

    a_faces, b_faces = loaded(a_photos), loaded(b_photos)
    if not a_faces or not b_faces:
        raise ValueError("no face found in A's or in B's photos")
    out_dir.mkdir(parents=True, exist_ok=True)
    relatives: list[Relative] = []
    for k in range(max(n, 0) * 3):
        if len(relatives) == n:
            break
        a_path, a_image, a_points = a_faces[k % len(a_faces)]
        b_path, b_image, b_points = b_faces[(k * 7 + 3) % len(b_faces)]
        wanted = float(rng.uniform(*zone))
        best: tuple[float, float, float, ImageRGB, float] | None = None
        for alpha in alphas:
            image = morph_faces(a_image, a_points, b_image, b_points, alpha)
            encoding = encode_largest(image)
            if encoding is None:
                continue
            distance = float(np.linalg.norm(encoding - a_reference))
            nearest = float(np.linalg.norm(a_encodings - encoding, axis=1).min())
            if distance > 0.5 or nearest < zone[0] - 0.04:
                continue
            measured = distance if zone_of == "reference" else nearest
            if best is None or abs(measured - wanted) < abs(best[4] - wanted):
                best = (alpha, distance, nearest, image, measured)
        if best is None:
            continue
        path = out_dir / f"relative_{len(relatives):02d}.jpg"
        bgr = cv2.cvtColor(best[3], cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
        relatives.append(Relative(path, a_path, b_path, best[0], best[1], best[2]))
    return relatives
