"""Video handling on real encoded files: frame ranges, timestamps, rotation, size, folders.

Every video here is written by the test with PyAV and libx264 into pytest's tmp_path.
Frames that must be told apart carry their index as a pattern of black and white
16-pixel blocks (one macroblock each, so it survives compression): row 0 holds the bits,
row 1 their inverse, so a decoded frame proves which frame it is.
"""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from faceripper.video import (
    RESET_FRAMES,
    VideoError,
    VideoScan,
    find_videos,
    iter_frames,
    plan_segments,
    reach,
    scan_video,
)

from conftest import run_cli

av = pytest.importorskip("av")

BLOCK = 16
BITS = 8

posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="needs POSIX symbolic links and resource"
)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def index_frame(index: int, size: tuple[int, int] = (160, 96)) -> np.ndarray:
    """An RGB frame ``(h, w, 3)`` whose top-left blocks spell ``index`` in binary."""
    width, height = size
    image = np.full((height, width, 3), 128, np.uint8)
    for bit in range(BITS):
        on = (index >> bit) & 1
        x = bit * BLOCK
        image[0:BLOCK, x : x + BLOCK] = 255 if on else 0
        image[BLOCK : 2 * BLOCK, x : x + BLOCK] = 0 if on else 255
    return image


def read_index(image: np.ndarray) -> int:
    """The index a frame made by :func:`index_frame` spells; fails on an unclear block."""
    value = 0
    for bit in range(BITS):
        x = bit * BLOCK
        top = image[4 : BLOCK - 4, x + 4 : x + BLOCK - 4].mean()
        bottom = image[BLOCK + 4 : 2 * BLOCK - 4, x + 4 : x + BLOCK - 4].mean()
        assert abs(top - bottom) > 150, f"bit {bit} unreadable ({top:.0f} vs {bottom:.0f})"
        value |= int(top > bottom) << bit
    return value


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    pts: Sequence[int] | None = None,
    time_base: Fraction = Fraction(1, 25),
    options: dict[str, str] | None = None,
    rotation: int | None = None,
    container_options: dict[str, str] | None = None,
) -> None:
    """Encode RGB frames with libx264; ``pts`` in ``time_base`` units (default 0, 1, 2...)."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream("libx264", rate=Fraction(1) / time_base)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        stream.options = {"preset": "ultrafast", **(options or {})}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def packet_pts(path: Path) -> list[int]:
    """Presentation timestamps of the video packets in file (decode) order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [p.pts for p in container.demux(stream) if p.size]


def decode(path: Path, scan: VideoScan, start: int, end: int) -> list:
    """What a worker decodes for ``[start, end)``: through the window, as rip does."""
    return list(iter_frames(path, scan.window(start, end), start, end))


def scan_of(n: int, keyframes: Sequence[int], timestamps: bool = True) -> VideoScan:
    """A hand-made scan of ``n`` frames at 25 fps."""
    return VideoScan(
        tuple(range(0, 2 * n, 2)) if timestamps else (),
        tuple(keyframes),
        n,
        Fraction(1, 50),
        25.0,
        64,
        48,
        0,
    )


# --------------------------------------------------------------------------------------
# 1. plan_segments
# --------------------------------------------------------------------------------------

PLANS = [
    pytest.param(scan_of(50, [0]), 100, [(0, 50)], id="short-video-one-segment"),
    pytest.param(scan_of(100, [0, 60]), 100, [(0, 100)], id="exactly-one-segment"),
    pytest.param(
        scan_of(600, range(0, 600, 60)),
        100,
        [(0, 120), (120, 240), (240, 300), (300, 420), (420, 540), (540, 600)],
        id="keyframes-every-60-in-blocks-of-300",
    ),
    pytest.param(
        scan_of(1000, [0]),
        300,
        [(0, 300), (300, 600), (600, 1000)],
        id="whole-blocks-no-short-last",
    ),
    pytest.param(
        scan_of(1000, [0, 500]),
        200,
        [(0, 150), (150, 300), (300, 500), (500, 600), (600, 750), (750, 900), (900, 1000)],
        id="sparse-keyframes-blocks-split-evenly",
    ),
    pytest.param(
        scan_of(230, [0, 100, 200]),
        100,
        [(0, 100), (100, 230)],
        id="no-tiny-last-segment",
    ),
    pytest.param(scan_of(5000, [0], timestamps=False), 100, [(0, 5000)], id="no-timestamps"),
]


