"""The people to extract: config file, reference folders, validation.

The config format is FaceRipper v1's, unchanged: a JSON object keyed by person name::

    {
        "Myoui Mina": {"label": "名井 南", "group": "TWICE (트와이스)", "faces_dir": "faces/mina"}
    }

``label`` names the person's class folder in the dataset, ``group`` is free text kept in
the manifest, ``faces_dir`` is the folder of reference photos, relative to the config
file's folder (absolute paths work too). Other keys are ignored.

Every problem is collected before anything is reported, each as one line naming the
file and the place in the JSON (``$["Myoui Mina"].label``).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError, field_validator

from faceripper.errors import ConfigError, UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.images import is_image_name

DEFAULT_CONFIG = Path("config.json")

_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?$", re.IGNORECASE)
_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name a class folder on Linux, macOS and Windows, or None.

    >>> label_problem("名井 南") is None
    True
    >>> label_problem("a/b")
    "contains '/', which cannot appear in a folder name"
    """
    if not label.strip():
        return "is empty"
    if label in (".", ".."):
        return f"is {label!r}, which is not a folder name"
    for char in label:
        if char in _WINDOWS_FORBIDDEN:
            return f"contains {char!r}, which cannot appear in a folder name"
        if ord(char) < 32 or ord(char) == 127:
            return f"contains the control character {char!r}"
    if label != label.rstrip(" ."):
        return "ends with a space or a dot, which Windows removes from folder names"
    if label != label.lstrip():
        return "starts with a space"
    if label.startswith("."):
        return "starts with '.', which makes a hidden folder that dataset loaders skip or misread"
    if _WINDOWS_RESERVED.match(label):
        return "is a reserved device name on Windows"
    if len(label.encode("utf-8")) > 200:
        return "is longer than 200 bytes"
    return None


def folder_key(label: str) -> str:
    """The form under which two labels name the same folder on a case-insensitive disk."""
    return unicodedata.normalize("NFC", label).casefold()


class PersonEntry(BaseModel):
    """One person as written in the config file."""

    model_config = ConfigDict(extra="ignore")

    label: StrictStr
    group: StrictStr = ""
    faces_dir: StrictStr

    @field_validator("label")
    @classmethod
    def _label_is_folder_name(cls, value: str) -> str:
        problem = label_problem(value)
        if problem:
            raise ValueError(f"label {value!r} {problem}")
        return value

    @field_validator("faces_dir")
    @classmethod
    def _faces_dir_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("faces_dir is empty")
        return value


@dataclass(frozen=True)
class Person:
    """A person to extract, with ``faces_dir`` resolved to an absolute path."""

    name: str
    label: str
    group: str
    faces_dir: Path


@dataclass(frozen=True)
class Config:
    """The validated people, in the order of the file; ``source`` is the file (or folder)."""

    people: tuple[Person, ...]
    source: Path

    def person(self, name: str) -> Person:
        """Return the person called ``name``."""
        for person in self.people:
            if person.name == name:
                return person
        raise KeyError(name)

    def __iter__(self) -> Iterator[Person]:
        return iter(self.people)

    def __len__(self) -> int:
        return len(self.people)


DEFAULT_LABEL_FORMAT = "{label}"
"""``rip --label-format``'s default: each class folder is named after the person's label."""

LABEL_FORMAT_FIELDS = ("label", "group", "person")
"""The fields a label format may use: the person's label, group and name (config key)."""


def _format_fields(label_format: str) -> list[str]:
    """The field names of ``label_format``, in order.

    Raises:
        ConfigError: the format cannot be parsed, uses an unknown field, or uses a
            conversion (``!r``) or a format spec (``:>10``).
    """
    import string

    where = f"--label-format {label_format!r}"
    try:
        parts = list(string.Formatter().parse(label_format))
    except ValueError as exc:
        raise ConfigError([f"{where}: not a valid format ({exc})"]) from None
    known = ", ".join("{" + f + "}" for f in LABEL_FORMAT_FIELDS)
    fields: list[str] = []
    problems: list[str] = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in LABEL_FORMAT_FIELDS:
            problems.append(f"{where}: unknown field {{{name}}} (the fields are {known})")
        elif conversion or spec:
            extra = f"!{conversion}" if conversion else f":{spec}"
            problems.append(f"{where}: {{{name}{extra}}}: write fields plainly, as {{{name}}}")
        else:
            fields.append(name)
    if problems:
        raise ConfigError(problems)
    return fields


