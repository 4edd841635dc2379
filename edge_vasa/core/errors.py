"""The one user-facing error type: the CLI prints it as a single line, never a traceback."""


class EdgeVasaError(Exception):
    """A problem with the user's input or environment, with what to do about it.

    The message is one line: what is wrong, then what to do, e.g.
    ``"no face found in photo.jpg; use a photo with a clearly visible frontal face"``.
    """
