"""The detections (and encodings) of an earlier run of the same video, reused by a rerun
(in a worker).

A person never matched with confidence is remedied by a second reference photo and
``rip --restart``; a new tolerance needs ``--restart`` too. The detectors' searches do
not depend on the references or the tolerance: what was found in a region of a frame
is found there again. So every search a segment runs is kept, keyed by what decides
its result, and a rerun of the same video answers the searches it repeats from them
instead of running the detector (:mod:`faceripper.memostore` keeps them in the target,
per video, and hands each segment those of its frames).

A search's key (:data:`KEY_WIDTH` integers) is its kind, the frame, and the region of
the frame it looked at, with the size the region was resized to and how:

* ``HOG_FULL``: the whole frame, with HOG (:func:`faceripper.detector.detect_faces_scaled`);
* ``HOG_REGION``: a region around tracked faces (:func:`faceripper.detector.detect_around`),
  in the frame shrunk to the detection scale: the detector's own boxes in the region;
* ``CNN_FULL``: the whole frame, with the CNN (``--model cnn``, in batches);
* ``CNN_REGION``: a region searched by the CNN around a followed face
  (:func:`faceripper.detector.detect_cnn_around`, forwards and backwards), keyed by its
  pixels as searched (size and BLAKE2b digest, :func:`recall_pixels`; frame -1): the
  CNN's boxes and confidences in it.

What is the same for the whole run (the detection scale, the detector, the engine,
library versions) is checked once per video by the store. Where the rerun searches
elsewhere (a track followed now that was not before), the search runs and is added.

A frame's encoder call (``ENCODE``: the landmarks and encodings of the faces its tracks
want encoded, :func:`recall_encodings`) is kept too, keyed by the frame, the landmark
model and a digest of its boxes and of which of them are encoded: the tracks choose
those from their votes, which new references change, and a call is answered only when
it is the same call (its faces are one batch of the network). The encoder's other calls
(``ENCODE_PIXELS``: the encodings checked while following a face,
:func:`faceripper.follow.follow_lost` and :func:`faceripper.followback.follow_back`, and a
held face encoded later, :mod:`faceripper.worker.backfill`) are given an image that is a
frame or a region of one, and do not know which frame: they are kept by the image's
pixels, as the CNN's regions are (:func:`encode_image`; frame -1).

Nothing here runs unless a segment's task carries a memo (:func:`using`): with
``--no-reuse`` every search runs as before and nothing is kept.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray
from faceripper.images import ImageRGB

if TYPE_CHECKING:
    from faceripper.models import Device, EncoderEngine, LandmarkModel
    from faceripper.worker.records import SegmentResult

HOG_FULL = 1
HOG_REGION = 2
CNN_FULL = 3
CNN_REGION = 4
#: A frame's encoder call (:func:`recall_encodings`), not a search: its faces' landmarks
#: and encodings.
ENCODE = 5
#: An encoder call on an image, keyed by its pixels (:func:`encode_image`).
ENCODE_PIXELS = 6
#: Integers in a key: kind, frame, then up to 7 describing the region (0 where unused).
KEY_WIDTH = 9

#: A search's key: ``(kind, frame, ...)``, :data:`KEY_WIDTH` integers.
Key = tuple[int, ...]
#: What a search found: ``(n, 4)`` int64 boxes and ``(n,)`` float32 confidences (NaN:
#: a detector without them).
Found = tuple[BoxArray, npt.NDArray[np.float32]]
#: A region's search: given the region's place (the key's integers after the frame) and
#: a function that cuts the region out, the boxes (and confidences) found in it.
RegionSearch = Callable[[tuple[int, ...], Callable[[], ImageRGB]], Found]


def key(kind: int, frame: int, *where: int) -> Key:
    """The key of a search, padded to :data:`KEY_WIDTH`.

    >>> key(HOG_FULL, 12)
    (1, 12, 0, 0, 0, 0, 0, 0, 0)
    """
    if len(where) > KEY_WIDTH - 2:
        raise ValueError(f"a key holds at most {KEY_WIDTH - 2} numbers after the frame")
    return (kind, frame, *where, *(0,) * (KEY_WIDTH - 2 - len(where)))


@dataclass
class SegmentMemo:
    """A segment's searches: those an earlier run kept (``known``), those run now
    (``new``), and how many of each it answered."""

    known: dict[Key, Found] = field(default_factory=dict)
    new: dict[Key, Found] = field(default_factory=dict)
    #: Searches answered from ``known``, and searches run.
    reused: int = 0
    computed: int = 0
    #: The frames searched, and those with a search that had to run.
    frames: set[int] = field(default_factory=set)
    missed: set[int] = field(default_factory=set)
    #: Records of the task that did not unpack.
    unreadable: int = 0
    #: Encoder calls (:func:`recall_encodings`): an earlier run's, and those run now,
    #: each ``(n * (2 k + 128),)`` float64; how many were answered, and their faces.
    known_calls: dict[Key, npt.NDArray[np.float64]] = field(default_factory=dict)
    new_calls: dict[Key, npt.NDArray[np.float64]] = field(default_factory=dict)
    calls_reused: int = 0
    faces_reused: int = 0
    #: The last frame searched.
    at: int = -1

    def recall(self, search: Key, compute: Callable[[], Found]) -> Found:
        """What ``search`` found: from an earlier run, or ``compute()`` (then kept)."""
        frame = self._frame(search)
        self.frames.add(frame)
        found = self.known.get(search)
        if found is None:
            found = self.new.get(search)
        if found is not None:
            self.reused += 1
            return found[0].copy(), found[1].copy()
        boxes, scores = compute()
        boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        self.computed += 1
        self.missed.add(frame)
        self.new[search] = (boxes.copy(), scores.copy())
        return boxes, scores

    def _frame(self, search: Key) -> int:
        """The frame ``search`` is of; for one keyed by pixels, the last frame searched
        (a search of the frame's regions comes after its HOG search)."""
        if search[1] >= 0:
            self.at = search[1]
        return self.at

    def ran(self, search: Key, found: Found) -> None:
        """Keep what a search that ran found (one not asked through :meth:`recall`)."""
        frame = self._frame(search)
        self.frames.add(frame)
        self.missed.add(frame)
        self.computed += 1
        self.new[search] = (found[0].copy(), found[1].copy())

    def holds(self, search: Key) -> bool:
        """Whether what ``search`` finds is known."""
        return search in self.known or search in self.new

    @property
    def frames_reused(self) -> int:
        """Frames every search of which was answered from an earlier run."""
        return len(self.frames - self.missed)

    @classmethod
    def of(cls, records: tuple[bytes, ...] | None) -> SegmentMemo | None:
        """The memo of a segment whose task carries ``records`` (None: ``--no-reuse``);
        a record that does not unpack is left out (counted in :attr:`unreadable`)."""
        if records is None:
            return None
        memo = cls()
        for record in records:
            try:
                found, calls = unpack(record)
            except ValueError:
                memo.unreadable += 1
                continue
            memo.known.update(found)
            memo.known_calls.update(calls)
        return memo

    def report(self, result: SegmentResult) -> None:
        """Put the searches run and the tallies in ``result`` (``frames_reused``:
        frames whose every search was answered; ``searches_reused``, ``searches_run``)."""
        result.counts["frames_reused"] += self.frames_reused
        result.counts["searches_reused"] += self.reused
        result.counts["searches_run"] += self.computed
        result.counts["memo_unreadable"] += self.unreadable
        result.counts["encodings_reused"] += self.faces_reused
        result.counts["encoder_calls_reused"] += self.calls_reused
        result.counts["encoder_calls_run"] += len(self.new_calls)
        frames = [frame for frame in self.frames if frame >= 0]
        frames += [call[1] for call in self.new_calls if call[1] >= 0]
        if (self.new or self.new_calls) and frames:  # searches by pixels are of these too
            result.memo = pack(self.new, self.new_calls)
            result.memo_frames = (min(frames), max(frames))


_current: ContextVar[SegmentMemo | None] = ContextVar("faceripper_memo", default=None)


@contextmanager
def using(memo: SegmentMemo | None) -> Iterator[SegmentMemo | None]:
    """Answer this thread's searches from ``memo`` (None: run them all) in the block."""
    token = _current.set(memo)
    try:
        yield memo
    finally:
        _current.reset(token)


def unscored(boxes: BoxArray) -> Found:
    """``boxes`` with NaN confidences (a detector that gives none)."""
    return boxes, np.full(len(boxes), np.nan, dtype=np.float32)


def recall(kind: int, frame: int, compute: Callable[[], BoxArray]) -> BoxArray:
    """The boxes a whole-frame search of ``frame`` found (``compute()`` when no memo is
    in use or it does not hold them)."""
    memo = _current.get()
    if memo is None:
        return compute()
    return memo.recall(key(kind, frame), lambda: unscored(compute()))[0]


def recall_batch(
    kind: int, frames: list[int], compute: Callable[[], list[BoxArray]]
) -> list[BoxArray]:
    """The boxes whole-frame searches of ``frames`` found together (one batch:
    ``compute()`` when any of them is not known, so that a batch is never cut into
    other batches than a run without the memo makes)."""
    memo = _current.get()
    if memo is None:
        return compute()
    searches = [key(kind, frame) for frame in frames]
    if all(memo.holds(search) for search in searches):
        return [memo.recall(search, _unknown)[0] for search in searches]
    found = compute()
    for search, boxes in zip(searches, found, strict=True):
        memo.ran(search, unscored(boxes))
    return found


def _unknown() -> Found:
    raise AssertionError("a search that was known is not")


def recall_encodings(
    frame: int,
    boxes: BoxArray,
    encode: npt.NDArray[np.bool_],
    landmark_model: str,
    compute: Callable[[], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The ``(n, k, 2)`` landmarks and ``(n, 128)`` encodings (NaN rows where ``encode``
    is False) of one encoder call on ``frame`` (:func:`faceripper.encoder.encode_faces`
    of ``boxes``), through the memo in use: ``compute()`` unless an earlier run made the
    same call, the same boxes and the same ``encode``, whose numbers are then the very
    ones this call gives (the faces of a call are one batch of the network, and another
    batch could change their last digits)."""
    memo = _current.get()
    if memo is None:
        return compute()
    n, k = len(boxes), 5 if landmark_model == "5" else 68
    asked = np.ascontiguousarray(boxes, dtype="<i8").tobytes()
    asked += np.ascontiguousarray(encode, dtype=np.bool_).tobytes()
    digest = hashlib.blake2b(asked, digest_size=32).digest()
    call = key(ENCODE, frame, n, k, *np.frombuffer(digest, dtype="<i8").tolist())
    return _recall_call(memo, call, n, k, int(np.count_nonzero(encode)), compute)


def encode_image(
    image: ImageRGB,
    boxes: BoxArray,
    landmark_model: LandmarkModel,
    engine: EncoderEngine,
    device: Device,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The ``(n, k, 2)`` landmarks and ``(n, 128)`` encodings of every face in ``boxes``
    of ``image`` (:func:`faceripper.encoder.encode_faces`, one call, ``jitters`` 1),
    through the memo in use: computed unless an earlier run made the same call on the
    same pixels (keyed by the image's size and the SHA-256 digest of its pixels, the
    boxes and the landmark model; the engine and the rest are the store's)."""
    from faceripper.encoder import encode_faces

    def compute() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        faces = encode_faces(
            image,
            boxes,
            landmark_model=landmark_model,
            engine=engine,
            device=device,
        )
        return faces.landmarks_xy, faces.encodings

    memo = _current.get()
    if memo is None:
        return compute()
    n, k = len(boxes), 5 if landmark_model == "5" else 68
    asked = hashlib.sha256()  # faster than BLAKE2b on a whole frame (OpenSSL's)
    asked.update(np.array([*image.shape, k], dtype="<i8").tobytes())
    asked.update(np.ascontiguousarray(boxes, dtype="<i8").tobytes())
    asked.update(np.ascontiguousarray(image).data)
    words = np.frombuffer(asked.digest(), dtype="<i8").tolist()
    call = key(ENCODE_PIXELS, -1, n, k, *words)
    return _recall_call(memo, call, n, k, n, compute)


def _recall_call(
    memo: SegmentMemo,
    call: Key,
    n: int,
    k: int,
    faces: int,
    compute: Callable[[], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """An encoder call ``call`` of ``n`` faces (``k`` landmarks each, ``faces`` of them
    encoded) from ``memo``, or ``compute()`` (then kept)."""
    known = memo.known_calls.get(call)
    if known is not None and known.size == n * (2 * k + 128):
        memo.calls_reused += 1
        memo.faces_reused += faces
        rows = known.reshape(n, 2 * k + 128)
        return rows[:, : 2 * k].reshape(n, k, 2).copy(), rows[:, 2 * k :].copy()
    landmarks, encodings = compute()
    flat = np.concatenate([landmarks.reshape(n, 2 * k), encodings.reshape(n, 128)], axis=1)
    memo.new_calls[call] = flat.astype(np.float64).ravel()
    return landmarks, encodings


def region_search(kind: int, frame: int) -> RegionSearch | None:
    """HOG's search of a region of ``frame`` through the memo in use (None: no memo in
    use), for :func:`faceripper.detector.detect_around`."""
    memo = _current.get()
    if memo is None:
        return None

    def search(where: tuple[int, ...], cut: Callable[[], ImageRGB]) -> Found:
        return memo.recall(key(kind, frame, *where), lambda: _hog(cut()))

    return search


def _hog(region: ImageRGB) -> Found:
    from faceripper.detector import detect_faces

    return unscored(detect_faces(region, model="hog", upsample=0))


def recall_pixels(kind: int, image: ImageRGB, compute: Callable[[ImageRGB], Found]) -> Found:
    """What ``compute(image)`` found, through the memo in use: keyed by the image's
    size and the BLAKE2b digest of its pixels (a region cut and resized from a frame,
    for a detector whose callers do not know the frame)."""
    memo = _current.get()
    if memo is None:
        return compute(image)
    digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=32).digest()
    words = np.frombuffer(digest, dtype="<i8").tolist()
    return memo.recall(key(kind, -1, *image.shape[:2], *words), lambda: compute(image))


# ------------------------------------------------------------------ travel and storage


def pack(found: dict[Key, Found], calls: dict[Key, npt.NDArray[np.float64]] | None = None) -> bytes:
    """Searches and encoder calls as bytes (a compressed ``.npz``: keys, boxes and
    confidences; the calls' keys, sizes and float64 numbers)."""
    calls = calls or {}
    keys = np.array(list(found), dtype=np.int64).reshape(-1, KEY_WIDTH)
    values = list(found.values())
    counts = np.array([len(b) for b, _ in values], dtype=np.int64)
    boxes = np.concatenate([b for b, _ in values]) if values else np.zeros((0, 4), np.int64)
    scores = np.concatenate([s for _, s in values]) if values else np.zeros(0, np.float32)
    numbers = list(calls.values())
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        keys=keys,
        counts=counts,
        boxes=boxes,
        scores=scores,
        call_keys=np.array(list(calls), dtype=np.int64).reshape(-1, KEY_WIDTH),
        call_sizes=np.array([len(v) for v in numbers], dtype=np.int64),
        call_numbers=np.concatenate(numbers) if numbers else np.zeros(0, np.float64),
    )
    return buffer.getvalue()


def unpack(data: bytes) -> tuple[dict[Key, Found], dict[Key, npt.NDArray[np.float64]]]:
    """The searches and encoder calls :func:`pack` made ``data`` of.

    Raises:
        ValueError: ``data`` is not such bytes, or its arrays disagree.

    >>> found = {key(HOG_FULL, 3): unscored(np.array([[1, 9, 8, 2]]))}
    >>> again, calls = unpack(pack(found, {key(ENCODE, 3): np.arange(3.0)}))
    >>> list(again), again[key(HOG_FULL, 3)][0].tolist(), calls[key(ENCODE, 3)].tolist()
    ([(1, 3, 0, 0, 0, 0, 0, 0, 0)], [[1, 9, 8, 2]], [0.0, 1.0, 2.0])
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            keys, counts = arrays["keys"], arrays["counts"]
            boxes, scores = arrays["boxes"], arrays["scores"]
            call_keys, sizes = arrays["call_keys"], arrays["call_sizes"]
            numbers = arrays["call_numbers"]
    except Exception as exc:  # zipfile, zlib and numpy raise many kinds
        raise ValueError(f"not a memo record ({type(exc).__name__}: {exc})") from exc
    if (
        keys.ndim != 2
        or keys.shape[1] != KEY_WIDTH
        or counts.shape != (len(keys),)
        or boxes.shape != (int(counts.sum()), 4)
        or scores.shape != (len(boxes),)
        or (counts < 0).any()
        or call_keys.ndim != 2
        or call_keys.shape[1] != KEY_WIDTH
        or sizes.shape != (len(call_keys),)
        or numbers.shape != (int(sizes.sum()),)
        or (sizes < 0).any()
    ):
        raise ValueError("a memo record whose arrays disagree")
    ends = np.cumsum(counts)
    found = {
        tuple(int(v) for v in k): (
            boxes[end - n : end].astype(np.int64),
            scores[end - n : end].astype(np.float32),
        )
        for k, n, end in zip(keys.tolist(), counts.tolist(), ends.tolist(), strict=True)
    }
    ends = np.cumsum(sizes)
    calls = {
        tuple(int(v) for v in k): numbers[end - n : end].astype(np.float64)
        for k, n, end in zip(call_keys.tolist(), sizes.tolist(), ends.tolist(), strict=True)
    }
    return found, calls
