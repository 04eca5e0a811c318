"""Writing results: all or nothing. Each file is written to a temporary file beside it; only when
every one is written are they renamed into place, and if a rename fails (or archc is interrupted)
the renames already done are undone, so that a failure leaves the output folder exactly as it
was."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import printable
from .files import file_kind


class OutputError(Exception):
    """A problem with where output goes (missing or read-only folder, disk full)."""

    def __init__(self, path, code: str, message: str):
        super().__init__(printable(f"{path}: error[{code}]: {message}"))


def check_folder(folder: Path) -> None:
    if not folder.exists():
        raise OutputError(folder, "E601", "output folder does not exist")
    if not folder.is_dir():
        raise OutputError(folder, "E602", "output path is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(folder, "E603", "output folder is not writable")


def write_all(files: dict[Path, str | bytes], inputs=()) -> None:
    """Writes every file or none. A target may be missing or a regular file, and none may be one
    of `inputs` (the files the output was made from) under any name: archc replaces nothing else
    (a link, a device, a FIFO), and never what it read."""
    for folder in sorted({path.parent for path in files}):
        check_folder(folder)
    read = _identities(inputs)
    for path in files:
        _check_replaceable(path, read)
    staged: list[tuple[Path, Path]] = []  # (temporary file, its target)
    done: list[tuple[Path, Path | None]] = []  # (target, backup of its old file or None)
    try:
        for path, content in files.items():
            fd, tmp = tempfile.mkstemp(prefix=".archc-", suffix=".tmp", dir=path.parent)
            staged.append((Path(tmp), path))
            with os.fdopen(fd, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            os.chmod(tmp, 0o644)
        for tmp, path in staged:
            backup = None
            if os.path.lexists(path):
                backup = tmp.with_suffix(".old")
                _back_up(path, backup)
            done.append((path, backup))
            os.replace(tmp, path)
    except BaseException as e:  # KeyboardInterrupt too: undo, then let it through
        _roll_back(done)
        _remove(tmp for tmp, _ in staged)
        if isinstance(e, OSError):
            raise OutputError(path, "E604", f"cannot write: {e.strerror}") from None
        raise
    _remove(backup for _, backup in done if backup is not None)


def _identities(paths) -> dict[tuple[int, int], str]:
    """(device, inode) -> path, for each of `paths` that exists: one file under two names (a
    link, `a/../a.pth`) is still one file."""
    found = {}
    for path in paths:
        with contextlib.suppress(OSError):
            status = os.stat(path)
            found[status.st_dev, status.st_ino] = str(path)
    return found


def _check_replaceable(path: Path, inputs: dict[tuple[int, int], str]) -> None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise OutputError(path, "E604", f"cannot write: {e.strerror}") from None
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(path, "E604", "cannot write: a folder is in the way")
    if not stat.S_ISREG(status.st_mode):
        raise OutputError(path, "E611", f"is {file_kind(status.st_mode)}, which archc does not "
                                        "replace: name a new file or a regular one")
    read = inputs.get((status.st_dev, status.st_ino))
    if read is not None:
        same = "" if os.path.normpath(read) == os.path.normpath(path) else f" ({read})"
        raise OutputError(path, "E611", f"is the input{same}, which archc does not replace: "
                                        "name another output")


def _back_up(path: Path, backup: Path) -> None:
    """Keeps the old file under a second name: a hard link, so that the target never goes
    missing, or a rename on a file system without hard links."""
    try:
        os.link(path, backup, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:
        os.rename(path, backup)


def _roll_back(done: list[tuple[Path, Path | None]]) -> None:
    """Puts the old files back, newest first. A step that fails leaves its backup in place (it
    holds the old file) and the others go on."""
    for path, backup in reversed(done):
        with contextlib.suppress(OSError):
            if backup is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(backup, path)
                backup.unlink(missing_ok=True)  # still there if it was a link to path itself


def _remove(paths) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
