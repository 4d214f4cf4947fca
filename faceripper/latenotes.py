"""The notes after the run's end: a track the later videos' anchors lend is kept, no
longer held back.

A video's step (:func:`faceripper.commit.adapt_video`) records what it says of people
never matched with confidence (:class:`faceripper.unsure.VideoUnsure`) before the run's
end (:mod:`faceripper.lateanchors`) may lend some of its undecided tracks. So that the
notes and the sheets stay true, the tracks the step kept for the run's end and counted
as held back are recorded one by one (the entry's ``late``: ``[track, distance]``), not in
its ``held`` tally; the notes count them as held back (:func:`faceripper.unsure.report`)
until the run's end lends them. Then :func:`relend` rewrites the video's entry as its
step would have written it with those decisions: a lent track leaves ``late`` and its
``held back`` candidate, and is counted as *kept without a confident face* (``near``,
badge ``kept``) for the person lent, as a track the earlier videos' anchors lend is
(nothing, when that person was matched with confidence in the video). The new entry goes
into the run's end's journal line for the video, so a resumed run reports the same.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from faceripper.config import Config
from faceripper.heldback import Adoption, PendingTrack
from faceripper.unsure import Candidate, Tally, VideoUnsure, write_candidates


def relend(
    entry: Mapping[str, Any],
    video: str,
    lent: Sequence[tuple[PendingTrack, Adoption]],
    confident: Collection[int],
    config: Config,
    folders: Mapping[str, str],
    unsure_dir: Path,
) -> dict[str, Any]:
    """The video's unsure entry (:meth:`VideoUnsure.to_json`) once the run's end lent it
    the tracks ``lent``; ``confident``: the people matched with confidence in the video.
    The crops of new candidates are written under ``unsure_dir`` (a folder that cannot
    be written costs them, never the run: logged)."""
    record: dict[str, Any] = copy.deepcopy(dict(entry))
    doubts = VideoUnsure(video, config, folders, ())
    names = [p.name for p in config.people]
    for track, adoption in lent:
        for person in record.values():  # no longer held back
            late = person.get("late", [])
            if any(name == track.name for name, _ in late):
                person["late"] = [x for x in late if x[0] != track.name]
                shown = person["candidates"]
                held = (track.name, "held")
                person["candidates"] = [c for c in shown if (c["track"], c["kind"]) != held]
        if adoption.person in confident:
            continue
        kept = record.setdefault(names[adoption.person], {"candidates": []})
        tally = Tally(*kept["near"]) if "near" in kept else Tally()
        tally.add(round(float(track.ref_distance[adoption.person]), 4))
        kept["near"] = [tally.tracks, tally.low, tally.high]
        shown = [(Candidate.from_json(c), b"") for c in kept["candidates"]]
        doubts.keep_nearest(shown, track, adoption.person, "near")
        kept["candidates"] = [asdict(c) for c, _ in shown]
        write_candidates([(c, jpeg) for c, jpeg in shown if jpeg], unsure_dir)
    for name in list(record):
        person = record[name]
        if "late" in person and not person["late"]:
            del person["late"]
        if not any(kind in person for kind in ("held", "near", "far", "late")):
            del record[name]
    return record
