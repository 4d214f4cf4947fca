r"""Drawing a ground-truth video: frames from :class:`Shot`\ s, the video file and its truth
CSV beside it. Images are RGB uint8 ``(h, w, 3)``; BGR only for OpenCV's writer."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.images import ImageRGB, load_rgb
from faceripper.testing.scenes import (
    CROP_MARGIN,
    FEATHER_INNER,
    FEATHER_OUTER,
    FaceSource,
    FloatBox,
    PlacedFace,
    Shot,
    shot_times,
)
from faceripper.testing.truth import Truth, TruthRow, truth_path


def render_background(shot: Shot, frame_size: tuple[int, int]) -> ImageRGB:
    """The background of a shot: RGB uint8 ``(height, width, 3)``.

    Plain ``background_rgb``, or with ``texture_seed`` a soft colour-noise texture
    (amplitude about 25 levels) plus faint pixel noise, fixed for the whole shot.
    """
    import cv2

    width, height = frame_size
    base = np.empty((height, width, 3), dtype=np.float32)
    base[:] = np.asarray(shot.background_rgb, dtype=np.float32)
    if shot.texture_seed is not None:
        rng = np.random.default_rng(shot.texture_seed)
        coarse = rng.normal(0.0, 25.0, (6, 10, 3)).astype(np.float32)
        base += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        base += rng.normal(0.0, 2.0, (height, width, 3)).astype(np.float32)
    return np.ascontiguousarray(np.clip(np.rint(base), 0, 255).astype(np.uint8))


@dataclass
class _PreparedFace:
    crop: ImageRGB  # the region cut from the photo, RGB
    box_in_crop: tuple[int, int, int, int]


def _prepare(source: FaceSource, image: ImageRGB) -> _PreparedFace:
    height, width = image.shape[:2]
    top, right, bottom, left = source.box
    pad_x = round((right - left) * CROP_MARGIN)
    pad_y = round((bottom - top) * CROP_MARGIN)
    c_top, c_left = max(top - pad_y, 0), max(left - pad_x, 0)
    c_bottom, c_right = min(bottom + pad_y, height), min(right + pad_x, width)
    crop = np.ascontiguousarray(image[c_top:c_bottom, c_left:c_right])
    return _PreparedFace(crop, (top - c_top, right - c_left, bottom - c_top, left - c_left))


def _degrade(
    patch: ImageRGB, face: PlacedFace | None, rng: np.random.Generator | None
) -> npt.NDArray[np.float32]:
    """A resized face patch as ``face``'s camera would give it: JPEG, soft, gain, noise."""
    import cv2

    if face is not None and face.jpeg_quality > 0:
        ok, data = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, face.jpeg_quality])
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:  # the colour order does not matter for a round trip
            patch = np.asarray(decoded, dtype=np.uint8)
    out = patch.astype(np.float32)
    if face is None:
        return out
    if face.soften_px > 0:
        out = np.asarray(
            cv2.GaussianBlur(out, (0, 0), face.soften_px, borderType=cv2.BORDER_REFLECT),
            dtype=np.float32,
        )
    if face.gain != 1.0:
        out *= face.gain
    if face.noise > 0 and rng is not None:
        out += rng.normal(0.0, face.noise, out.shape).astype(np.float32)
    return out


