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
                # The frames before it that the decoder holds (B-frames) are clean; a
                # packet past the scan's last frame is one the end of the file cut.
                past = packet.pts is not None and packet.pts > last_pts
                before = index_of.get(packet.pts, end if past else at + 1)
                yield from _drain(stream, scan, index_of, (origin, at, before), span)
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
            yield from _drain(stream, scan, index_of, (origin, at, at + 1), span)
            return at
    finally:
        container.close()
    return None


def _drain(
    stream: Any,
    scan: VideoScan,
    index_of: dict[int, int],
    at: tuple[int, int, int],
    span: tuple[int, int],
) -> Iterator[DecodedFrame]:
    """The pictures the decoder still holds when a packet is refused unread (a corrupt
    packet, a read error: nothing damaged went into the decoder), decoded from the clean
    packets before it: with B-frames, the last frames before the damage (a file cut short
    lost its last two frames here, and was then said to be damaged).

    ``at``: the keyframe decoded from, the frame of the last packet read, and the first
    frame not taken (the damaged one): only frames before it, and before the keyframe
    decoding starts again from (decoded afresh there), so the frames lost stay one
    stretch from the damaged frame to the next keyframe."""
    import av

    origin, damaged, before = at
    start, end = span
    after = bisect.bisect_right(scan.keyframes, max(damaged, origin))
    until = min(end, before, scan.keyframes[after] if after < len(scan.keyframes) else end)
    try:
        frames = stream.decode(None)
    except av.FFmpegError:
        return
    for frame in frames:
        index = index_of.get(frame.pts) if frame.pts is not None else None
        if index is None or index < max(origin, start):
            continue
        if index >= until or getattr(frame, "is_corrupt", False):
            return
        rotation = _video._frame_rotation(frame, scan.rotation)
        yield DecodedFrame(index, scan.time_s(index), frame, rotation)


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


#: Frames lost: the first and the last, and the times (s) of the first and of the frame
#: after the last (None: not known), so that the time a hole covers shows even where the
#: demuxer passed over frames that then never got an index (Matroska, MPEG-TS).
Run = tuple[int, int, "float | None", "float | None"]


def timed_runs(scan: VideoScan, runs: list[tuple[int, int]]) -> list[Run]:
    """``(first, last)`` runs of frames of ``scan`` (a window) with their times.

    The time after a run is the next frame's where the window holds it, else the last
    frame's plus one frame at the video's rate.
    """
    timed: list[Run] = []
    end = scan.first_index + len(scan.frame_pts) if scan.seekable else scan.frame_count
    step = 1 / scan.fps if scan.fps > 0 else 0.0
    for first, last in runs:
        after = scan.time_s(last + 1) if last + 1 < end else scan.time_s(last) + step
        timed.append((first, last, scan.time_s(first), after))
    return timed


def join_runs(runs: list[Run]) -> list[Run]:
    """Runs sorted, those that overlap or meet joined.

    >>> join_runs([(20, 25, 2.0, 2.6), (5, 9, 0.5, 1.0), (10, 12, 1.0, 1.3)])
    [(5, 12, 0.5, 1.3), (20, 25, 2.0, 2.6)]
    """
    joined: list[Run] = []
    for run in sorted(runs, key=lambda r: (r[0], r[1])):
        if joined and run[0] <= joined[-1][1] + 1:
            first, last, since, _ = joined[-1]
            if run[1] > last:
                joined[-1] = (first, run[1], since, run[3])
        else:
            joined.append(run)
    return joined


def _words(runs: list[Run]) -> str:
    count = sum(last - first + 1 for first, last, _, _ in runs)
    items = []
    for first, last, since, until in runs:
        item = str(first) if first == last else f"{first}-{last}"
        if since is not None and until is not None:
            item += f" ({since:.2f}-{until:.2f} s)"
        items.append(item)
    return f"frame{'s' if count > 1 else ''} {', '.join(items)} lost"


def lost_message(path: Path | str, reason: str, runs: list[Run]) -> str:
    """The line of a damaged video: why, and which frames were lost (with the time from
    the first one to the frame after the last).

    >>> lost_message("v.mp4", "bad data", [(90, 119, 3.0, 4.0), (135, 135, 4.5, 4.53)])
    'v.mp4: decoding failed (bad data): frames 90-119 (3.00-4.00 s), 135 (4.50-4.53 s) lost'
    """
    why = f" ({reason})" if reason else ""
    return f"{path}: decoding failed{why}: {_words(runs)}"


#: One run of frames lost in a line, and the same without groups.
_ITEM = r"(\d+)(?:-(\d+))?(?: \((\d+\.\d+)-(\d+\.\d+) s\))?"
_ANY_ITEM = r"\d+(?:-\d+)?(?: \(\d+\.\d+-\d+\.\d+ s\))?"
#: The frames lost that a line names (this module's lines, and older ones' ``frames A-B lost``).
_LOST = re.compile(rf"\bframes? ({_ANY_ITEM}(?:, {_ANY_ITEM})*) lost")


def lost_runs(message: str) -> list[Run]:
    """The frames a line says were lost, as runs.

    >>> lost_runs("v: decoding failed (x): frames 9-19 (0.36-0.80 s), 30 lost")
    [(9, 19, 0.36, 0.8), (30, 30, None, None)]
    """
    found = _LOST.search(message)
    if found is None:
        return []
    runs: list[Run] = []
    for item in re.finditer(_ITEM, found.group(1)):
        first, last, since, until = item.groups()
        timed = since is not None and until is not None
        runs.append(
            (
                int(first),
                int(last or first),
                float(since) if timed else None,
                float(until) if timed else None,
            )
        )
    return runs


def merge_lost(first: str | None, messages: list[str]) -> str:
    """A video's one error line from its segments' lines (in frame order): the first
    line's head, and every frame lost, runs that meet across segments joined; an error of
    another kind (``first``, not among ``messages``) leads, the frames lost follow.

    >>> lines = ["v: decoding failed (x): frames 9-19 (0.36-0.80 s) lost",
    ...          "v: decoding failed: frame 20 (0.80-0.84 s) lost"]
    >>> merge_lost(None, lines)
    'v: decoding failed (x): frames 9-20 (0.36-0.84 s) lost'
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
