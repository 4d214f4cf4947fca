"""FaceRipper v1's command lines, accepted unchanged."""

from __future__ import annotations

#: FaceRipper v1's flags: a command line that starts with one of them is a ``rip``.
V1_FLAGS = frozenset(
    {
        "--config",
        "--video-dir",
        "--target-dir",
        "--tolerance",
        "--threads",
        "--jitters",
        "--model",
        "--blur",
        "--save-blurry",
    }
)

_TRUE = {"true", "yes", "1", "on"}

_FALSE = {"false", "no", "0", "off"}


def v1_argv(argv: list[str]) -> list[str]:
    """Accept FaceRipper v1 command lines unchanged.

    v1 had no subcommands (``face_ripper.py --config c.json --video-dir v ...``), so a
    command line starting with a v1 flag is taken as ``rip``; v1 also accepted a value
    after ``--save-blurry`` (``--save-blurry True``), which is mapped to the flag.

    >>> v1_argv(["--config", "c.json", "--save-blurry", "True", "--blur", "80"])
    ['rip', '--config', 'c.json', '--save-blurry', '--blur', '80']
    """
    args = list(argv)
    if args and args[0].split("=", 1)[0] in V1_FLAGS:
        args.insert(0, "rip")
    fixed: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1].lower() if i + 1 < len(args) else ""
        if arg == "--save-blurry" and following in _TRUE | _FALSE:
            fixed.append("--save-blurry" if following in _TRUE else "--no-save-blurry")
            i += 2
            continue
        if arg.startswith("--save-blurry="):
            value = arg.split("=", 1)[1].lower()
            fixed.append("--no-save-blurry" if value in _FALSE else "--save-blurry")
            i += 1
            continue
        fixed.append(arg)
        i += 1
    return fixed
