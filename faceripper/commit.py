"""Segments' results into the dataset, strictly in segment order, and each video's end.

The workers finish in any order; :class:`Committer` holds their results until every
earlier segment is written, so the dataset and its manifest are the same whatever the
number of workers (:mod:`faceripper.pipeline` schedules them). One segment is written as:
its crops and their manifest rows (:func:`write_hit`), its spool of borderline tracks,
then its journal line (:meth:`faceripper.writer.Dataset.finish_segment`). When a video's
last segment is written, the video ends: its adaptive second step (:func:`adapt_video`),
then ``--max-per-video``'s thinning.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from faceripper import heldback, lateanchors, latenotes, runanchors, spool, unsure, wide
from faceripper.config import Config
from faceripper.learned import Learned, judge
from faceripper.video import video_id
from faceripper.worker import FaceHit, RipSettings, SegmentResult, SegmentTask
from faceripper.writer import Dataset, ManifestRow, SegmentRecord, crop_name

log = logging.getLogger(__name__)


class Committer:
    """Writes the segments of a run in sequence order, then ends each video.

    Results are :meth:`add`-ed as workers finish; :meth:`commit_next` writes the next
    one in sequence when it is there. A video's segments are announced first
    (:meth:`add_video`), so that its end comes right after its last segment's commit.

    Attributes:
        errors: the first error of each video that had one, by video key.
        counts: tallies of the run not kept in segment records (``over_limit``, and
            the counts of segments left for the next run).
    """

    def __init__(
        self,
        dataset: Dataset,
        config: Config,
        settings: RipSettings,
        max_per_video: int = 0,
        learned: Learned | None = None,
    ) -> None:
        self.dataset = dataset
        self.config = config
        self.settings = settings
        self.max_per_video = max_per_video
        self.learned = learned
        self.labels = [p.label for p in config.people]
        self.errors: dict[str, str] = {}
        self.counts: Counter[str] = Counter()
        self.next_sequence = 0
        self._buffer: dict[int, tuple[SegmentTask, SegmentResult]] = {}
        self._unfinished: dict[str, int] = {}  # segments of a video still to commit
        self._incomplete: set[str] = set()  # videos with a segment left for the next run
        self._frame_counts: dict[str, int] = {}
        self._wide: dict[str, wide.Cap] = {}  # per video: its tracks past the window kept
        # The run's gallery: the anchors of the videos adapted so far, this run's and
        # (from the journal) an earlier run's on the same target, in commit order.
        self.gallery = runanchors.gallery_of(dataset.gallery) if settings.run_anchors else None
        # With it, the tracks the videos leave undecided wait for the run's end
        # (faceripper.lateanchors); not under --max-per-video (thinned at each video's end).
        self.keep = self.gallery is not None and not max_per_video

    @property
    def waiting(self) -> int:
        """Results held until an earlier segment is committed."""
        return len(self._buffer)

    def add_video(self, key: str, segments: int, frame_count: int) -> None:
        """Announce a video and how many of its segments this run commits; a video with
        none left ends at once."""
        self._frame_counts[key] = frame_count
        self._unfinished[key] = segments
        if not segments:
            self._finish_video(key)

    def fail_video(self, key: str, error: str) -> None:
        """A video that cannot be processed at all (it cannot be read or scanned)."""
        self.errors[key] = error

    def add(self, task: SegmentTask, result: SegmentResult) -> None:
        """A segment's result, whatever its place in the sequence."""
        self._buffer[task.sequence] = (task, result)

    def commit_next(self) -> SegmentRecord | None:
        """Commit the next segment in sequence if its result is there (and end its
        video if it was the last); return its record (None: not there yet)."""
        if self.next_sequence not in self._buffer:
            return None
        task, result = self._buffer.pop(self.next_sequence)
        record = self._commit(task, result)
        if not self.dataset.is_done(task.video_key, task.start, task.end):
            self._incomplete.add(task.video_key)  # retried by the next run
        self._unfinished[task.video_key] -= 1
        if self._unfinished[task.video_key] == 0:
            self._finish_video(task.video_key)
        self.next_sequence += 1
        return record

    def _commit(self, task: SegmentTask, result: SegmentResult) -> SegmentRecord:
        """Write one segment's crops, rows, spool and journal line (a segment that
        failed in a way that may not happen again gets no journal line)."""
        dataset = self.dataset
        record = SegmentRecord(
            task.video_key, task.start, task.end, result.frames, owned=result.owned
        )
        for hit, corrected in judge(self.learned, task.video_key, result):
            label = write_hit(dataset, task.video_key, hit, self.config, corrected)
            (record.blurry if hit.status == "blurry" else record.saved)[label] += 1
        for person_index, n in result.ambiguous.items():
            record.ambiguous[self.labels[person_index]] += n
        record.counts.update(result.counts)
        if result.error:
            if result.traceback:
                log.info("%s: an unexpected failure in a worker:\n%s", task.path, result.traceback)
            self.errors.setdefault(task.video_key, result.error)
            record.error = result.error
            if not result.decode_error:
                # A crash or an unexpected failure may not happen again: leave the segment
                # unfinished so that the next run retries it.
                self.counts.update(result.counts)
                return record
        if result.pending or result.anchors:
            data = spool.pack(result.anchors, self._capped(task, result.pending))
            dataset.spool_segment(task.video_key, task.start, task.end, data)
        dataset.finish_segment(record)
        return record

    def _capped(
        self, task: SegmentTask, pending: list[heldback.PendingTrack]
    ) -> list[heldback.PendingTrack]:
        """A segment's held-back tracks less its tracks past the window over the cap
        (:class:`faceripper.wide.Cap`); those of the video's earlier segments that they
        push out are taken out of their spools."""
        n_people, tolerance = len(self.config.people), self.settings.tolerance
        cap = self._wide.setdefault(task.video_key, wide.Cap())
        kept, pushed = cap.offer((task.start, task.end), pending, n_people, tolerance)
        for (start, end), names in sorted(pushed.items()):
            path = self.dataset.spool_path(task.video_key, start, end)
            if path.is_file():
                anchors, held = spool.unpack(path.read_bytes())
                held = wide.without(held, names, n_people, tolerance)
                self.dataset.spool_segment(task.video_key, start, end, spool.pack(anchors, held))
        return kept

    def _finish_video(self, key: str) -> None:
        """A video whose segments are all committed: its adaptive step (and the candidate
        faces no sheet would show deleted: :func:`faceripper.unsure.trim`), then its
        thinning."""
        dataset = self.dataset
        self._wide.pop(key, None)
        if self.settings.adapt and key not in dataset.adapted and key not in self._incomplete:
            # Every segment is finished (a broken video's too: its decode errors are
            # final), so a resumed run decides exactly what an uninterrupted one does.
            adapt_video(
                dataset, key, self.config, self.settings, self.learned, self.gallery, self.keep
            )
            folder = unsure.unsure_dir_for(dataset.target)
            people = dataset.unsure.get(key, {})
            unsure.trim(dataset.unsure, self.config, dataset.folders, folder, people)
        if key in self._incomplete:
            return  # thinned when its last segment is done (a damaged one is: final)
        if self.max_per_video and key not in dataset.pruned:
            removed = dataset.prune_video(key, self._frame_counts[key], self.max_per_video)
            self.counts["over_limit"] += removed

    def finish_run(self) -> None:
        """The run's end, once every video is finished: the whole run's gallery lends the
        tracks the videos kept (:mod:`faceripper.lateanchors`), one video at a time, and
        the video's notes count them as kept (:mod:`faceripper.latenotes`)."""
        if self.gallery is None or self._incomplete:
            return  # the next run, which finishes them, revisits the kept tracks
        gallery = self.gallery.anchors(self.learned)
        n_people, dataset = len(self.config.people), self.dataset
        for path in lateanchors.kept_spools(dataset.target):
            video, lent, confident = lateanchors.lend_kept(
                path, gallery, n_people, self.settings.tolerance
            )
            counts: Counter[str] = Counter()
            for track, adoption in lent:
                write_adopted(dataset, video, track, adoption, self.config, self.learned, counts)
            notes = None
            if lent:  # the notes as the video's step would have written them
                folder = unsure.unsure_dir_for(dataset.target)
                entry = dataset.unsure.get(video, {})
                notes = latenotes.relend(
                    entry, video, lent, confident, self.config, dataset.folders, folder
                )
            dataset.finish_late(video, counts, path, notes)


