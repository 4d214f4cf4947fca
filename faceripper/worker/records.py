"""The records of ``rip``'s work units: the run's settings and references as a worker
keeps them, a segment to process, and what it found (the faces to write and the counts).

They travel between processes (pickled to local workers and to a Dask cluster), so they
hold plain data only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper import heldback
from faceripper.blur import DEFAULT_BLUR_THRESHOLD, default_floor
from faceripper.detector import detection_scale
from faceripper.models import DetectorModel, Device, EncoderEngine, LandmarkModel
from faceripper.pose import HeadPose
from faceripper.tracks import Observation
from faceripper.video import RESET_FRAMES, VideoScan

#: Crops of one track closer than this (see :func:`faceripper.crops.signature_distance`)
#: to one of the last crops kept (:data:`faceripper.worker.decisions.DEDUPE_RECENT`) are
#: near duplicates (measured in docs/quality.md).
DEFAULT_DEDUPE_THRESHOLD = 0.12

#: Settings that say how a run computes, not what it writes: left out of the resume check.
RUNTIME_ONLY = frozenset({"engine", "device", "reuse"})


@dataclass(frozen=True)
class RipSettings:
    """Everything that decides which crops a run writes (part of the resume check,
    except :data:`RUNTIME_ONLY`)."""

    tolerance: float = 0.4
    min_size_px: int = 100
    blur_threshold: float = DEFAULT_BLUR_THRESHOLD
    #: Faces under ``blur_threshold`` but not under this floor are kept when they are as
    #: sharp as their track allows (:func:`faceripper.blur.soft_in_track`); ``>=
    #: blur_threshold``: never (the fixed threshold alone). Not given (nan): two thirds of
    #: ``blur_threshold`` (:func:`faceripper.blur.default_floor`), set when constructed.
    blur_floor: float = math.nan
    save_blurry: bool = False
    model: DetectorModel = "hog"
    landmarks: LandmarkModel = "5"
    margin: float = 0.3
    ambiguity_gap: float = 0.04
    jpeg_quality: int = 95
    align: bool = True
    size_px: int = 256
    tracks: bool = True
    dedupe: bool = True
    dedupe_threshold: float = DEFAULT_DEDUPE_THRESHOLD
    every: int = 1
    fps: float = 0.0
    detect_every: int = 5
    #: Where encodings are computed and on what (:mod:`faceripper.engines`). Not part of
    #: the resume check (:data:`RUNTIME_ONLY`): the engines agree within 1e-5.
    engine: EncoderEngine = "auto"
    device: Device = "cpu"
    #: Every track ends every this many looked-at frames (:data:`RESET_FRAMES`).
    reset_frames: int = RESET_FRAMES
    #: Decide borderline tracks from the video's confident faces (:mod:`faceripper.adaptive`).
    adapt: bool = True
    #: With ``adapt``: in a video where a person is never matched with confidence, keep
    #: the tracks the references decide for them on the references' word; False (the
    #: default) keeps only those with a face near both a reference photo and its second
    #: view (:data:`faceripper.adaptive.VIEW_DISTANCE`) and the tracks like them
    #: (docs/quality.md, "Unconfirmed tracks without an anchor").
    trust_references: bool = False
    #: With ``adapt``: the confident faces of the run's earlier videos help decide a
    #: video's held-back tracks (:mod:`faceripper.runanchors`).
    run_anchors: bool = True
    #: Follow a person's track with the CNN where HOG loses its face (:mod:`faceripper.follow`).
    follow: bool = True
    #: Answer the detector's searches and the encoder's calls from those earlier runs of
    #: the target made in the same videos, and keep this run's (:mod:`faceripper.memo`);
    #: False: run them all and delete the target's (``--no-reuse``). Not part of the
    #: resume check (:data:`RUNTIME_ONLY`): the crops are the same.
    reuse: bool = True

    def __post_init__(self) -> None:
        if math.isnan(self.blur_floor):  # not given: it follows blur_threshold
            object.__setattr__(self, "blur_floor", default_floor(self.blur_threshold))

    def frame_step(self, video_fps: float) -> int:
        """Process every this many frames (``--every``, or ``--fps`` for this video)."""
        if self.fps > 0 and video_fps > 0:
            return max(1, round(video_fps / self.fps))
        return max(1, self.every)

    def block_frames(self, video_fps: float) -> int:
        """Frames of this video between two frames where every track ends, cuts aside."""
        return self.reset_frames * self.frame_step(video_fps)

    def detection_scale(self) -> float:
        """Factor frames are resized by before detection (see :func:`detection_scale`)."""
        return detection_scale(self.min_size_px, self.model)

    @property
    def crop_floor(self) -> float:
        """Blurry faces from this score up are cropped (:func:`faceripper.blur.croppable`):
        ``blur_floor``, for their track to decide (:func:`faceripper.blur.soft_in_track`);
        0 with ``save_blurry`` (all are); inf without tracks (a face alone has nothing to
        be compared with)."""
        if self.save_blurry:
            return 0.0
        return self.blur_floor if self.tracks else float("inf")

    @property
    def follows(self) -> bool:
        """Whether lost tracks are followed with the CNN (only HOG runs with tracks)."""
        return self.follow and self.tracks and self.model == "hog"

    @property
    def uses_cnn(self) -> bool:
        """Whether the CNN detector runs: ``--model cnn``, or following."""
        return self.model == "cnn" or self.follows


@dataclass(frozen=True)
class References:
    """Reference encodings as a worker needs them.

    Attributes:
        encodings: ``(m, 128)`` float64.
        person: ``(m,)`` int64 identity of each row: ``0 .. n_people - 1`` are the run's
            people, ``n_people .. n_people + n_negatives - 1`` are negative identities
            (``--negatives``: people who must never be saved).
        n_people: number of people.
        n_negatives: number of negative identities.
        views: ``(k, 128)`` float64 second views of the first ``k`` rows
            (:func:`faceripper.refphoto.encode_reference_view`); a row past them
            (a negative, a face learnt from a correction) is its own.
    """

    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.int64]
    n_people: int
    n_negatives: int = 0
    views: npt.NDArray[np.float64] | None = None

    def photos_of(self, person: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """``(r, 128)`` the encodings of ``person``'s rows and ``(r, 128)`` their views."""
        rows = np.flatnonzero(self.person == person)
        photos = self.encodings[rows]
        if self.views is None:
            return photos, photos
        known = rows < len(self.views)
        views = photos.copy()
        views[known] = self.views[rows[known]]
        return photos, views

    @property
    def n_identities(self) -> int:
        """People and negative identities together."""
        return self.n_people + self.n_negatives


