"""Scanning a video in a worker (packets only: frame times and keyframes), the first work
unit of each video."""

from __future__ import annotations

from pathlib import Path

from faceripper.video import VideoError, VideoScan


def scan_task(path: Path) -> VideoScan | str:
    """Scan a video in a worker; a string is the error message."""
    from faceripper.video import scan_video

    try:
        return scan_video(path)
    except VideoError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