def write_hit(
    dataset: Dataset, video_key: str, hit: FaceHit, config: Config, corrected: str = ""
) -> str:
    """Write one crop and its manifest row; return its person's label."""
    person = config.people[hit.person]
    name = crop_name(Path(video_key).stem, video_id(video_key), hit.frame, hit.face_index)
    top, right, bottom, left = hit.box_trbl
    row = ManifestRow(
        label=person.label,
        person=person.name,
        group=person.group,
        video=video_key,
        frame=hit.frame,
        time_s=hit.time_s,
        top=top,
        right=right,
        bottom=bottom,
        left=left,
        distance=hit.distance,
        sharpness=hit.sharpness,
        status=hit.status,
        track=hit.track,
        encoded=hit.encoded,
        face=hit.face_index,
        corrected=corrected,
        detector=hit.detector,
        yaw=None if hit.pose is None else hit.pose.yaw,
        roll=None if hit.pose is None else hit.pose.roll,
    )
    dataset.write_crop(row, name, hit.jpeg)
    return person.label


def adapt_video(
    dataset: Dataset,
    video_key: str,
    config: Config,
    settings: RipSettings,
    learned: Learned | None = None,
    gallery: runanchors.Gallery | None = None,
    keep: bool = False,
) -> None:
    """The video-adaptive step of one finished video (:mod:`faceripper.adaptive`).

    Reads the spools of its segments twice, one at a time: first their anchors (bounded
    per person) and the summaries of their held-back tracks (a few encodings each, no
    crops), which are decided together (:func:`faceripper.adaptive.decide_video`, and those
    past its window by shared views: :func:`faceripper.wide.decide`); then
    their crops, written segment by segment, so memory holds no crop beyond one
    segment's. With the run's ``gallery`` (``settings.run_anchors``), the anchors of the
    run's earlier videos decide the tracks the video leaves undecided
    (:func:`faceripper.runanchors.lend`), and this video's anchors then join the gallery
    (their faces added go into its journal line); with ``keep``, the tracks still
    undecided that the run's later videos may lend wait in a kept spool for the run's end
    (:mod:`faceripper.lateanchors`). Deterministic: a run killed before
    :meth:`Dataset.finish_adapt` repeats it to the same crops.
    """
    spools = dataset.spools(video_key)
    n_people = len(config.people)
    summaries: list[heldback.PendingTrack] = []
    sizes: list[int] = []

    def anchors_of_spools() -> Iterator[list[heldback.Anchor]]:
        for path in spools:
            anchors, pending = spool.unpack(path.read_bytes(), crops=False)
            pending = [t for t in pending if not t.notes_only]  # never decided
            summaries.extend(pending)
            sizes.append(len(pending))
            yield anchors

    anchors = heldback.merge_anchors(anchors_of_spools())
    decided = wide.decide(
        summaries, anchors, n_people, settings.tolerance, trust_references=settings.trust_references
    )
    added: dict[str, str] = {}
    if gallery is not None:
        earlier = gallery.anchors(learned)
        decided = runanchors.lend(
            summaries, anchors, decided, earlier, n_people, settings.tolerance
        )
        added = runanchors.to_json(gallery.add(anchors))
    keeper = None
    if keep and gallery is not None:
        keeper = lateanchors.Keeper(summaries, anchors, decided, n_people, settings.tolerance)
    counts: Counter[str] = Counter()
    doubts = unsure.VideoUnsure(video_key, config, dataset.folders, anchors)
    start = 0
    for spool_path, size in zip(spools, sizes, strict=True):
        _, pending = spool.unpack(spool_path.read_bytes())
        doubts.add_far([t for t in pending if t.notes_only])  # for the notes only
        pending = [t for t in pending if not t.notes_only]
        decisions = decided[start : start + size]
        for index, (track, decision) in enumerate(zip(pending, decisions, strict=True), start):
            late = keeper is not None and index in keeper.chosen
            if decision.reason != wide.REASON:  # its notes-only record speaks for it
                doubts.add(track, decision, late)
            if keeper is not None:
                keeper.offer(index, track)
            write_adopted(dataset, video_key, track, decision, config, learned, counts)
        start += size
    doubts.write(unsure.unsure_dir_for(dataset.target))
    if keeper is not None:
        keeper.save(dataset.target, video_key)
    dataset.finish_adapt(video_key, counts, doubts.to_json(), added)


def write_adopted(
    dataset: Dataset,
    video_key: str,
    track: heldback.PendingTrack,
    decision: heldback.Adoption,
    config: Config,
    learned: Learned | None,
    counts: Counter[str],
) -> None:
    """Count a held-back track's decision and, when it gives a person, write its crops."""
    counts[f"adapt_{decision.reason.replace(' ', '_')}"] += 1
    if decision.person < 0:
        return
    adopted = SegmentResult(-1, hits=list(heldback.adopted_hits(track, decision)))
    for hit, corrected in judge(learned, video_key, adopted):
        write_hit(dataset, video_key, hit, config, corrected)
        counts["adapted_crops" if track.decided < 0 else "confirmed_crops"] += 1
    counts.update(adopted.counts)