def class_folders(config: Config, label_format: str = DEFAULT_LABEL_FORMAT) -> tuple[str, ...]:
    """The class folder name of each of ``config``'s people, in config order.

    ``label_format`` is a ``str.format`` template over the fields ``{label}``,
    ``{group}`` and ``{person}`` (the config key), such as FaceRipper v1's planned
    ``"{group}___{label}"``. A folder name must be a valid folder name on every system
    (:func:`label_problem`), every field the format uses must be non-empty for every
    person (an empty group would give ``___名井 南``), and no two people may get the same
    folder, also on a case-insensitive disk (:func:`folder_key`).

    >>> people = Config((Person("Myoui Mina", "名井 南", "TWICE (트와이스)", Path("m")),), Path())
    >>> class_folders(people, "{group}___{label}")
    ('TWICE (트와이스)___名井 南',)

    Raises:
        ConfigError: with every problem found, one line each, naming the people.
    """
    fields = _format_fields(label_format)
    where = f"--label-format {label_format!r}"
    folders: list[str] = []
    problems: list[str] = []
    seen: dict[str, Person] = {}
    for person in config.people:
        values = {"label": person.label, "group": person.group, "person": person.name}
        empty = [f for f in dict.fromkeys(fields) if not values[f].strip()]
        folder = label_format.format(**values)
        folders.append(folder)
        if empty:
            what = " and ".join(empty)
            problems.append(f"{where}: person {person.name!r} has an empty {what}")
            continue
        problem = label_problem(folder)
        if problem:
            problems.append(
                f"{where}: person {person.name!r} gets the folder name {folder!r}, which {problem}"
            )
            continue
        key = folder_key(folder)
        other = seen.get(key)
        if other is None:
            seen[key] = person
            continue
        first = folders[config.people.index(other)]
        same = "the same folder" if first == folder else "folders that collide"
        problems.append(
            f"{where}: {other.name!r} and {person.name!r} get {same} ({first!r}, {folder!r}); "
            "each person needs a class folder of their own"
        )
    if problems:
        raise ConfigError(problems)
    return tuple(folders)


def list_reference_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Return ``(images, others)``: the files below ``folder``, recursively, sorted.

    Hidden files and folders (names starting with '.') are skipped. ``images`` have an
    image extension (see :data:`faceripper.images.IMAGE_EXTENSIONS`); ``others`` do not.
    """
    images: list[Path] = []
    others: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(root) / name
            (images if is_image_name(path) else others).append(path)
    return images, others


def reference_path(path: Path) -> Path:
    """Where a reference photo is read from: ``path`` resolved (a link to a photo is the
    photo), but a broken symbolic link as itself, absolute, so that its warning names the
    file in the references folder, not the target that is missing."""
    resolved = path.resolve()
    if path.is_symlink() and not resolved.exists():
        return Path(os.path.abspath(path))  # noqa: PTH100 (resolve() follows the link)
    return resolved


def _json_place(name: str, field_path: tuple[Any, ...] = ()) -> str:
    place = "$" + "[" + json.dumps(name, ensure_ascii=False) + "]"
    for part in field_path:
        place += f"[{part}]" if isinstance(part, int) else f".{part}"
    return place


def _pydantic_message(error: Any) -> str:
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if error["type"] == "string_type":
        got = "null" if error["input"] is None else type(error["input"]).__name__
        message = f"must be a string, got {got}"
    elif error["type"] == "missing":
        message = "required field is missing"
    return message


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    duplicates = []
    for key, value in pairs:
        if key in result:
            duplicates.append(key)
        result[key] = value
    if duplicates:
        result["\0duplicates"] = duplicates
    return result


def _check_faces_dir(path: Path, place: str, faces_dir: Path, problems: list[str]) -> None:
    if not faces_dir.exists():
        problems.append(f"{path}: {place}.faces_dir: folder {faces_dir} does not exist")
    elif not faces_dir.is_dir():
        problems.append(f"{path}: {place}.faces_dir: {faces_dir} is not a folder")
    else:
        images, _ = list_reference_files(faces_dir)
        if not images:
            problems.append(f"{path}: {place}.faces_dir: {faces_dir} holds no images")


def _check_unique_labels(path: Path, people: list[Person], problems: list[str]) -> None:
    seen: dict[str, Person] = {}
    for person in people:
        key = folder_key(person.label)
        if key in seen:
            other = seen[key]
            same = "the same label" if other.label == person.label else "labels that collide"
            problems.append(
                f"{path}: {_json_place(person.name)}.label: {person.name!r} and "
                f"{other.name!r} have {same} ({other.label!r}, {person.label!r}); "
                "each person needs a class folder of their own"
            )
        else:
            seen[key] = person


def parse_config(text: str, path: Path, check_folders: bool = True) -> Config:
    """Validate a config file's text; ``path`` names it in messages and anchors ``faces_dir``.

    Raises:
        ConfigError: with every problem found, one line each.
    """
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{path}: expected a JSON object keyed by person name, got {type(data).__name__}"]
        )
    problems: list[str] = []
    for name in data.pop("\0duplicates", []):
        problems.append(f"{path}: {_json_place(name)}: person defined more than once")
    if not data:
        problems.append(f"{path}: no people defined")
    base = path.parent
    people: list[Person] = []
    for name, entry in data.items():
        place = _json_place(name)
        if not name.strip():
            problems.append(f"{path}: {place}: person name is empty")
        if not isinstance(entry, dict):
            problems.append(
                f"{path}: {place}: expected an object with label, group and faces_dir, "
                f"got {type(entry).__name__}"
            )
            continue
        try:
            person = PersonEntry.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                where = _json_place(name, tuple(error["loc"]))
                problems.append(f"{path}: {where}: {_pydantic_message(error)}")
            faces_dir_text = entry.get("faces_dir")
            if check_folders and isinstance(faces_dir_text, str) and faces_dir_text.strip():
                _check_faces_dir(path, place, (base / faces_dir_text).resolve(), problems)
            continue
        faces_dir = (base / person.faces_dir).resolve()
        if check_folders:
            _check_faces_dir(path, place, faces_dir, problems)
        people.append(Person(name, person.label, person.group, faces_dir))
    _check_unique_labels(path, people, problems)
    if problems:
        raise ConfigError(problems)
    return Config(tuple(people), path)


def load_config(path: Path, check_folders: bool = True) -> Config:
    """Read and validate a config file (see :func:`parse_config`)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: config file not found (create one with: faceripper init-config REFS_DIR)"]
        ) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder, expected a JSON config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    return parse_config(text, path, check_folders=check_folders)


