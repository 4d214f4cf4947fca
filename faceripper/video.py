"""Finding videos, indexing their frames, and decoding a range of frames.

Decoding uses PyAV (FFmpeg). A video is first *scanned*: its packets are read without
decoding (milliseconds per minute of video) to learn every frame's presentation
timestamp and where the keyframes are. The frame index used everywhere (``frame`` in the
manifest) is the 0-based position of a frame in presentation order, which stays exact
for variable-frame-rate video and lets any worker decode any range of frames by seeking
to a keyframe: no frame ever travels between processes.

Frames are returned upright: the display rotation that phones write into the container
is applied.
"""

from __future__ import annotations

import bisect
import dataclasses
import errno
import hashlib
import itertools
import os
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.errors import FaceripperError
from faceripper.images import ImageRGB

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
        ".m4v",
        ".ts",
        ".flv",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".m2ts",
        ".mts",
    }
)

#: Frames per unit of work: about 10 s of 30 fps video.
DEFAULT_SEGMENT_FRAMES = 300
#: Every face track ends at the looked-at frames whose index is a multiple of this many
#: looked-at frames (``--every``/``--fps`` steps), as at a shot cut: the work can be cut
#: there without changing the result (see :func:`plan_segments`).
RESET_FRAMES = 300
#: ``rip`` cuts a short video into about this many units of work (where its keyframes
#: allow it), so that the workers share even a single short video evenly ...
SHORT_VIDEO_SEGMENTS = 8
#: ... but none shorter than this many frames.
MIN_SEGMENT_FRAMES = 60


class VideoError(FaceripperError):
    """A video cannot be opened, scanned or decoded."""

    exit_code = 1


