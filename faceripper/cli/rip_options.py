"""The options of ``rip`` that no other command has, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceripper.cli.common import Detector


def _default_blur(name: str = "DEFAULT_BLUR_THRESHOLD") -> str:
    from faceripper import blur

    return f"{getattr(blur, name):g}"


TargetDirOption = Annotated[
    Path,
    typer.Option(
        "--target-dir",
        help="Dataset folder: one subfolder of face crops per label.",
        file_okay=False,
    ),
]

VideoDirOption = Annotated[
    Path | None,
    typer.Option("--video-dir", help="Folder searched recursively for videos.", file_okay=False),
]

VideosOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--video",
        help="A video file to process (repeatable).",
        dir_okay=False,
        metavar="FILE",
    ),
]

RipToleranceOption = Annotated[
    float,
    typer.Option(
        "--tolerance",
        "-t",
        min=0.0,
        max=2.0,
        help="Euclidean distance to a person's nearest reference encoding within which "
        "a face counts as theirs. With --tracks a face track is theirs when its frames "
        "within it vote for them (votes for anyone else at most a tenth of theirs) and "
        "its median distance is within it + 0.1 (single crops may lie farther); with "
        "--no-tracks each face must be within it.",
    ),
]

RipJittersOption = Annotated[
    int,
    typer.Option(
        "--jitters",
        min=0,
        help="Times to re-sample each reference face when encoding the references "
        "(0 and 1 both mean once).",
    ),
]

RipModelOption = Annotated[
    Detector,
    typer.Option(
        "--model",
        help="Face detector for the video frames: hog (fast on CPU) or cnn (dlib's CNN: "
        "also turned faces; runs on --engine, about 5x hog's cost on a CPU). "
        "Reference photos are always located with hog.",
    ),
]

BlurOption = Annotated[
    float | None,
    typer.Option(
        "--blur",
        min=0.0,
        help="Sharpness threshold: faces scoring below it are blurry and skipped "
        "(size-normalised variance of the Laplacian; see docs/blur.md). 0 disables. "
        "[default: " + _default_blur() + "]",
    ),
]

BlurFloorOption = Annotated[
    float | None,
    typer.Option(
        "--blur-floor",
        min=0.0,
        help="A face under --blur but not under this floor is kept when its track shows "
        "that it is as sharp as that face gets (within a factor of the track's sharp "
        "faces; see docs/blur.md). Set it to --blur's value for the fixed threshold alone; "
        "not set, it is two thirds of --blur. [default: "
        + _default_blur("DEFAULT_BLUR_FLOOR")
        + "]",
    ),
]

SaveBlurryOption = Annotated[
    bool,
    typer.Option(
        "--save-blurry/--no-save-blurry",
        help="Keep blurry faces too, in a separate tree outside the dataset (--blurry-dir).",
    ),
]

BlurryDirOption = Annotated[
    Path | None,
    typer.Option(
        "--blurry-dir",
        help="Where --save-blurry writes (default: TARGET-blurry beside it).",
        file_okay=False,
    ),
]

MinSizeOption = Annotated[
    int, typer.Option("--min-size", min=1, help="Smallest face kept, in pixels (box side).")
]

MarginOption = Annotated[
    float,
    typer.Option(
        "--margin",
        min=0.0,
        max=2.0,
        help="Space around the face in the crop, as a fraction of the face size per side.",
    ),
]

AlignOption = Annotated[
    bool,
    typer.Option(
        "--align/--no-align",
        help="Rotate crops so that the eyes are level (5-point landmarks); --no-align "
        "keeps plain box crops. The manifest box is the detected box either way.",
    ),
]

SizeOption = Annotated[
    int,
    typer.Option(
        "--size",
        min=0,
        max=4096,
        help="Side of the square crops in pixels, at most 4096 (0: the frame's pixels, "
        "plain crops only).",
    ),
]

TracksOption = Annotated[
    bool,
    typer.Option(
        "--tracks/--no-tracks",
        help="Follow each face through consecutive frames and decide its identity from "
        "all its encoded frames (fewer encodings, steadier labels); --no-tracks "
        "decides every face alone, as FaceRipper v1 did.",
    ),
]

DedupeOption = Annotated[
    bool,
    typer.Option(
        "--dedupe/--no-dedupe",
        help="Skip a crop nearly identical to one of the last 4 kept of the same track.",
    ),
]

TrustReferencesOption = Annotated[
    bool,
    typer.Option(
        "--trust-references/--no-trust-references",
        help="With --adapt, in a video where a person is never matched with confidence, "
        "keep every track "
        "the references decide for them (a look-alike of a person absent from the video "
        "is then saved as them). The default, --no-trust-references, keeps only tracks with "
        "a face within 0.4 of a reference photo and 0.45 of that photo's face alone "
        "(encoded as a tight crop), and the tracks like those.",
    ),
]
AdaptOption = Annotated[
    bool,
    typer.Option(
        "--adapt/--no-adapt",
        help="Decide a face track that the references leave undecided (0.4-0.5 from "
        "them) from the faces of the same video matched with confidence; --no-adapt "
        "decides from the references alone, on their word as --trust-references does "
        "(a look-alike of a person absent from the video is then saved as them).",
    ),
]
RunAnchorsOption = Annotated[
    bool,
    typer.Option(
        "--run-anchors/--no-run-anchors",
        help="With --adapt, the faces of a person matched with confidence in the run's "
        "earlier videos also decide a later video's undecided tracks (at least 2 faces "
        "within 0.3 of them, none within 0.34 of anyone else's); --no-run-anchors "
        "decides each video from its own faces only.",
    ),
]

FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow/--no-follow",
        help="Where HOG loses the face of a person's track (turned, tilted, looking "
        "down), and in the frames before HOG first sees it, search around it with the CNN "
        "detector and save the faces found as followed (manifest column detector); "
        "--no-follow saves HOG's faces only.",
    ),
]

EveryOption = Annotated[
    int,
    typer.Option("--every", min=1, help="Look at every Nth frame only."),
]

FpsOption = Annotated[
    float,
    typer.Option(
        "--fps",
        min=0.0,
        help="Look at about this many frames per second of video (overrides --every).",
    ),
]

DetectEveryOption = Annotated[
    int,
    typer.Option(
        "--detect-every",
        min=1,
        help="Search the whole frame for faces once every N frames (and after every "
        "cut, and while no face is tracked); in between, only around the faces being "
        "tracked, several times faster. A face coming into view elsewhere is found up "
        "to N-1 frames late. 1: search every frame whole (as --model cnn always does).",
    ),
]

LabelFormatOption = Annotated[
    str,
    typer.Option(
        "--label-format",
        help="Class folder names, from the fields {label}, {group} and {person}: "
        "e.g. \"{group}___{label}\" (FaceRipper v1's GROUP___LABEL). The manifest's "
        "label column stays the label.",
        metavar="FORMAT",
    ),
]

RipCacheOption = Annotated[
    Path | None,
    typer.Option("--cache", help="Reference encodings cache (.npz); see 'encode'.", dir_okay=False),
]

RestartOption = Annotated[
    bool,
    typer.Option(
        "--restart",
        help="Forget earlier runs on TARGET and start over: deletes the crops listed in "
        "its manifest (and the manifest and journal); files it did not write stay.",
    ),
]

ReuseOption = Annotated[
    bool,
    typer.Option(
        "--reuse/--no-reuse",
        help="Reuse the face detections and encodings an earlier run of TARGET kept of "
        "the same videos (a --restart after adding a reference photo or changing the "
        "tolerance skips most of the detector and the encoder); --no-reuse computes "
        "afresh and deletes them (.faceripper-memo-* in TARGET) to free the disk.",
    ),
]

MaxPerVideoOption = Annotated[
    int,
    typer.Option(
        "--max-per-video",
        min=0,
        help="Keep at most N crops per person and video: the sharpest, spread over the "
        "video (0: no limit).",
    ),
]

NegativesOption = Annotated[
    Path | None,
    typer.Option(
        "--negatives",
        help="Photos of people who must never be saved (look-alikes, band members): "
        "one subfolder per person, or a folder of photos. A face nearer to them than "
        "to any configured person is dropped and counted.",
        file_okay=False,
    ),
]

SegmentFramesOption = Annotated[
    int,
    typer.Option(
        "--segment-frames",
        min=10,
        help="Frames per unit of work handed to a worker (smaller: finer resume and "
        "load balancing; larger: less overhead). The crops do not depend on it.",
    ),
]

SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Run the work on a Dask cluster: its scheduler's address, tcp://HOST:8786 "
        "(trusted private network only) or tls://HOST:8786. Needs faceripper[distributed]; "
        "see docs/distributed.md. With it, --threads sets the work units run at once "
        "(default: the cluster's worker processes).",
        metavar="ADDRESS",
    ),
]

SchedulerTimeoutOption = Annotated[
    float,
    typer.Option(
        "--scheduler-timeout",
        min=0.1,
        help="Seconds to wait for the scheduler to answer.",
        metavar="S",
    ),
]

TlsCaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca-file",
        help="TLS: the CA certificate (PEM) that signed the cluster's certificates.",
        dir_okay=False,
    ),
]

TlsCertOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert",
        help="TLS: this client's certificate (PEM), signed by that CA.",
        dir_okay=False,
    ),
]

TlsKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-key",
        help="TLS: this client's private key (PEM), unless it is in the --tls-cert file.",
        dir_okay=False,
    ),
]