@dataclass(frozen=True)
class SegmentTask:
    """Frames ``[start, end)`` of one video."""

    sequence: int
    video_key: str
    path: Path
    scan: VideoScan
    start: int
    end: int
    #: An earlier run's searches of the video's frames (:mod:`faceripper.memostore`
    #: records, :func:`faceripper.memo.pack`'s bytes); None: ``--no-reuse``.
    memo: tuple[bytes, ...] | None = None


@dataclass
class FaceHit:
    """A face to write: where it was, whose it is, and its JPEG crop.

    What travels back from a worker for each crop (:meth:`from_observation` makes it of
    a track's :class:`~faceripper.tracks.Observation`): plain fields and the JPEG bytes,
    none of the observation's arrays (encoding, distances, signatures).
    """

    frame: int
    time_s: float
    face_index: int
    box_trbl: tuple[int, int, int, int]
    person: int
    distance: float
    sharpness: float
    status: str
    jpeg: bytes
    track: str = ""
    encoded: bool = True
    #: What found the face: ``"hog"`` or ``"cnn"`` (``--model``), or ``"followed"`` (the
    #: CNN, around a person's track that HOG lost: :mod:`faceripper.follow`).
    detector: str = "hog"
    #: The face's yaw and roll from its landmarks (:mod:`faceripper.pose`); None when
    #: its landmarks were not computed (``--no-align`` and not encoded).
    pose: HeadPose | None = None

    @classmethod
    def from_observation(
        cls,
        observation: Observation,
        person: int,
        track_distance: float,
        track: str,
        model: DetectorModel,
    ) -> FaceHit:
        """A cropped face (``observation.jpeg`` set) of ``track`` given to ``person``
        (-1: not decided yet).

        Its distance is the face's own to ``person`` when it was encoded, else
        ``track_distance`` (the track's, from its decision); its detector is ``model``
        (``--model``) or ``"followed"``.
        """
        if observation.jpeg is None:
            raise ValueError(
                f"face {observation.face_index} of frame {observation.frame} has no crop"
            )
        own = observation.distances
        return cls(
            frame=observation.frame,
            time_s=observation.time_s,
            face_index=observation.face_index,
            box_trbl=observation.box_trbl,
            person=person,
            distance=float(own[person]) if own is not None and person >= 0 else track_distance,
            sharpness=observation.sharpness,
            status="blurry" if observation.blurry else "saved",
            jpeg=observation.jpeg,
            track=track,
            encoded=own is not None,
            detector="followed" if observation.followed else model,
            pose=observation.pose,
        )


@dataclass
class SegmentResult:
    """What a worker found in one segment."""

    sequence: int
    frames: int = 0
    hits: list[FaceHit] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[int] = field(default_factory=Counter)
    error: str = ""
    #: The frames ``[first, stop)`` whose faces the segment reports (the frames it owns:
    #: :func:`owned_frames`); the writer tells whose a manifest row is by them.
    owned: tuple[int, int] = (0, 0)
    #: The traceback of an unexpected failure (a bug), for the log (``-v``).
    traceback: str = ""
    #: The video itself is broken (truncated, corrupt): rerunning will not help.
    decode_error: bool = False
    #: With ``settings.adapt``: the anchor tracks (decided with a face matched with
    #: confidence), and the tracks left for the video's second step
    #: (:mod:`faceripper.adaptive`).
    anchors: list[heldback.Anchor] = field(default_factory=list)
    pending: list[heldback.PendingTrack] = field(default_factory=list)
    #: The searches the segment ran that its task's memo did not hold
    #: (:func:`faceripper.memo.pack`), and the first and last frame they are of.
    memo: bytes = b""
    memo_frames: tuple[int, int] = (0, -1)