def is_video_name(path: Path) -> bool:
    """Whether ``path`` has a video extension (case-insensitive)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


@dataclass(frozen=True)
class VideoSearch:
    """The videos found under a folder, and what was passed over.

    ``problems`` has one line per entry that could not be looked at: a folder that
    cannot be read, a dangling link, a link loop, a file that is not a regular file.
    """

    videos: list[Path]
    ignored_files: int
    loops_skipped: int
    problems: list[str] = dataclasses.field(default_factory=list)


def find_videos(folder: Path) -> VideoSearch:
    """Find video files below ``folder``, recursively, in a stable (sorted) order.

    Symbolic links to folders are followed, but a folder already visited (a link loop,
    or two links to one place) is entered once. Hidden files and folders are skipped.
    """
    videos: list[Path] = []
    ignored = loops = 0
    seen: set[tuple[int, int]] = set()
    problems: list[str] = []

    def unreadable(error: OSError) -> None:
        problems.append(f"{error.filename}: cannot read folder ({error.strerror}), skipped")

    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        stat = Path(root).stat()
        key = (stat.st_dev, stat.st_ino)
        if key in seen:
            dirs[:] = []
            loops += 1
            continue
        seen.add(key)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            if is_video_name(path) and path.is_file():
                videos.append(path)
                continue
            if not path.is_file():
                problems.append(f"{path}: {_not_a_file(path)}, skipped")
            else:
                ignored += 1
    videos.sort(key=lambda p: p.relative_to(folder).as_posix())
    return VideoSearch(videos, ignored, loops, problems)


def _not_a_file(path: Path) -> str:
    """Why ``path`` is not a regular file."""
    try:
        path.stat()
    except OSError as exc:
        if path.is_symlink():
            return "link loop" if exc.errno == errno.ELOOP else "dangling link"
        return exc.strerror or "cannot be read"
    return "a named pipe" if path.is_fifo() else "not a regular file"


def printable_name(name: str) -> str:
    """A file name as valid Unicode text: bytes that are not UTF-8 become ``\\xHH``.

    On Linux a file name is bytes; Python gives the bytes that are not UTF-8 as lone
    surrogates (``'bad\\udcffname.mp4'`` for ``b'bad\\xffname.mp4'``), which no UTF-8
    file (the manifest, the journal) can hold. Such a byte is written as a backslash,
    ``x`` and two hex digits instead; names that are valid UTF-8 are unchanged.

    >>> printable_name("bad\\udcffname.mp4")
    'bad\\\\xffname.mp4'
    >>> printable_name("名井 南.mp4")
    '名井 南.mp4'
    """
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte (Windows names)
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def video_key(path: Path, base: Path | None) -> str:
    """A stable name of a video: its path relative to ``base`` (or absolute), '/'-separated.

    Symbolic links are not resolved, so a linked video is named by where it appears in
    the video folder, and the names survive moving the folder. The key is valid
    Unicode: bytes of the name that are not UTF-8 are written ``\\xHH``
    (:func:`printable_name`).
    """
    absolute = Path(os.path.abspath(path))  # noqa: PTH100 (resolve() follows links)
    if base is not None:
        relative = Path(os.path.relpath(absolute, os.path.abspath(base)))  # noqa: PTH100
        if not relative.as_posix().startswith("../"):
            return printable_name(relative.as_posix())
    return printable_name(absolute.as_posix())


def video_id(key: str) -> str:
    """Eight hex digits identifying a video key, for file names.

    >>> video_id("clip.mp4")
    '2328ae29'
    """
    return hashlib.sha1(key.encode("utf-8", "backslashreplace")).hexdigest()[:8]


@dataclass(frozen=True)
class VideoScan:
    """What a worker needs to decode any frame range of a video.

    Attributes:
        frame_pts: presentation timestamps of all frames, ascending; the frame index is
            the position in this tuple. Empty when the container has no timestamps.
        keyframes: indices of keyframes (where decoding can start), ascending; always
            starts with 0 (decoding from the beginning), even when the stream starts
            on a non-keyframe (a recording cut mid-GOP).
        frame_count: number of frames.
        time_base: seconds per timestamp unit.
        fps: average frames per second (for information; times come from timestamps).
        width, height: coded size before rotation.
        rotation: counter-clockwise rotation in degrees to show the frame upright.
        first_index: index of ``frame_pts[0]`` (non-zero in a :meth:`window`).
        origin_pts: timestamp of the video's first frame (time 0).
        truncated: the warning for a file cut short (empty: none), naming the file and
            what is missing.
    """

    frame_pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    frame_count: int
    time_base: Fraction
    fps: float
    width: int
    height: int
    rotation: int
    first_index: int = 0
    origin_pts: int | None = None
    truncated: str = ""

    @property
    def seekable(self) -> bool:
        """Whether ranges can be decoded by seeking (the container has timestamps)."""
        return bool(self.frame_pts)

    def time_s(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the first frame."""
        if not self.frame_pts:
            return index / self.fps if self.fps > 0 else 0.0
        origin = self.frame_pts[0] if self.origin_pts is None else self.origin_pts
        return float((self.frame_pts[index - self.first_index] - origin) * self.time_base)

    def window(self, start: int, end: int) -> VideoScan:
        """The part of the scan a worker needs to decode frames ``[start, end)``.

        Keeps the timestamps from the keyframe at or before ``start`` to ``end``, so a
        task carries a few hundred numbers, not the whole video's.
        """
        if not self.seekable:
            return self
        key = self.keyframes[bisect.bisect_right(self.keyframes, start) - 1]
        lo = bisect.bisect_left(self.keyframes, key)
        hi = bisect.bisect_left(self.keyframes, end)
        return VideoScan(
            self.frame_pts[key - self.first_index : end - self.first_index],
            self.keyframes[lo:hi],
            self.frame_count,
            self.time_base,
            self.fps,
            self.width,
            self.height,
            self.rotation,
            first_index=key,
            origin_pts=self.frame_pts[0] if self.origin_pts is None else self.origin_pts,
        )


def _open(path: Path) -> Any:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoError(f"{path}: cannot open video ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: no video stream")
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '", 1)[0].strip() or type(exc).__name__


def scan_video(path: Path) -> VideoScan:
    """Index a video's frames by reading its packets (no decoding).

    A file that ends before its header says it does is scanned as far as it goes, and
    its scan says so (:attr:`VideoScan.truncated`, :func:`_truncation`); a last packet
    that the end of the file cuts through is left out.

    Raises:
        VideoError: the file is not a readable video or holds no frame.
    """
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    container = _open(path)
    try:
        form = str(container.format.name)
        if form == "image2" or form.endswith("_pipe"):
            raise VideoError(f"{path}: an image file ({form.removesuffix('_pipe')}), not a video")
        stream = container.streams.video[0]
        read = _read_packets(path, container, stream)
        codec = stream.codec_context
        width, height = int(codec.width or 0), int(codec.height or 0)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
        truncated = _truncation(path, container, stream, read, fps)
    finally:
        container.close()
    pts_list, key_pts, missing_pts = read.pts, read.key_pts, read.missing_pts
    if missing_pts or len(set(pts_list)) != len(pts_list):
        count = len(pts_list) + missing_pts
        frame_pts: tuple[int, ...] = ()
        keyframes: tuple[int, ...] = (0,)
    else:
        frame_pts = tuple(sorted(pts_list))
        count = len(frame_pts)
        position = {pts: i for i, pts in enumerate(frame_pts)}
        keyframes = tuple(sorted({0, *(position[p] for p in key_pts)}))
    if count == 0:
        raise VideoError(f"{path}: no video frames")
    if width <= 0 or height <= 0:
        raise VideoError(f"{path}: video stream has no frame size")
    rotation = _first_frame_rotation(path)
    return VideoScan(
        frame_pts, keyframes, count, time_base, fps, width, height, rotation, truncated=truncated
    )


