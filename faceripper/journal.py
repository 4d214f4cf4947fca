"""The run journal ``T/.faceripper-journal.jsonl``: the run's settings, then one line per
finished segment (:class:`SegmentRecord`), thinned video (``{"pruned": video}``) or
adapted video (``{"adapted": video, "counts": ..., "gallery": ...}``; ``gallery``: the
faces it adds to the run's gallery, :mod:`faceripper.runanchors`; ``{"adapted": video,
"late": true, "counts": ...}``: the crops the run's end gave it,
:mod:`faceripper.lateanchors`), each appended durably."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from faceripper.errors import FaceripperError, UsageError
from faceripper.fileio import atomic_write_bytes

JOURNAL_NAME = ".faceripper-journal.jsonl"
JOURNAL_FORMAT = "faceripper-journal"
JOURNAL_VERSION = 1


class SettingsChangedError(FaceripperError):
    """The target was made with other settings; resuming would mix two datasets."""


@dataclass
class SegmentRecord:
    """A finished segment, as the journal keeps it.

    ``start``/``end`` are the segment as planned; ``owned`` the frames ``[first, stop)``
    whose faces it wrote, which may begin after ``start`` and go past ``end``
    (:func:`faceripper.worker.owned_frames`); None: ``(start, end)``.
    """

    video: str
    start: int
    end: int
    frames: int
    saved: Counter[str] = field(default_factory=Counter)
    blurry: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    error: str = ""
    owned: tuple[int, int] | None = None

    @property
    def rows_range(self) -> tuple[int, int]:
        """The frames ``[first, stop)`` of the manifest rows this segment wrote."""
        return self.owned if self.owned is not None else (self.start, self.end)

    def to_json(self) -> str:
        return json.dumps(
            {
                "video": self.video,
                "start": self.start,
                "end": self.end,
                "frames": self.frames,
                "saved": dict(self.saved),
                "blurry": dict(self.blurry),
                "ambiguous": dict(self.ambiguous),
                "counts": dict(self.counts),
                "error": self.error,
                **({"owned": list(self.owned)} if self.owned is not None else {}),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentRecord:
        return cls(
            str(data["video"]),
            int(data["start"]),
            int(data["end"]),
            int(data["frames"]),
            Counter(data.get("saved", {})),
            Counter(data.get("blurry", {})),
            Counter(data.get("ambiguous", {})),
            Counter(data.get("counts", {})),
            str(data.get("error", "")),
            (int(data["owned"][0]), int(data["owned"][1])) if data.get("owned") else None,
        )


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file of the target for appending.

    A string that is not valid Unicode (a message naming a file whose name is not
    UTF-8) is written with backslash escapes rather than stopping the run.
    """
    return path.open("a", encoding="utf-8", errors="backslashreplace", newline="")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a JSON-lines file; a torn last line (from a kill) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def append_line(path: Path, line: str) -> None:
    """Append one line to a journal, durably (fsynced)."""
    with open_text(path) as journal:
        journal.write(line + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def start_journal(path: Path, settings: dict[str, Any]) -> None:
    """Write a new journal holding only its header: the format and the run's settings."""
    header = {
        "format": JOURNAL_FORMAT,
        "version": JOURNAL_VERSION,
        "settings": settings,
    }
    atomic_write_bytes(path, (json.dumps(header, ensure_ascii=False) + "\n").encode())


def check_header(
    path: Path, header: dict[str, Any], settings: dict[str, Any], target: Path
) -> None:
    """Refuse to resume a run of ``target`` whose journal (at ``path``, first line
    ``header``) is not faceripper's or was written with other ``settings``.

    Raises:
        UsageError: not a faceripper journal.
        SettingsChangedError: a setting differs; the message names each one.
    """
    if header.get("format") != JOURNAL_FORMAT:
        raise UsageError(f"{path}: not a faceripper journal")
    old = header.get("settings", {})
    changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
    unknown = [k for k in changed if k not in old]
    if unknown:
        raise SettingsChangedError(
            f"{target}: made by an older faceripper, without the "
            f"{'settings' if len(unknown) > 1 else 'setting'} {', '.join(unknown)}; use "
            "--restart to redo it with this version, or choose another --target-dir"
        )
    if changed == ["references_sha256"]:
        raise SettingsChangedError(
            f"{target}: made with other reference photos (a photo was added, removed or "
            "changed since); use --restart to redo it with these, or choose another "
            "--target-dir"
        )
    if changed:
        what = ", ".join(f"{k}: {_change(old.get(k), settings.get(k))}" for k in changed)
        raise SettingsChangedError(
            f"{target}: made by a run with other settings ({what}); "
            "rerun with the same options, use --restart to start over, "
            "or choose another --target-dir"
        )


def _change(old: Any, new: Any) -> str:
    """``old -> new``, floats to 6 significant digits where that tells them apart.

    >>> _change(50.0, 53.333333333333336)
    '50 -> 53.3333'
    >>> _change(0.1, 0.10000000001)
    '0.1 -> 0.10000000001'
    >>> _change("{label}", "{group}")
    "'{label}' -> '{group}'"
    """
    if isinstance(old, float) and isinstance(new, float):
        short = f"{old:.6g}", f"{new:.6g}"
        if short[0] != short[1]:
            return f"{short[0]} -> {short[1]}"
    return f"{old!r} -> {new!r}"


def summarize(records: Iterable[SegmentRecord]) -> dict[str, Counter[str]]:
    """Totals per label over segment records, keyed "saved", "blurry" and "ambiguous"."""
    total: dict[str, Counter[str]] = {
        "saved": Counter(),
        "blurry": Counter(),
        "ambiguous": Counter(),
    }
    for record in records:
        total["saved"].update(record.saved)
        total["blurry"].update(record.blurry)
        total["ambiguous"].update(record.ambiguous)
    return total
