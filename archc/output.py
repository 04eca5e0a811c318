"""Writing results: all or nothing. Each file is written to a temporary file beside it, and only
when every one is written are they renamed into place, so that a failure leaves the output folder
exactly as it was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(Exception):
    """A problem with where output goes (missing or read-only folder, disk full)."""

    def __init__(self, path, code: str, message: str):
        super().__init__(f"{path}: error[{code}]: {message}")


def check_folder(folder: Path) -> None:
    if not folder.exists():
        raise OutputError(folder, "E601", "output folder does not exist")
    if not folder.is_dir():
        raise OutputError(folder, "E602", "output path is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(folder, "E603", "output folder is not writable")


def write_all(files: dict[Path, str | bytes]) -> None:
    for folder in sorted({path.parent for path in files}):
        check_folder(folder)
    for path in files:
        if path.is_dir():
            raise OutputError(path, "E604", "cannot write: a folder is in the way")
    temporary: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            fd, tmp = tempfile.mkstemp(prefix=".archc-", suffix=".tmp", dir=path.parent)
            temporary.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)
        for tmp, path in temporary:
            os.replace(tmp, path)
    except OSError as e:
        for tmp, _ in temporary:
            Path(tmp).unlink(missing_ok=True)
        raise OutputError(path, "E604", f"cannot write: {e.strerror}") from None