@dataclass
class _Packets:
    """What :func:`scan_video` read of a file's packets."""

    #: The video packets' timestamps (``dts`` where ``pts`` is missing), keyframes'.
    pts: list[int] = dataclasses.field(default_factory=list)
    key_pts: list[int] = dataclasses.field(default_factory=list)
    #: Video packets with no timestamp at all.
    missing_pts: int = 0
    #: Where the first video packet starts, the last one ends, and the last packet of
    #: any stream ends (seconds).
    video_start: float = 0.0
    video_end: float = 0.0
    end: float = 0.0


def _read_packets(path: Path, container: Any, stream: Any) -> _Packets:
    """Read every packet of the file (of all streams: where the file ends matters)."""
    import av

    read = _Packets()
    corrupt_tail = 0  # the last video packets read, flagged corrupt
    try:
        for packet in container.demux():
            pts = packet.pts if packet.pts is not None else packet.dts
            if packet.size == 0 or pts is None:
                read.missing_pts += packet.size > 0 and packet.stream is stream
                continue
            video = packet.stream is stream
            if packet.time_base:  # where the file ends, in seconds
                at = float(pts * packet.time_base)
                ends = at + float((packet.duration or 0) * packet.time_base)
                read.end = max(read.end, ends)
                if video:
                    read.video_start = min(read.video_start, at) if read.pts else at
                    read.video_end = max(read.video_end, ends)
            if not video:
                continue
            corrupt_tail = corrupt_tail + 1 if packet.is_corrupt else 0
            read.pts.append(pts)
            if packet.is_keyframe:
                read.key_pts.append(pts)
    except av.FFmpegError as exc:
        if not read.pts and not read.missing_pts:
            raise VideoError(f"{path}: cannot read video ({_reason(exc)})") from exc
    if corrupt_tail:
        # The file ends inside its last packet (cut short): not a frame of the video.
        del read.pts[-corrupt_tail:]
        kept = set(read.pts)
        read.key_pts = [p for p in read.key_pts if p in kept]
    return read


#: A file is said to be cut short when it ends more than this many seconds before its
#: header says it does: durations in headers are exact to a frame or an audio packet.
TRUNCATION_MARGIN_S = 1.0


def _truncation(path: Path, container: Any, stream: Any, read: _Packets, fps: float) -> str:
    """The warning for a file that ends before its header says (empty: none).

    The header's length is trusted where the container keeps one that does not change
    when the file is cut: the duration of MP4/MOV (with its index at the front, a cut
    file still opens) and of Matroska/WebM, the frame count of AVI. MPEG-TS and others
    keep none: cut short, they cannot be told from a shorter video.
    """
    form = str(container.format.name)
    claim = end = 0.0
    if (form.startswith("mov,") or form == "matroska,webm") and container.duration:
        claim, end = container.duration / 1_000_000, read.end
        if form.startswith("mov,"):  # from the first frame (Matroska's: from time 0)
            claim += (container.start_time or 0) / 1_000_000
    elif form == "avi" and stream.frames and fps > 0:
        claim, end = read.video_start + stream.frames / fps, read.video_end
    if not read.pts or claim - end <= TRUNCATION_MARGIN_S:
        return ""
    count = len(read.pts)
    missing = (
        f"frames {count}-{stream.frames - 1}"
        if stream.frames > count
        else f"frames after {count - 1}"
    )
    return f"{path}: ends at {end:.1f} s of its {claim:.1f} s (truncated?): {missing} missing"


def _first_frame_rotation(path: Path) -> int:
    """Decode the first frame: proves the stream decodes, and gives its display rotation."""
    import av

    container = _open(path)
    try:
        for frame in container.decode(container.streams.video[0]):
            return _frame_rotation(frame, 0)
    except av.FFmpegError as exc:
        raise VideoError(f"{path}: cannot decode video ({_reason(exc)})") from exc
    finally:
        container.close()
    raise VideoError(f"{path}: no decodable video frame")