def scan_refs_dir(refs_dir: Path) -> tuple[list[tuple[str, Path]], list[Path]]:
    """The person folders of a references folder: ``([(name, folder)], skipped_folders)``.

    One person per subfolder, named after it; subfolders holding no image are skipped.

    Raises:
        UsageError: ``refs_dir`` is missing or not a folder.
    """
    if not refs_dir.is_dir():
        what = "does not exist" if not refs_dir.exists() else "is a file, not a folder"
        raise UsageError(f"{refs_dir}: references folder {what}")
    found: list[tuple[str, Path]] = []
    skipped: list[Path] = []
    for sub in sorted(p for p in refs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images, _ = list_reference_files(sub)
        if images:
            found.append((sub.name, sub))
        else:
            skipped.append(sub)
    return found, skipped


def config_from_refs(refs_dir: Path, group: str = "") -> tuple[Config, list[Path]]:
    """Build a config from a folder of person folders (``--refs DIR``).

    Returns the config and the subfolders skipped for holding no image.

    Raises:
        UsageError: no subfolder holds images.
        ConfigError: a folder name is not usable as a label.
    """
    found, skipped = scan_refs_dir(refs_dir)
    if not found:
        raise UsageError(f"{refs_dir}: no subfolder with images (expected one folder per person)")
    data = {
        name: {"label": name, "group": group, "faces_dir": str(folder.resolve())}
        for name, folder in found
    }
    config = parse_config(json.dumps(data), refs_dir / "(folders)")
    return Config(config.people, refs_dir), skipped


def init_config(
    refs_dir: Path, output: Path, group: str = "", force: bool = False
) -> tuple[Config, list[Path]]:
    """Write a config for every person folder of ``refs_dir`` to ``output``.

    ``faces_dir`` is written relative to the output file's folder. Returns the config as
    loaded back from the written file and the skipped (image-less) subfolders.

    Raises:
        UsageError: ``output`` exists and ``force`` is false, or no subfolder has images.
    """
    found, skipped = scan_refs_dir(refs_dir)
    if output.exists() and not force:
        raise UsageError(f"{output}: already exists; use --force to overwrite it")
    if not found:
        raise UsageError(f"{refs_dir}: no subfolder with images (expected one folder per person)")
    # Absolute, not resolved: a refs folder reached through a symbolic link keeps it.
    out_dir = Path(os.path.abspath(output)).parent  # noqa: PTH100
    data = {}
    for name, folder in found:
        relative = Path(os.path.relpath(os.path.abspath(folder), out_dir)).as_posix()  # noqa: PTH100
        data[name] = {"label": name, "group": group, "faces_dir": relative}
    text = json.dumps(data, ensure_ascii=False, indent=4) + "\n"
    parse_config(text, output)  # refuse to write a config that would not load back
    atomic_write_bytes(output, text.encode("utf-8"))
    return load_config(output), skipped


def negatives_config(folder: Path) -> Config:
    """The people of ``--negatives DIR``: faces that must never be saved.

    A folder of person folders gives one identity per subfolder holding images (like
    ``--refs``); a folder of photos only gives one identity, named after the folder.

    Raises:
        UsageError: the folder is missing or holds no image.
    """
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is a file, not a folder"
        raise UsageError(f"{folder}: negatives folder {what}")  # not the references'
    found, _ = scan_refs_dir(folder)
    if found:
        people = tuple(Person(name, name, "", sub.resolve()) for name, sub in found)
    elif list_reference_files(folder)[0]:
        people = (Person(folder.name, folder.name, "", folder.resolve()),)
    else:
        raise UsageError(f"{folder}: negatives folder holds no images")
    return Config(people, folder)
