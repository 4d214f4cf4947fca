"""Scanning a video in a worker (packets only: frame times and keyframes), the first work
unit of each video.

A video that cannot be scanned is news for the run, not a failure of the unit: the
error comes back as the unit's result (:func:`try_scan`), a
:class:`~faceripper.video.VideoError` with its one-line message, as a segment's decoding
error comes back in its :class:`~faceripper.worker.records.SegmentResult`.
"""

from __future__ import annotations

from pathlib import Path

from faceripper.video import VideoError, VideoScan


def try_scan(path: Path) -> VideoScan | VideoError:
    """Scan a video in a worker: its scan, or the error that stopped it.

    The error is a :class:`~faceripper.video.VideoError` whose message names the file
    and the problem in one line (a file the system cannot read: its ``strerror``). It
    is returned, not raised, so that it travels back as the unit's result (it pickles).

    >>> error = try_scan(Path("/nonexistent/clip.mp4"))
    >>> type(error).__name__, str(error)
    ('VideoError', '/nonexistent/clip.mp4: No such file or directory')
    """
    from faceripper.video import scan_video

    try:
        return scan_video(path)
    except VideoError as exc:
        # Its message alone: the FFmpeg error it was raised from does not unpickle where
        # tracebacks travel with exceptions (tblib, as Dask installs it).
        return VideoError(str(exc))
    except OSError as exc:
        return VideoError(f"{path}: {exc.strerror or exc}")
