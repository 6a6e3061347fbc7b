"""Errors a user can act on. Scripts print their message on one line and exit non-zero."""

import contextlib
from collections.abc import Iterator


class UserError(Exception):
    """Base class: the message alone tells the user what is wrong and how to fix it."""


class DataError(UserError, ValueError):
    """Input data is missing or malformed; the message names the file and the problem."""


class ConfigError(UserError, ValueError):
    """A config value is out of range, or conflicts with the run already in the workdir."""


class WorkdirBusy(UserError):
    """Another run holds the workdir's lock; the message names it."""


class CheckpointError(UserError):
    """A requested checkpoint does not exist or cannot be restored."""


class DiskFull(UserError, OSError):
    """The workdir's file system ran out of space; complete checkpoints are kept."""


class NonFiniteError(UserError, FloatingPointError):
    """A loss became NaN or infinite; the last good checkpoint is left intact."""


class Interrupted(UserError):
    """SIGTERM or SIGINT stopped training after a checkpoint; rerun the command to resume."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop's handling: a BaseException, like Ctrl-C's, so no
    `except Exception` takes it for a failure of what it interrupted."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


# How a full disk reads in an error's text where it is no OSError (tensorstore, orbax's writer,
# words ENOSPC in a ValueError about its internal files).
NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded")


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Gives an OSError raised while writing `path` that file's name, when it has none (a write
    to a full disk raises ENOSPC without one; the one-line error then says which file)."""
    try:
        yield
    except OSError as e:
        if e.filename is not None or e.errno is None:
            raise
        raise type(e)(e.errno, e.strerror, path) from e