@pytest.mark.parametrize(("scan", "size", "expected"), PLANS)
def test_plan_segments(scan, size, expected):
    assert plan_segments(scan, size) == expected


SHORT_PLANS = [
    pytest.param(
        scan_of(600, [0, 75, 123, 179, 257, 322, 402, 483, 565]),
        [(0, 75), (75, 179), (179, 239), (239, 300), (300, 402), (402, 483), (483, 600)],
        id="20s-at-its-keyframes-and-blocks",
    ),
    pytest.param(scan_of(100, [0, 50]), [(0, 100)], id="too-short-to-split"),
    pytest.param(scan_of(240, [0]), [(0, 60), (60, 120), (120, 180), (180, 240)], id="no-keys"),
    pytest.param(
        scan_of(9000, range(0, 9000, 250)),
        [(k, k + 300) for k in range(0, 9000, 300)],
        id="long-video-in-blocks",
    ),
]


@pytest.mark.parametrize(("scan", "expected"), SHORT_PLANS)
def test_short_videos_are_cut_finer(scan, expected):
    assert plan_segments(scan, 300, min_segments=8) == expected
    assert all(end - start >= 60 for start, end in expected)


def test_long_videos_keep_their_plan():
    scan = scan_of(9000, range(0, 9000, 250))
    assert plan_segments(scan, 300, min_segments=8) == plan_segments(scan, 300)


def test_min_segments_never_goes_below_segment_frames_asked_for():
    scan = scan_of(200, range(0, 200, 10))
    assert plan_segments(scan, 20, min_segments=8) == plan_segments(scan, 20)


@pytest.mark.parametrize(
    ("n", "keyframes", "size"),
    [
        (1, [0], 300),
        (301, [0], 300),
        (7919, range(0, 7919, 250), 300),
        (7919, range(0, 7919, 13), 300),
        (1000, [0, 1, 2, 998, 999], 10),
        (12345, [0, 4000, 4001, 9000], 77),
        (999, range(0, 999, 7), 10),
    ],
)
def test_segments_cover_every_frame_once(n, keyframes, size):
    scan = scan_of(n, keyframes)
    segments = plan_segments(scan, size)
    assert segments[0][0] == 0 and segments[-1][1] == n
    for (_, end), (start, _) in itertools.pairwise(segments):
        assert end == start  # contiguous, no overlap
    assert all(end > start for start, end in segments)
    assert all(end - start <= 2 * size for start, end in segments)
    keys = set(keyframes) | set(range(0, n, RESET_FRAMES))
    if len(keys) * size >= n:  # dense keyframes: a segment starts on one (or a block) or soon after
        assert all(any(0 <= start - k < size for k in keys) for start, _ in segments)
    if size >= RESET_FRAMES:  # whole blocks: a worker never goes past its end
        assert all(reach(end, n, RESET_FRAMES) == end for _, end in segments)


