"""Record face_recognition's face locations and encodings of a few test photos.

tests/test_encoder.py checks that faceripper's detector and encoder give exactly the
numbers face_recognition gives. face_recognition is not a faceripper dependency (its
models package imports pkg_resources, which setuptools 81 removed), so its numbers are
recorded once, by this script, into ``face_recognition_reference.json`` beside it.

Run it with a separate virtual environment holding face_recognition::

    python3 -m venv /tmp/vfr
    /tmp/vfr/bin/pip install dlib-bin "setuptools<81" face_recognition_models pillow numpy
    /tmp/vfr/bin/pip install --no-deps face_recognition==1.3.0
    /tmp/vfr/bin/python tests/data/make_reference_encodings.py /work/shared/testdata

For each photo it records the file's SHA-256 and the results of exactly these calls::

    img = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(img)   # HOG, upsampled once
    face_recognition.face_encodings(img, locations, num_jitters=1, model="small")
    face_recognition.face_encodings(img, locations, num_jitters=1, model="large")

Floats are written by ``json`` with ``float.__repr__``, the shortest text that reads
back as the same float, so the stored encodings round-trip bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

#: Photos (relative to the test data folder) and why each is here.
PHOTOS = {
    "face_recognition/obama3.jpg": "JPEG, RGB, one face",
    "face_recognition/lin-manuel-miranda.png": "PNG with an alpha channel (RGBA)",
    "face-api.js/amy/amy1.png": "grayscale PNG (mode L), a tight 150 px crop",
    "face_recognition/knn_examples/test/obama_and_biden.jpg": "several faces",
}

CALLS = [
    "img = face_recognition.load_image_file(path)",
    "locations = face_recognition.face_locations(img)",
    'face_recognition.face_encodings(img, locations, num_jitters=1, model="small")',
    'face_recognition.face_encodings(img, locations, num_jitters=1, model="large")',
]

OUTPUT = Path(__file__).resolve().parent / "face_recognition_reference.json"


def record(testdata: Path) -> dict[str, object]:
    """Run face_recognition over :data:`PHOTOS` and return the JSON document."""
    import dlib
    import face_recognition

    photos = []
    for relative, why in PHOTOS.items():
        path = testdata / relative
        img = face_recognition.load_image_file(path)
        locations = face_recognition.face_locations(img)
        small = face_recognition.face_encodings(img, locations, num_jitters=1, model="small")
        large = face_recognition.face_encodings(img, locations, num_jitters=1, model="large")
        photos.append(
            {
                "file": relative,
                "why": why,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "shape": list(img.shape),
                "locations": [[int(v) for v in box] for box in locations],
                "encodings_small": [[float(v) for v in e] for e in small],
                "encodings_large": [[float(v) for v in e] for e in large],
            }
        )
        print(f"{relative}: {len(locations)} face(s)", file=sys.stderr)
    return {
        "generator": "tests/data/make_reference_encodings.py",
        "versions": {
            "face_recognition": version("face_recognition"),
            "face_recognition.__version__": face_recognition.__version__,
            "dlib": dlib.__version__,
            "dlib-bin": version("dlib-bin"),
            "face_recognition_models": version("face_recognition_models"),
            "numpy": version("numpy"),
            "pillow": version("pillow"),
            "python": platform.python_version(),
        },
        "calls": CALLS,
        "photos": photos,
    }


def main() -> None:
    """Entry point: ``make_reference_encodings.py TESTDATA_DIR``."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} TESTDATA_DIR")
    document = record(Path(sys.argv[1]))
    OUTPUT.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