def _paste(
    frame: npt.NDArray[np.float32],
    prepared: _PreparedFace,
    centre_xy: tuple[float, float],
    size: float,
    blur_sigma: float,
    face: PlacedFace | None = None,
    rng: np.random.Generator | None = None,
) -> FloatBox:
    """Paste one face into ``frame`` (float32 RGB, in place); return its exact box.

    ``face``'s camera settings (gain, noise drawn from ``rng``, soften, JPEG) apply.
    """
    import cv2

    crop_h, crop_w = prepared.crop.shape[:2]
    b_top, b_right, b_bottom, b_left = prepared.box_in_crop
    scale = size / max(b_bottom - b_top, 1)
    new_w, new_h = max(1, round(crop_w * scale)), max(1, round(crop_h * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(prepared.crop, (new_w, new_h), interpolation=interpolation)
    patch = _degrade(np.asarray(resized, dtype=np.uint8), face, rng)
    if blur_sigma > 0:
        patch = np.asarray(
            cv2.GaussianBlur(patch, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT),
            dtype=np.float32,
        )
    kx, ky = new_w / crop_w, new_h / crop_h
    f_top, f_bottom = b_top * ky, b_bottom * ky
    f_left, f_right = b_left * kx, b_right * kx
    if face is not None and face.mirror:
        patch = np.ascontiguousarray(patch[:, ::-1])
        f_left, f_right = new_w - f_right, new_w - f_left
    off_x = round(centre_xy[0] - (f_left + f_right) / 2.0)
    off_y = round(centre_xy[1] - (f_top + f_bottom) / 2.0)

    # Elliptic feather: opaque near the face, transparent at the crop's edge.
    xs = (np.arange(new_w, dtype=np.float32) + 0.5 - (f_left + f_right) / 2) / (
        max(f_right - f_left, 1e-3) / 2
    )
    ys = (np.arange(new_h, dtype=np.float32) + 0.5 - (f_top + f_bottom) / 2) / (
        max(f_bottom - f_top, 1e-3) / 2
    )
    radius = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    alpha = np.clip((FEATHER_OUTER - radius) / (FEATHER_OUTER - FEATHER_INNER), 0.0, 1.0)

    frame_h, frame_w = frame.shape[:2]
    y0, x0 = max(off_y, 0), max(off_x, 0)
    y1, x1 = min(off_y + new_h, frame_h), min(off_x + new_w, frame_w)
    if y0 < y1 and x0 < x1:
        sub_patch = patch[y0 - off_y : y1 - off_y, x0 - off_x : x1 - off_x]
        sub_alpha = alpha[y0 - off_y : y1 - off_y, x0 - off_x : x1 - off_x, None]
        region = frame[y0:y1, x0:x1]
        region += (sub_patch - region) * sub_alpha
    return (off_y + f_top, off_x + f_right, off_y + f_bottom, off_x + f_left)


def render_frames(
    scenes: Sequence[Shot], frame_size: tuple[int, int] = (640, 360), fps: float = 30.0
) -> Iterator[tuple[ImageRGB, list[TruthRow]]]:
    """Draw the frames of ``scenes`` one by one, without writing a video.

    Args:
        scenes: the shots, shown one after the other.
        frame_size: ``(width, height)`` in pixels.
        fps: frame rate, for the rows' ``time_s``.

    Yields:
        ``(frame, rows)``: the frame, RGB uint8 ``(height, width, 3)``, and the truth of
        its faces (faces pushed wholly out of the frame have no row).
    """
    width, height = frame_size
    images: dict[Path, ImageRGB] = {}
    frame_index = 0
    appearance = 0
    for shot_index, shot in enumerate(scenes):
        background = render_background(shot, frame_size).astype(np.float32)
        prepared = []
        for face in shot.faces:
            views = []
            for view in face.all_views:
                if view.path not in images:
                    images[view.path] = load_rgb(view.path)
                views.append(_prepare(view, images[view.path]))
            prepared.append(views)
        appearances = list(range(appearance, appearance + len(shot.faces)))
        appearance += len(shot.faces)
        for t in shot_times(shot.n_frames):
            frame = background.copy()
            rows = []
            rng = np.random.default_rng(frame_index)  # pixel noise, the same every render
            for face, views, app in zip(shot.faces, prepared, appearances, strict=True):
                cx, cy, size = face.at(float(t))
                drawn = face
                if face.wobble > 0:
                    jitter = np.random.default_rng((frame_index, app)).normal(0.0, 0.5, 4)
                    jitter = np.clip(jitter, -1.0, 1.0) * face.wobble
                    size *= 1.0 + float(jitter[0])
                    cx += float(jitter[1]) * size
                    cy += float(jitter[2]) * size
                    drawn = replace(face, gain=face.gain * (1.0 + float(jitter[3])))
                sigma = face.blur * size
                first, second, weight = face.view_weights(float(t))
                other = frame.copy() if weight > 0 else None
                box = _paste(frame, views[first], (cx, cy), size, sigma, drawn, rng)
                if other is not None:
                    # A crossfade: the frame as each view alone would leave it, mixed.
                    box_b = _paste(other, views[second], (cx, cy), size, sigma, drawn, rng)
                    frame += (other - frame) * np.float32(weight)
                    if weight >= 0.5:
                        box = box_b
                f_top, f_right, f_bottom, f_left = box
                top, left = max(round(f_top), 0), max(round(f_left), 0)
                bottom, right = min(round(f_bottom), height), min(round(f_right), width)
                if bottom <= top or right <= left:
                    continue
                rows.append(
                    TruthRow(
                        frame=frame_index,
                        time_s=round(frame_index / fps, 6),
                        shot=shot_index,
                        appearance=app,
                        identity=face.source.identity,
                        is_target=face.is_target,
                        top=top,
                        right=right,
                        bottom=bottom,
                        left=left,
                        size_px=round(f_bottom - f_top),
                        blur_sigma_px=round(sigma, 4),
                    )
                )
            image = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
            yield np.ascontiguousarray(image), rows
            frame_index += 1


def open_video_writer(
    path: Path | str, frame_size: tuple[int, int], fps: float = 30.0, quality: int = 95
) -> Any:
    """Open an OpenCV ``VideoWriter`` for ``.avi`` (Motion JPEG) or ``.mp4`` (MPEG-4 part 2).

    ``.avi`` uses OpenCV's own MJPEG encoder (``cv2.CAP_OPENCV_MJPEG``), the only
    backend of opencv-python-headless that honours ``VIDEOWRITER_PROP_QUALITY``; the
    FFmpeg backend ignores it. ``.mp4`` uses FFmpeg's ``mp4v`` at its default bitrate,
    visibly lossier (H.264 ``avc1`` is not available in the wheels).

    Raises:
        ValueError: another extension.
        OSError: the writer cannot be opened.
    """
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".avi":
        writer = cv2.VideoWriter(
            str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"), fps, frame_size
        )
        if writer.isOpened():
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    elif suffix == ".mp4":
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, frame_size)
    else:
        raise ValueError(f"{path}: synthetic videos are .avi (MJPG) or .mp4 (mp4v)")
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open a video writer for it")
    return writer


def render_video(
    path: Path | str,
    scenes: Sequence[Shot],
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    quality: int = 95,
) -> Truth:
    """Render ``scenes`` into a video file and write its truth CSV beside it.

    Args:
        path: the video to write, ``.avi`` (Motion JPEG at ``quality``) or ``.mp4``
            (``mp4v``); see :func:`open_video_writer`.
        scenes: the shots, one after the other.
        frame_size: ``(width, height)`` in pixels.
        fps: frame rate.
        quality: JPEG quality 0-100 of ``.avi`` frames.

    Returns:
        The truth, also written to :func:`truth_path` of ``path``.
    """
    import cv2

    writer = open_video_writer(path, frame_size, fps, quality)
    rows: list[TruthRow] = []
    try:
        for image, frame_rows in render_frames(scenes, frame_size, fps):
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            rows.extend(frame_rows)
    finally:
        writer.release()
    truth = Truth(tuple(rows))
    truth.write_csv(truth_path(path))
    return truth


def write_h264(
    path: Path,
    shots: Sequence[Shot],
    frame_size: tuple[int, int],
    fps: float,
    crf: int = 23,
    preset: str = "fast",
    max_frames: int | None = None,
) -> Truth:
    """Render ``shots`` into an H.264 MP4 (PyAV, libx264, yuv420p) and its truth CSV.

    ``max_frames``: keep only the first this many frames (default: all).
    """
    import av

    partial = path.with_name(path.name + ".partial.mp4")
    rows: list[TruthRow] = []
    container = av.open(str(partial), "w")
    try:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = frame_size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for index, (image, frame_rows) in enumerate(render_frames(shots, frame_size, fps)):
            if max_frames is not None and index >= max_frames:
                break
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            rows.extend(frame_rows)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    partial.replace(path)
    truth = Truth(tuple(rows))
    truth.write_csv(truth_path(path))
    return truth


def write_video(
    path: Path, shots: Sequence[Shot], frame_size: tuple[int, int], fps: float
) -> Truth:
    """Render ``shots`` into ``path``: H.264 for a ``.mp4`` (:func:`write_h264`), MJPG at
    quality 90 otherwise (:func:`faceripper.testing.render.render_video`)."""
    if path.suffix.lower() == ".mp4":
        return write_h264(path, shots, frame_size, fps)
    return render_video(path, shots, frame_size=frame_size, fps=fps, quality=90)


def write_ground_truth(
    out_dir: Path, video_name: str, shots: Sequence[Shot], frame_size: tuple[int, int], fps: float
) -> tuple[Path, Truth, Path, npt.NDArray[np.int64]]:
    """Render ``shots`` into ``out_dir/videos/video_name`` (:func:`write_video`) with its
    truth CSV beside the folder, not in it (``out_dir/<video_name>.truth.csv``, where rip
    does not take it for a video): the video, its truth, the CSV and each shot's first
    frame (one more: the frame count)."""
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    video = videos / video_name
    truth = write_video(video, shots, frame_size, fps)
    truth_csv = out_dir / f"{video_name}.truth.csv"
    truth_path(video).replace(truth_csv)
    return video, truth, truth_csv, np.cumsum([0] + [s.n_frames for s in shots])