@pytest.mark.parametrize("size", [300, 600, 900])
@pytest.mark.parametrize("every", [1, 3])
def test_large_segments_are_whole_blocks(size, every):
    block = RESET_FRAMES * every
    scan = scan_of(10_000, range(0, 10_000, 250))
    segments = plan_segments(scan, size * every, block_frames=block)
    assert all(start % block == 0 for start, _ in segments)
    assert all(end - start == block * (size // RESET_FRAMES) for start, end in segments[:-1])


def test_reach_is_the_next_block_or_the_end():
    assert [reach(end, 1000, 300) for end in (1, 299, 300, 301, 900, 901, 1000)] == [
        300,
        300,
        300,
        600,
        900,
        1000,
        1000,
    ]


# --------------------------------------------------------------------------------------
# 2. Exact frame ranges across keyframes and B-frames
# --------------------------------------------------------------------------------------

N_FRAMES = 200
GOP = 50


@pytest.fixture(scope="module", params=["mp4", "mkv", "ts"])
def indexed_clip(request, tmp_path_factory) -> tuple[Path, VideoScan]:
    path = tmp_path_factory.mktemp("indexed") / f"indexed.{request.param}"
    write_video(
        path,
        (index_frame(i) for i in range(N_FRAMES)),
        options={"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "3"},
    )
    return path, scan_video(path)


def test_indexed_clip_has_keyframes_and_reordered_frames(indexed_clip):
    path, scan = indexed_clip
    assert scan.frame_count == N_FRAMES
    assert scan.keyframes == (0, 50, 100, 150)
    assert scan.seekable and (scan.width, scan.height) == (160, 96)
    order = packet_pts(path)
    assert order != sorted(order), "no B-frames: decode order equals presentation order"


def test_every_segment_decodes_exactly_its_frames(indexed_clip):
    path, scan = indexed_clip
    segments = plan_segments(scan, 40)
    assert len(segments) >= 4
    seen = []
    for start, end in segments:
        frames = decode(path, scan, start, end)
        assert [f.index for f in frames] == list(range(start, end)), (start, end)
        assert [read_index(f.rgb()) for f in frames] == list(range(start, end)), (start, end)
        assert [f.time_s for f in frames] == pytest.approx([i / 25 for i in range(start, end)])
        seen += [f.index for f in frames]
    assert seen == list(range(N_FRAMES))


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (1, 2), (49, 51), (50, 51), (73, 74), (77, 133), (149, 150), (151, 199),
     (199, 200), (0, 200), (123, 124)],
)  # fmt: skip
def test_odd_ranges_decode_exactly(indexed_clip, start, end):
    path, scan = indexed_clip
    frames = decode(path, scan, start, end)
    assert [f.index for f in frames] == list(range(start, end))
    assert [read_index(f.rgb()) for f in frames] == list(range(start, end))


def test_a_segment_decodes_only_from_its_keyframe_to_its_end(indexed_clip, monkeypatch):
    """No segment decodes the rest of the video after its last frame."""
    import faceripper.video

    path, scan = indexed_clip
    decoded = [0]
    real_open = faceripper.video._open

    class Counting:
        def __init__(self, container):
            self._container = container

        def __getattr__(self, name):
            return getattr(self._container, name)

        def demux(self, *args, **kwargs):
            for packet in self._container.demux(*args, **kwargs):
                decoded[0] += packet.size > 0  # every packet read is decoded
                yield packet

    monkeypatch.setattr(faceripper.video, "_open", lambda p: Counting(real_open(p)))
    for start, end in plan_segments(scan, 40):
        decoded[0] = 0
        assert len(decode(path, scan, start, end)) == end - start
        key = max(k for k in scan.keyframes if k <= start)
        # From the keyframe, plus the decoder's reorder delay; where a container's seek
        # lands past the keyframe (MPEG-TS seeks by decoding time), from the beginning.
        limit = end - key + 4 if path.suffix != ".ts" else end + 4
        assert end - start <= decoded[0] <= limit, (start, end, decoded[0])


def test_full_scan_without_window_decodes_the_same(indexed_clip):
    path, scan = indexed_clip
    frames = list(iter_frames(path, scan, 120, 130))
    assert [read_index(f.rgb()) for f in frames] == list(range(120, 130))


# --------------------------------------------------------------------------------------
# 3. Variable frame rate
# --------------------------------------------------------------------------------------

VFR_MS = [0, 33, 100, 110, 250, 400, 1000, 1010, 1500, 1533, 1566, 2000, 2001, 2500]


@pytest.mark.parametrize("suffix", ["mp4", "mkv"])
def test_variable_frame_rate_times_are_exact(tmp_path, suffix):
    path = tmp_path / f"vfr.{suffix}"
    write_video(
        path,
        (index_frame(i) for i in range(len(VFR_MS))),
        pts=VFR_MS,
        time_base=Fraction(1, 1000),
        options={"g": "4", "bf": "2", "sc_threshold": "0"},
    )
    order = packet_pts(path)
    assert order != sorted(order)  # B-frames: decode order is not presentation order
    scan = scan_video(path)
    assert scan.frame_count == len(VFR_MS) and scan.seekable
    assert len(scan.keyframes) > 1
    expected = [ms / 1000 for ms in VFR_MS]
    assert [scan.time_s(i) for i in range(scan.frame_count)] == pytest.approx(expected, abs=1e-9)
    frames = decode(path, scan, 0, scan.frame_count)
    assert [f.index for f in frames] == list(range(len(VFR_MS)))
    assert [read_index(f.rgb()) for f in frames] == list(range(len(VFR_MS)))
    assert [f.time_s for f in frames] == pytest.approx(expected, abs=1e-9)
    for start in range(scan.frame_count):  # every single frame, through a window
        (frame,) = decode(path, scan, start, start + 1)
        assert frame.index == start == read_index(frame.rgb())
        assert frame.time_s == pytest.approx(expected[start], abs=1e-9)


def test_stream_starting_on_a_non_keyframe(tmp_path):
    """A recording cut mid-GOP (a .ts capture): the first frames are not keyframes.

    Every segment, the first included, must still get its true indices and times.
    """
    time_base = Fraction(1, 1000)
    times = [0]
    for i in range(1, 40):
        times.append(times[-1] + (20 if i % 3 else 70))  # variable frame rate
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = 160, 96
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = time_base
    encoder.options = {"preset": "ultrafast", "g": "10", "bf": "0", "sc_threshold": "0"}
    packets = []
    for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(index_frame(i), format="rgb24")
        frame.pts, frame.time_base = t, time_base
        packets += encoder.encode(frame)
    packets += encoder.encode()
    cut = 4  # drop frames 0-3: the file starts on P-frames 4-9, then a keyframe at 10
    assert packets[cut].pts == times[cut] and not packets[cut].is_keyframe
    path = tmp_path / "cut.ts"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=50)
        stream.width, stream.height = 160, 96
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.extradata = encoder.extradata
        for packet in packets[cut:]:
            packet.stream = stream
            container.mux(packet)
    shown = times[cut:]
    scan = scan_video(path)
    assert scan.frame_count == len(shown)
    first_key = 10 - cut
    assert first_key in scan.keyframes
    expected = [(t - shown[0]) / 1000 for t in shown]
    assert [scan.time_s(i) for i in range(scan.frame_count)] == pytest.approx(expected)
    ranges = plan_segments(scan, 5) + [(i, i + 1) for i in range(scan.frame_count)]
    for start, end in ranges:
        window = scan.window(start, end)
        assert window.seekable and window.first_index <= start, (start, end, window)
        frames = decode(path, scan, start, end)
        indices = [f.index for f in frames]
        # Frames before the first keyframe may be dropped by a decoder; the rest may not.
        assert indices == sorted(set(indices)) and set(indices) <= set(range(start, end))
        assert set(range(max(start, first_key), end)) <= set(indices), (start, end, indices)
        for f in frames:
            assert f.time_s == pytest.approx(expected[f.index]), (start, end, f.index)
            if f.index >= first_key:
                assert read_index(f.rgb()) == f.index + cut


