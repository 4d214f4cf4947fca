"""A first run on a fresh machine: build a short video, rip it, look at the result.

Everything comes from PyPI packages: the portrait is NASA's public-domain photo of
astronaut Eileen Collins that scikit-image ships (``skimage.data.astronaut()``). The
reference photo is the portrait itself; the video shows her mirrored, moving and zooming
across a textured background, so the faces in the video are not copies of the reference.

    python -m pip install ".[demo]"
    python examples/demo.py            # writes ./faceripper-demo/

Then look at ``faceripper-demo/faces/eileen_collins/`` and its ``manifest.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def build_inputs(folder: Path) -> tuple[Path, Path]:
    """Write ``refs/eileen_collins/astronaut.png`` and ``videos/demo.avi``; return both folders."""
    from PIL import Image
    from skimage import data

    from faceripper.testing import PlacedFace, Shot, load_face_sources, render_video

    portrait = data.astronaut()  # RGB uint8 (512, 512, 3)
    refs = folder / "refs" / "eileen_collins"
    refs.mkdir(parents=True, exist_ok=True)
    Image.fromarray(portrait).save(refs / "astronaut.png")

    mirrored = folder / "work" / "astronaut-mirrored.png"
    mirrored.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(portrait[:, ::-1])).save(mirrored)
    (face,) = load_face_sources([mirrored], identity="eileen_collins")

    shots = [
        Shot(45, (PlacedFace(face, (200, 190), (440, 170), 110, 140),), texture_seed=1),
        Shot(45, (PlacedFace(face, (420, 180), (300, 200), 150, 120, blur=0.05),), texture_seed=2),
    ]
    videos = folder / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    render_video(videos / "demo.avi", shots, frame_size=(640, 360), fps=30.0)
    (videos / "demo.avi.truth.csv").unlink(missing_ok=True)  # keep only the video
    return folder / "refs", videos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="faceripper-demo", type=Path)
    args = parser.parse_args()
    refs, videos = build_inputs(args.folder)
    target = args.folder / "faces"
    import faceripper
    from faceripper.errors import FaceripperError

    print(f"faceripper.rip({str(target)!r}, refs={str(refs)!r}, video_dir={str(videos)!r})")
    try:
        summary = faceripper.rip(target, refs=refs, video_dir=videos, warn=print)
    except FaceripperError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    saved = sorted((target / "eileen_collins").glob("*.jpg"))
    print(f"{summary.saved['eileen_collins']} crops saved in {summary.seconds:.1f} s")
    print(f"{len(saved)} crops in {target / 'eileen_collins'}; manifest: {target / 'manifest.csv'}")
    return 0 if saved and summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
