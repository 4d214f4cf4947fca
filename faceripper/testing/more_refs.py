"""More than one reference photo per person, taken among photos a video does not show.

The ground-truth videos give each person one reference photo. To measure what a second
or third photo buys, the same video is ripped with reference folders that add photos of
the person the video never shows (a user's other photos of them):

- :func:`footage_spares`: for a :func:`faceripper.testing.footage.build_footage` video,
  replays its choice of reference and shown photos (the same seed and targets) and
  returns each person's photos that the video does not show, most typical first.
- :func:`write_refs`: a reference folder with each person's first reference and up to
  ``k - 1`` spares (copied, or cut tight as the footage's tight references are).

Typical use::

    spares = footage_spares(lfw_dev, targets, seed=21, views_per_shot=3)
    refs = write_refs(footage.refs, spares, 2, work / "refs-k2")
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from faceripper.images import is_image_name
from faceripper.testing.footage import _encode_photo, _references, write_tight_crop
from faceripper.testing.scenes import FaceSource, load_face_sources


def shown_indices(n_shown: int, looks_per_person: int, views_per_shot: int) -> set[int]:
    """Which of a person's photos (in the footage's order) the video shows: the first
    ``looks_per_person`` looks and the views each turns to (as
    :func:`faceripper.testing.footage.make_footage_scenes` picks them)."""
    looks = min(looks_per_person, n_shown)
    used = set(range(looks))
    n_views = min(views_per_shot, n_shown) if views_per_shot > 1 else 1
    for first in range(looks):
        used.update((first + j) % n_shown for j in range(1, n_views))
    return used


def by_typicality(sources: Sequence[FaceSource]) -> list[FaceSource]:
    """``sources`` ordered most typical first (least summed distance to the others), as
    a user would pick a clear, typical photo."""
    if len(sources) < 2:
        return list(sources)
    encodings = np.stack([_encode_photo(s) for s in sources])
    summed = np.linalg.norm(encodings[:, None] - encodings[None], axis=2).sum(axis=1)
    return [sources[int(i)] for i in np.argsort(summed, kind="stable")]


def footage_spares(
    people_dir: Path,
    targets: Sequence[str],
    *,
    seed: int,
    looks_per_person: int = 2,
    views_per_shot: int = 1,
    max_ref_distance: float = 0.5,
) -> dict[str, list[FaceSource]]:
    """Each target's photos that a :func:`~faceripper.testing.footage.build_footage`
    video of ``seed`` and ``targets`` (and these options) neither shows nor uses as the
    reference, most typical first (:func:`by_typicality`)."""
    folders = sorted(p for p in Path(people_dir).iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    chosen = sorted(targets)
    with tempfile.TemporaryDirectory() as scratch:
        reference, shown = _references(
            photos, chosen, Path(scratch) / "r", Path(scratch) / "t", seed, max_ref_distance
        )
    spares: dict[str, list[FaceSource]] = {}
    for name in chosen:
        used = {shown[name][i].path for i in shown_indices(
            len(shown[name]), looks_per_person, views_per_shot)}  # fmt: skip
        used.add(reference[name].path)
        rest = [s for s in load_face_sources(photos[name], identity=name) if s.path not in used]
        spares[name] = by_typicality(rest)
    return spares


def write_refs(
    base: Path, spares: Mapping[str, Sequence[FaceSource | Path]], k: int, out: Path,
    tight: bool = False,
) -> Path:  # fmt: skip
    """``out``: a copy of the reference folder ``base`` plus, for each person of
    ``spares`` with a folder in ``base``, their first ``k - 1`` spares (copied as they
    are, or, ``tight``, cut to the face box as
    :func:`~faceripper.testing.footage.write_tight_crop` does; a spare given as a path is
    copied). Returns ``out`` (rewritten each call)."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(base, out, ignore=shutil.ignore_patterns(".faceripper-*"))
    for name, extra in spares.items():
        if not (out / name).is_dir():
            continue
        for spare in list(extra)[: max(k - 1, 0)]:
            if isinstance(spare, Path):
                shutil.copy(spare, out / name / spare.name)
            elif tight:
                write_tight_crop(spare, out / name / spare.path.name)
            else:
                shutil.copy(spare.path, out / name / spare.path.name)
    return out
