"""The spool format of the video-adaptive step: a segment's anchors and held-back tracks.

:func:`pack` turns a segment's :class:`faceripper.heldback.Anchor` and
:class:`faceripper.heldback.PendingTrack` items into ``.npz`` bytes (no pickle: arrays
and one JSON string) for the writer's spool file; :func:`unpack` reads them back, with
or without the tracks' crops. Spools of earlier versions read as well (no anchors, no
``best``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from faceripper.heldback import Anchor, PendingTrack
from faceripper.pose import HeadPose


def pack(anchors: Sequence[Anchor], pending: Sequence[PendingTrack]) -> bytes:
    """A segment's anchor tracks and held-back tracks as ``.npz`` bytes (no pickle)."""
    meta: list[dict[str, Any]] = []
    encodings, ref_distance, blobs = [], [], []
    for track in pending:
        hits = []
        for hit, own in zip(track.hits, track.own_distances, strict=True):
            hits.append(
                {
                    "frame": hit.frame,
                    "time_s": hit.time_s,
                    "face": hit.face_index,
                    "box": list(hit.box_trbl),
                    "sharpness": hit.sharpness,
                    "status": hit.status,
                    "track": hit.track,
                    "encoded": hit.encoded,
                    "detector": hit.detector,
                    "pose": None if hit.pose is None else [hit.pose.yaw, hit.pose.roll],
                    "own": None if own is None else [float(v) for v in own],
                    "jpeg": len(hit.jpeg),
                }
            )
            blobs.append(hit.jpeg)
        meta.append(
            {
                "name": track.name,
                "first": track.first_frame,
                "last": track.last_frame,
                "excluded": list(track.excluded),
                "decided": track.decided,
                "best": track.best if np.isfinite(track.best) else None,
                "encodings": len(track.encodings),
                "hits": hits,
                **({"notes_only": True} if track.notes_only else {}),
            }
        )
        encodings.append(track.encodings.reshape(-1, 128))
        ref_distance.append(track.ref_distance)
    width = len(pending[0].ref_distance) if pending else 0
    buffer = io.BytesIO()
    np.savez(
        buffer,
        anchor_person=np.array([a.person for a in anchors], dtype=np.int64),
        anchor_span=np.array([(a.first_frame, a.last_frame) for a in anchors], np.int64).reshape(
            -1, 2
        ),
        anchor_size=np.array([len(a.encodings) for a in anchors], dtype=np.int64),
        anchor_encodings=np.concatenate([a.encodings.reshape(-1, 128) for a in anchors])
        if anchors
        else np.zeros((0, 128)),
        meta=np.array(json.dumps(meta)),
        encodings=np.concatenate(encodings) if encodings else np.zeros((0, 128)),
        ref_distance=np.stack(ref_distance) if ref_distance else np.zeros((0, width)),
        jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8),
    )
    return buffer.getvalue()


def unpack(data: bytes, crops: bool = True) -> tuple[list[Anchor], list[PendingTrack]]:
    """Read :func:`pack`'s bytes back (``crops`` False: the tracks without their hits,
    for the decision, which needs only their summaries)."""
    from faceripper.worker import FaceHit

    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        anchors: list[Anchor] = []
        row = 0
        # A spool of an earlier version has no anchors (its per-face exemplars are not read).
        old = "anchor_person" not in arrays.files
        anchor_encodings = np.zeros((0, 128)) if old else arrays["anchor_encodings"]
        for person, (first, last), size in zip(
            *(
                (np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros(0, np.int64))
                if old
                else (arrays["anchor_person"], arrays["anchor_span"], arrays["anchor_size"])
            ),
            strict=True,
        ):
            encodings = anchor_encodings[row : row + size].astype(np.float64)
            anchors.append(Anchor(int(person), int(first), int(last), encodings))
            row += int(size)
        meta = json.loads(str(arrays["meta"]))
        encodings = arrays["encodings"]
        ref_distance = arrays["ref_distance"]
        jpeg = arrays["jpeg"].tobytes() if crops else b""
    pending: list[PendingTrack] = []
    row = offset = 0
    for index, item in enumerate(meta):
        track = PendingTrack(
            item["name"],
            int(item["first"]),
            int(item["last"]),
            ref_distance[index].astype(np.float64),
            encodings[row : row + item["encodings"]].astype(np.float64),
            tuple(int(p) for p in item["excluded"]),
            decided=int(item.get("decided", -1)),
            best=float("inf") if item.get("best") is None else float(item["best"]),
            notes_only=bool(item.get("notes_only", False)),
        )
        row += item["encodings"]
        for hit in item["hits"] if crops else ():
            size = int(hit["jpeg"])
            track.hits.append(
                FaceHit(
                    frame=int(hit["frame"]),
                    time_s=float(hit["time_s"]),
                    face_index=int(hit["face"]),
                    box_trbl=tuple(int(v) for v in hit["box"]),  # type: ignore[arg-type]
                    person=-1,
                    distance=float("nan"),
                    sharpness=float(hit["sharpness"]),
                    status=str(hit["status"]),
                    jpeg=jpeg[offset : offset + size],
                    track=str(hit["track"]),
                    encoded=bool(hit["encoded"]),
                    detector=str(hit.get("detector", "hog")),
                    pose=None if hit.get("pose") is None else HeadPose(*hit["pose"]),
                )
            )
            own = hit["own"]
            track.own_distances.append(None if own is None else np.array(own, dtype=np.float64))
            offset += size
        pending.append(track)
    return anchors, pending
