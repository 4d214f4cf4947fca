"""The exceptions faceripper raises for problems a user can fix.

The library raises these; only the command-line layer turns them into a message on
stderr and an exit code. Each carries a complete one-line message naming the file
and the problem.
"""

from __future__ import annotations


class FaceripperError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code: int = 2


class ConfigError(FaceripperError):
    """The config file, or a reference folder it names, is unusable.

    ``problems`` holds every problem found, one line each, so that all of them can be
    reported at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ModelsNotFoundError(FaceripperError):
    """The dlib model weights (package ``face_recognition_models``) cannot be found."""


class ImageReadError(FaceripperError):
    """An image file cannot be read or decoded."""


class NotAnImageError(ImageReadError):
    """A file read as an image is not one (no image format recognises it)."""


class UsageError(FaceripperError):
    """Options that cannot work together, or a path that cannot be used."""


class ModelFormatError(FaceripperError):
    """A model file is not the network faceripper expects (truncated, another model)."""


class EngineUnavailableError(FaceripperError):
    """The requested inference engine or device is not installed or not usable here."""