def plan_segments(
    scan: VideoScan,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    min_segments: int = 1,
    block_frames: int = RESET_FRAMES,
) -> list[tuple[int, int]]:
    """Split a video into ``[start, end)`` frame ranges of about ``segment_frames``.

    The video is made of blocks of ``block_frames`` frames, at whose first frames every
    face track ends (:data:`RESET_FRAMES` times the frame step: see
    :func:`faceripper.worker.process_segment`). A range of ``block_frames`` or more is
    made of whole blocks (as many as fit in ``segment_frames``), so that its worker
    neither looks behind its start nor past its end. A block is cut into shorter ranges
    when ``segment_frames`` is smaller; they start at keyframes where the keyframes allow
    it, so that a worker decodes nothing it does not use; where keyframes are too sparse,
    ranges start at any frame and the worker decodes from the keyframe before. Videos
    without timestamps are one range.

    ``min_segments``: a video too short for that many ranges of ``segment_frames`` gets
    shorter ranges, down to :data:`MIN_SEGMENT_FRAMES` (or ``segment_frames`` if
    smaller), so that it makes about ``min_segments`` (``rip`` asks for
    :data:`SHORT_VIDEO_SEGMENTS`).

    >>> scan = VideoScan(tuple(range(900)), (0, 75, 123, 179, 257, 322, 402, 483, 565, 800),
    ...                  900, Fraction(1, 30), 30.0, 1920, 1080, 0)
    >>> plan_segments(scan)
    [(0, 300), (300, 600), (600, 900)]
    >>> plan_segments(scan, min_segments=8)  # doctest: +NORMALIZE_WHITESPACE
    [(0, 123), (123, 211), (211, 300), (300, 391), (391, 483), (483, 600), (600, 700), (700, 800),
     (800, 900)]
    """
    count = scan.frame_count
    shortest = 1
    if min_segments > 1:
        shortest = min(MIN_SEGMENT_FRAMES, segment_frames)
        segment_frames = max(min(segment_frames, -(-count // min_segments)), shortest)
    if not scan.seekable or count <= segment_frames:
        return [(0, count)]
    if segment_frames >= block_frames:
        size = block_frames * (segment_frames // block_frames)
        edges = list(range(0, count, size))
        if len(edges) > 1 and count - edges[-1] < size // 2:
            edges.pop()  # no short last range: the one before takes it
        return list(itertools.pairwise([*edges, count]))
    starts = [0]
    for key in sorted({*scan.keyframes, *range(block_frames, count, block_frames)} - {0}):
        block_end = min(count, (key // block_frames + 1) * block_frames)
        # No range shorter than half a segment at the end, nor than the shortest before
        # a block's first frame.
        least = segment_frames // 2 if block_end == count else max(segment_frames // 2, shortest)
        if key % block_frames == 0 and count - key >= segment_frames // 2:
            starts.append(key)  # a block's first frame
        elif key - starts[-1] >= segment_frames and block_end - key >= least:
            starts.append(key)
    bounds = [*starts, count]
    segments: list[tuple[int, int]] = []
    for start, end in itertools.pairwise(bounds):
        pieces = max(1, min(round((end - start) / segment_frames), (end - start) // shortest))
        edges = [start + (end - start) * i // pieces for i in range(pieces + 1)]
        segments += list(itertools.pairwise(edges))
    return segments


def reach(end: int, frame_count: int, block_frames: int) -> int:
    """The frame before which the worker of a range ending at ``end`` stops at the latest.

    It goes on past ``end`` to the next frame where every track ends (a shot cut, or
    at the latest the next block's first frame).
    """
    return min(frame_count, -(-end // block_frames) * block_frames)


@dataclass
class DecodedFrame:
    """One decoded frame: index, time and pixels (upright)."""

    index: int
    time_s: float
    _frame: Any
    rotation: int

    def rgb(self) -> ImageRGB:
        """The frame as a new C-contiguous RGB uint8 array ``(h, w, 3)``, upright."""
        import cv2

        frame = self._frame
        if (
            frame.format.name in ("yuv420p", "yuvj420p")
            and frame.width % 2 == 0 == frame.height % 2
        ):
            yuv = frame.to_ndarray()
            image = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
        else:
            image = frame.to_ndarray(format="rgb24")
        return _upright(image, self.rotation)


def _upright(image: npt.NDArray[np.uint8], rotation: int) -> ImageRGB:
    turns = round(rotation / 90) % 4
    if turns:
        image = np.rot90(image, k=turns)
    return np.ascontiguousarray(image)


def iter_frames(
    path: Path, scan: VideoScan, start: int, end: int
) -> Generator[DecodedFrame, None, None]:
    """Decode frames ``start`` to ``end - 1`` (presentation order) of a scanned video,
    leaving out those that do not decode cleanly (:func:`faceripper.decoding.decode_frames`,
    where what went wrong is told).

    Raises:
        VideoError: the video cannot be opened, or cannot be sought to ``start``.
    """
    from faceripper.decoding import decode_frames

    return decode_frames(path, scan, start, end)


def _frame_rotation(frame: Any, default: int) -> int:
    value = getattr(frame, "rotation", None)
    return int(value) if value is not None else default
