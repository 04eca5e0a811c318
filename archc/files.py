"""Reading a file archc did not write (a spec, a run's metrics, an image): its kind and size are
checked before it is opened, since opening a FIFO waits for a writer and /dev/zero or a huge
sparse file would be read before their size is known. Does not import torch."""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = [(stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket")]


class Unreadable(Exception):
    """Why a path cannot be read, with the code of docs/errors.md that says it: E101 (missing),
    E102 (a folder), E103 (the system refuses), E104 (too large) or E115 (not a regular file)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def file_kind(mode: int) -> str:
    """What a path that is not a regular file or a folder is, for a message."""
    return next((kind for test, kind in _KINDS if test(mode)), "a special file")


def checked_size(status: os.stat_result, limit: int, what: str) -> int:
    """The size of a regular file of at most `limit` bytes; `what` names what it should be."""
    if stat.S_ISDIR(status.st_mode):
        raise Unreadable("E102", f"is a folder, not {what}")
    if not stat.S_ISREG(status.st_mode):
        raise Unreadable("E115", f"is {file_kind(status.st_mode)}, not {what}")
    if status.st_size > limit:
        raise Unreadable("E104", too_large(limit))
    return status.st_size


def too_large(limit: int) -> str:
    units = [(2**30, "GiB"), (2**20, "MiB"), (1, "bytes")]
    size = next(f"{limit // unit:,} {name}" for unit, name in units if limit % unit == 0)
    return f"file is larger than {size}"


def file_size(path: str | Path, limit: int, what: str) -> int:
    """The size of the file at `path`, found with os.stat before anything opens it."""
    try:
        return checked_size(os.stat(path), limit, what)
    except FileNotFoundError:
        raise Unreadable("E101", "no such file") from None
    except ValueError:  # a path a spec writes may hold a NUL, which no file's name does
        raise Unreadable("E101", "no such file (a file name holds no NUL character)") from None
    except OSError as e:
        raise Unreadable("E103", f"cannot read: {e.strerror}") from None


def read_bounded(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them, its kind and size
    checked first. Raises Unreadable."""
    file_size(path, limit, what)
    try:
        # Not blocking, and checked again once open, in case the path was replaced by a FIFO.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        with open(os.open(path, flags), "rb") as f:
            checked_size(os.fstat(f.fileno()), limit, what)
            data = f.read(limit + 1)  # it may have grown since
    except FileNotFoundError:
        raise Unreadable("E101", "no such file") from None
    except OSError as e:
        raise Unreadable("E103", f"cannot read: {e.strerror}") from None
    if len(data) > limit:
        raise Unreadable("E104", too_large(limit))
    return data
