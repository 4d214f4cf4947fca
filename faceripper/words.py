"""Words for the command line's messages: a count with its noun."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (``plural``: when not ``noun + "s"``).

    >>> counted(1, "track"), counted(0, "track"), counted(3, "person", "people")
    ('1 track', '0 tracks', '3 people')
    """
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
