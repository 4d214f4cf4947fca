"""Decoding a range of frames of a scanned video, past the places where the file is damaged.

A damaged stretch of a file (bytes overwritten, a bad sector, a broken download) makes
the decoder refuse packets, or hand out pictures it marks corrupt; the pictures after it
up to the next keyframe are then built on a wrong picture and are garbage *without* any
mark (measured on the Hamilton clip: 16 dB from the true pictures, none marked). So at
the first sign of damage, the frames up to the next keyframe of the scan are dropped and
decoding starts afresh there (the file is opened again and sought there, as a segment
that starts at that keyframe would be): the frames given out are exactly those that
decode cleanly, whatever the frame range asked for, so the result does not depend on
how a video is cut into segments (:mod:`faceripper.worker.segment`). A damaged video
loses the frames from the damage to the next keyframe, not the rest of its segment.

Which frames were lost shows as the indices missing from what :func:`decode_frames`
yields; what went wrong first goes to a :class:`Damage`. The frames lost are named in one
line (:func:`lost_message`), and the lines of a video's segments are merged into one
(:func:`merge_lost`).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceripper import video as _video
from faceripper.video import DecodedFrame, VideoError, VideoScan


@dataclass
class Damage:
    """What went wrong first while decoding (empty: nothing)."""

    reason: str = ""

    def note(self, reason: str) -> None:
        """Keep ``reason`` unless an earlier one is kept."""
        self.reason = self.reason or reason


def decode_frames(
    path: Path,
    scan: VideoScan,
    start: int,
    end: int,
    damage: Damage | None = None,
    *,
    from_start: bool = False,
) -> Generator[DecodedFrame, None, None]:
    """Decode frames ``start`` to ``end - 1`` (presentation order) of a scanned video.

    Seeks to the keyframe at or before ``start`` (``from_start``: decodes from the
    beginning, as where the container cannot seek there exactly). Frames that do not
    decode cleanly are left out (see the module's description), and the first problem is
    noted in ``damage``; a video without timestamps (not seekable) stops at its first
    damage.

    Raises:
        VideoError: the video cannot be opened, or cannot be sought to ``start``.
    """
    damage = damage if damage is not None else Damage()
    if not scan.seekable:
        yield from _sequential(path, scan, start, end, damage)
        return
    origin = 0 if from_start else scan.keyframes[bisect.bisect_right(scan.keyframes, start) - 1]
    first = not from_start
    while origin < end:
        restart = yield from _from_keyframe(path, scan, origin, (start, end), damage, first)
        if restart is None:
            return
        # Damaged at frame ``restart``: on afresh from the next keyframe after it.
        at = bisect.bisect_right(scan.keyframes, max(restart, origin))
        if at >= len(scan.keyframes):
            return
        origin, first = scan.keyframes[at], False


def _from_keyframe(
    path: Path,
    scan: VideoScan,
    origin: int,
    span: tuple[int, int],
    damage: Damage,
    first: bool,
) -> Generator[DecodedFrame, None, int | None]:
    """Decode from the keyframe ``origin`` with a fresh decoder; yield the clean frames of
    ``span`` (``[start, end)``). Returns None when done, or the index of a damaged frame,
    after which decoding starts again from the next keyframe.

    ``first``: the segment's own keyframe, from which decoding falls back to the
    beginning of the video where the container cannot seek to it.
    """
    import av

    start, end = span
    index_of = {pts: scan.first_index + i for i, pts in enumerate(scan.frame_pts)}
    last_pts = scan.frame_pts[-1]
    container = _video._open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        packets = _Packets(container, stream, damage)
        feed: Iterable[Any] = packets
        if origin > 0:
            try:
                head = _seek(scan, origin, index_of, packets)
            except av.FFmpegError as exc:
                if first:
                    raise VideoError(f"{path}: cannot seek ({_video._reason(exc)})") from exc
                damage.note(f"cannot seek ({_video._reason(exc)})")
                return None
            if head is None and first:
                container.close()
                yield from decode_frames(path, scan, start, end, damage, from_start=True)
                return None
            if head is None:
                return origin
            feed = itertools.chain([head], packets)
        at = origin  # the frame of the last packet read
        for packet in feed:
            if packet.pts is not None and packet.pts in index_of:
                at = index_of[packet.pts]
            if packet.size and getattr(packet, "is_corrupt", False) and at >= origin:
                damage.note("a corrupt packet")
                return at
            try:
                frames = stream.decode(packet)
            except av.FFmpegError as exc:
                if at < origin:
                    continue  # a frame before the keyframe (open GOP): not asked for
                damage.note(_video._reason(exc))
                return at
            for frame in frames:
                pts = frame.pts
                index = index_of.get(pts) if pts is not None else None
                if index is None:
                    if pts is None or pts <= last_pts:
                        continue
                    index = end  # after the last frame of the scan: past the range
                if index < origin:
                    continue
                if getattr(frame, "is_corrupt", False):
                    damage.note("a corrupt picture")
                    return index
                if index >= end:
                    return None
                if index >= start:
                    rotation = _video._frame_rotation(frame, scan.rotation)
                    yield DecodedFrame(index, scan.time_s(index), frame, rotation)
        if packets.failed:
            return at
    finally:
        container.close()
    return None


#: How far before a keyframe the second seek to it goes, in frames (more than any
#: decoder's reordering).
SEEK_MARGIN_FRAMES = 32


def _seek(scan: VideoScan, origin: int, index_of: dict[int, int], packets: _Packets) -> Any:
    """Seek so that the keyframe ``origin``'s packet is the next to decode, and return it
    (the packets before it are read and passed over); None where no seek gets there.

    A seek to the keyframe's time lands on it in most containers; where it lands past it
    (MPEG-TS seeks by decoding time), a second one goes a little earlier.
    """
    pts = scan.frame_pts[origin - scan.first_index]
    frames = len(scan.frame_pts)
    step = (scan.frame_pts[-1] - scan.frame_pts[0]) / (frames - 1) if frames > 1 else 1
    least = scan.frame_pts[0] if scan.origin_pts is None else scan.origin_pts
    for target in (pts, max(least, int(pts - SEEK_MARGIN_FRAMES * step))):
        packets.seek(target)
        for packet in packets:
            index = index_of.get(packet.pts) if packet.pts is not None else None
            if index == origin and packet.is_keyframe:
                return packet
            if index is not None and index > origin:
                break  # landed past the keyframe
        if packets.failed:
            return None
    return None


class _Packets:
    """The video packets of a container, from where it was last sought; a read error
    ends them, noted in ``damage`` (:attr:`failed`)."""

    def __init__(self, container: Any, stream: Any, damage: Damage) -> None:
        self.container = container
        self.stream = stream
        self.demuxed = container.demux(stream)
        self.damage = damage
        self.failed = False

    def seek(self, pts: int) -> None:
        """Go to the keyframe at or before ``pts`` (or where the container lands)."""
        self.container.seek(pts, stream=self.stream, backward=True)
        self.demuxed = self.container.demux(self.stream)
        self.failed = False

    def __iter__(self) -> Iterator[Any]:
        import av

        while True:
            try:
                packet = next(self.demuxed)
            except StopIteration:
                return
            except av.FFmpegError as exc:
                self.damage.note(_video._reason(exc))
                self.failed = True
                return
            yield packet


def _sequential(
    path: Path, scan: VideoScan, start: int, end: int, damage: Damage
) -> Generator[DecodedFrame, None, None]:
    """A video without timestamps: frames counted from the beginning; the first damage
    ends the decoding (past it, no frame could be told which it is)."""
    import av

    container = _video._open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        position = 0
        for frame in container.decode(stream):
            if getattr(frame, "is_corrupt", False):
                damage.note("a corrupt picture")
                return
            index, position = position, position + 1
            if index >= end:
                return
            if index >= start:
                rotation = _video._frame_rotation(frame, scan.rotation)
                yield DecodedFrame(index, scan.time_s(index), frame, rotation)
    except av.FFmpegError as exc:
        damage.note(_video._reason(exc))
    finally:
        container.close()


# ---------------------------------------------------------------- the frames lost, in words


def ranges_of(frames: list[int]) -> list[tuple[int, int]]:
    """Sorted frame indices as ``(first, last)`` runs.

    >>> ranges_of([3, 4, 5, 9, 11, 12])
    [(3, 5), (9, 9), (11, 12)]
    """
    runs: list[tuple[int, int]] = []
    for frame in frames:
        if runs and runs[-1][1] + 1 == frame:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
    return runs


def join_runs(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs sorted, those that overlap or meet joined.

    >>> join_runs([(20, 25), (5, 9), (10, 12), (24, 30)])
    [(5, 12), (20, 30)]
    """
    joined: list[tuple[int, int]] = []
    for first, last in sorted(runs):
        if joined and first <= joined[-1][1] + 1:
            joined[-1] = (joined[-1][0], max(last, joined[-1][1]))
        else:
            joined.append((first, last))
    return joined


def _words(runs: list[tuple[int, int]]) -> str:
    count = sum(last - first + 1 for first, last in runs)
    items = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return f"frame{'s' if count > 1 else ''} {items} lost"


def lost_message(path: Path | str, reason: str, runs: list[tuple[int, int]]) -> str:
    """The line of a damaged video: why, and which frames were lost.

    >>> lost_message("v.mp4", "Invalid data found when processing input", [(90, 119)])
    'v.mp4: decoding failed (Invalid data found when processing input): frames 90-119 lost'
    """
    why = f" ({reason})" if reason else ""
    return f"{path}: decoding failed{why}: {_words(runs)}"


#: The frames lost that a line names (this module's lines, and older ones' ``frames A-B lost``).
_LOST = re.compile(r"\bframes? (\d+(?:-\d+)?(?:, \d+(?:-\d+)?)*) lost")


def lost_runs(message: str) -> list[tuple[int, int]]:
    """The frames a line says were lost, as runs.

    >>> lost_runs("v: decoding failed (x): frames 9-19, 30 lost")
    [(9, 19), (30, 30)]
    """
    found = _LOST.search(message)
    if found is None:
        return []
    runs = []
    for item in found.group(1).split(", "):
        first, _, last = item.partition("-")
        runs.append((int(first), int(last or first)))
    return runs


def merge_lost(first: str | None, messages: list[str]) -> str:
    """A video's one error line from its segments' lines (in frame order): the first
    line's head, and every frame lost, runs that meet across segments joined; an error of
    another kind (``first``, not among ``messages``) leads, the frames lost follow.

    >>> lines = ["v: decoding failed (x): frames 9-19 lost", "v: decoding failed: frame 20 lost"]
    >>> merge_lost(None, lines)
    'v: decoding failed (x): frames 9-20 lost'
    >>> merge_lost("v: the worker process crashed", ["v: decoding failed (x): frames 9-19 lost"])
    'v: the worker process crashed; frames 9-19 lost'
    """
    runs = join_runs([run for message in messages for run in lost_runs(message)])
    head = messages[0] if first is None or first in messages else first
    if not runs:
        return head
    found = _LOST.search(head)
    if found is None:
        return f"{head}; {_words(runs)}"
    return head[: found.start()] + _words(runs) + head[found.end() :]