# --------------------------------------------------------------------------------------
# 4. Display rotation (phone video)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upright_face(testdata: Path) -> np.ndarray:
    """A 192x320 (w x h) portrait frame holding one upright Obama face of about 100 px."""
    import cv2

    from faceripper.images import load_rgb

    photo = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "train" / "obama" / "obama2.jpg"
    )
    face = cv2.resize(photo[200:720, 60:580], (170, 170), interpolation=cv2.INTER_AREA)
    frame = np.full((320, 192, 3), 90, np.uint8)
    frame[70:240, 11:181] = face
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_display_rotation_gives_upright_frames(tmp_path, upright_face, rotation):
    from faceripper.detector import detect_faces

    # The display rotation is counter-clockwise (FFmpeg's display matrix, as ffmpeg's
    # autorotate applies it): stored frames are the upright image turned the other way.
    stored = np.ascontiguousarray(np.rot90(upright_face, k=-rotation // 90))
    path = tmp_path / f"phone{rotation}.mp4"
    write_video(path, [stored] * 3, rotation=rotation)
    scan = scan_video(path)
    assert (scan.height, scan.width) == stored.shape[:2]
    assert scan.rotation % 360 == rotation % 360
    frames = decode(path, scan, 1, 3)
    assert [f.index for f in frames] == [1, 2]
    for frame in frames:
        image = frame.rgb()
        assert image.shape == upright_face.shape and image.flags.c_contiguous
        assert np.abs(image.astype(int) - upright_face).mean() < 6
        assert len(detect_faces(image)) == 1
        raw = dataclasses.replace(frame, rotation=0).rgb()  # as stored, not rotated
        assert raw.shape == stored.shape
        assert len(detect_faces(raw)) == 0


# --------------------------------------------------------------------------------------
# 5. 8K video through rip, with its peak memory
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def obama_refs(testdata: Path, tmp_path_factory) -> dict[str, Path]:
    """refs/obama/ with one reference photo (obama3.jpg, shrunk), and an encodings cache."""
    import cv2

    from faceripper.images import load_rgb

    base = tmp_path_factory.mktemp("obama")
    folder = base / "refs" / "obama"
    folder.mkdir(parents=True)
    photo = load_rgb(testdata / "face_recognition" / "obama3.jpg")
    small = cv2.resize(photo, (574, 933), interpolation=cv2.INTER_AREA)  # face ~125 px
    cv2.imwrite(str(folder / "obama3.jpg"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return {"refs": base / "refs", "cache": base / "refs.npz"}


def rip_cli_args(refs: dict[str, Path], videos: Path, target: Path, *extra: str) -> list[str]:
    return [
        "rip",
        "--refs",
        str(refs["refs"]),
        "--video-dir",
        str(videos),
        "--target-dir",
        str(target),
        "--cache",
        str(refs["cache"]),
        "--tolerance",
        "0.6",
        "--trust-references",  # obama2 is never matched with confidence by obama3
        "--threads",
        "1",
        *extra,
    ]


# Runs the CLI as a child and prints the peak RSS (kB) over it and its workers.
PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.call([sys.executable, "-m", "faceripper", *sys.argv[1:]])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


@pytest.mark.slow
@posix_only
def test_8k_video_is_ripped_in_bounded_memory(testdata, obama_refs, tmp_path):
    import cv2

    from faceripper.images import load_rgb
    from faceripper.writer import read_manifest

    photo = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "train" / "obama" / "obama.jpg"
    )
    photo = cv2.resize(photo, (910 * 2, 1137 * 2), interpolation=cv2.INTER_CUBIC)  # face ~520 px
    frame = np.full((4320, 7680, 3), 70, np.uint8)
    top, left = 1200, 4500
    frame[top : top + photo.shape[0], left : left + photo.shape[1]] = photo
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "uhd8k.mp4", [frame, frame])
    del frame, photo
    target = tmp_path / "faces"
    args = rip_cli_args(
        obama_refs,
        videos,
        target,
        "--min-size",
        "400",
        "--blur",
        "0",
        "--no-dedupe",
        "--no-align",
        "--size",
        "0",
    )
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, timeout=300
    )
    seconds = time.monotonic() - started
    peak_kb, code = (int(v) for v in run.stdout.split()[-2:])
    print(f"8K rip: {seconds:.1f} s, peak RSS {peak_kb / 1024:.0f} MiB")
    assert code == 0, run.stderr
    rows = read_manifest(target / "manifest.csv")
    assert [(r["frame"], r["label"]) for r in rows] == [("0", "obama"), ("1", "obama")]
    for row in rows:
        crop = cv2.imread(str(target / row["path"]))
        assert crop is not None and min(crop.shape[:2]) >= 500
        assert 1200 < int(row["top"]) < int(row["bottom"]) < 1200 + 2274
        assert 4500 < int(row["left"]) < int(row["right"]) < 4500 + 1820
    assert peak_kb < 2.5 * 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MiB"


# --------------------------------------------------------------------------------------
# 6. Symbolic link loop in the video folder
# --------------------------------------------------------------------------------------


@pytest.mark.slow
@posix_only
def test_symlink_loop_in_the_video_folder(upright_face, obama_refs, tmp_path):
    from faceripper.writer import read_manifest

    videos = tmp_path / "videos"
    (videos / "a").mkdir(parents=True)
    (videos / "a" / "loop").symlink_to(videos, target_is_directory=True)
    write_video(videos / "a" / "clip.mp4", [upright_face] * 2)
    started = time.monotonic()
    found = find_videos(videos)
    assert time.monotonic() - started < 5
    assert found.videos == [videos / "a" / "clip.mp4"]
    assert found.loops_skipped >= 1 and found.ignored_files == 0
    target = tmp_path / "faces"
    result = run_cli(rip_cli_args(obama_refs, videos, target, "--min-size", "60", "--no-dedupe"))
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    assert [(r["video"], r["frame"]) for r in rows] == [("a/clip.mp4", "0"), ("a/clip.mp4", "1")]


# --------------------------------------------------------------------------------------
# 7. find_videos
# --------------------------------------------------------------------------------------


@posix_only
def test_find_videos_recursive_case_insensitive_hidden_skipped(tmp_path):
    root = tmp_path / "videos"
    files = [
        "zeta.webm",
        "b.mp4",
        "A/CLIP.MP4",
        "A/sub/deep.MkV",
        "A/sub/deeper/x.Mov",
        "A/cover.jpg",
        "notes.txt",
        "mp4",
        ".hidden.mp4",
        ".cache/inside.mp4",
        "A/.thumbs/t.mkv",
    ]
    for name in reversed(files):  # creation order must not matter
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    (root / "folder.mp4").mkdir()  # a folder named like a video is no video
    (root / "broken.mp4").symlink_to(root / "missing.mp4")  # a dangling link neither
    found = find_videos(root)
    assert [p.relative_to(root).as_posix() for p in found.videos] == [
        "A/CLIP.MP4",
        "A/sub/deep.MkV",
        "A/sub/deeper/x.Mov",
        "b.mp4",
        "zeta.webm",
    ]
    assert found.ignored_files == 3  # cover.jpg, notes.txt, mp4
    assert found.problems == [f"{root / 'broken.mp4'}: dangling link, skipped"]  # named
    assert found.loops_skipped == 0
    assert find_videos(root) == found


# --------------------------------------------------------------------------------------
# 8. Broken files
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_mp4s(tmp_path_factory) -> dict[str, Path]:
    """The same 60-frame noisy clip with its index at the end (default) and at the front."""
    base = tmp_path_factory.mktemp("good")
    rng = np.random.default_rng(7)
    frames = []
    for i in range(60):
        frame = index_frame(i)
        frame[2 * BLOCK :] = rng.integers(0, 256, frame[2 * BLOCK :].shape, dtype=np.uint8)
        frames.append(frame)
    paths = {"end": base / "end.mp4", "front": base / "front.mp4"}
    write_video(paths["end"], frames)
    write_video(paths["front"], frames, container_options={"movflags": "faststart"})
    return paths


def test_empty_file_is_a_video_error(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        scan_video(path)


def test_text_file_named_mp4_is_a_video_error(tmp_path):
    path = tmp_path / "text.mp4"
    path.write_text("not a video at all\n" * 100)
    with pytest.raises(VideoError, match=r"text\.mp4: cannot open video"):
        scan_video(path)


def test_truncated_mp4_without_its_index_cannot_be_opened(good_mp4s, tmp_path):
    data = good_mp4s["end"].read_bytes()
    path = tmp_path / "cut_end.mp4"
    path.write_bytes(data[: len(data) // 2])  # the moov index at the end is lost
    with pytest.raises(VideoError, match=r"cut_end\.mp4: cannot open video"):
        scan_video(path)


def test_truncated_mp4_with_its_index_is_read_to_the_cut_and_says_so(good_mp4s, tmp_path):
    source = good_mp4s["front"]
    with av.open(str(source)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, size = packets[30]
    path = tmp_path / "cut_front.mp4"
    path.write_bytes(source.read_bytes()[: pos + size // 2])  # cut inside frame 30
    scan = scan_video(path)  # reads packets only: frames 0-29 (the cut one left out)
    assert scan.frame_count == 30
    assert scan.truncated == (
        f"{path}: ends at 1.2 s of its 2.4 s (truncated?): frames 30-59 missing"
    )
    decoded = [read_index(frame.rgb()) for frame in iter_frames(path, scan, 0, 30)]
    assert decoded == list(range(30))  # every frame before the cut, right
