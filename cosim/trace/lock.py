"""An exclusive lock on a run's outputs (the trace and its checkpoint).

Two runs writing the same trace corrupt it: HDF5 drops its own file lock in
SWMR mode, and the checkpoint is replaced by whoever saves last. So a run
holds ``fcntl.flock`` on ``RUN.h5.lock`` (which records its PID and command)
for as long as it writes; a second run fails at once with an
:class:`~cosim.errors.OutputError` naming the process that holds it. The
kernel drops the lock when the holder exits, even on SIGKILL, so a stale
lock file never blocks a later run; the file is removed on a clean release.

The lock is re-entrant within a process (the CLI takes it before minutes of
model loading, the trace writer takes it again), counted per path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path

from cosim.errors import OutputError

# Held locks of this process: resolved lock path -> (file descriptor, depth).
_HELD: dict[Path, tuple[int, int]] = {}


def lock_path(trace_path: Path) -> Path:
    """The lock file of ``trace_path``."""
    return trace_path.with_name(trace_path.name + ".lock")


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "another process"
    return " ".join(text.split())[:200] or "another process"


class OutputLock:
    """``with OutputLock(trace_path):`` — exclusive use of a trace and its checkpoint.

    Raises:
        OutputError: another process holds the lock (its PID and command are
            in the message), or the lock file cannot be created.
    """

    def __init__(self, trace_path: str | os.PathLike[str]) -> None:
        self.path = lock_path(Path(trace_path)).absolute()
        self._held = False

    def acquire(self) -> OutputLock:
        """Take the lock (or count one more use of it in this process)."""
        if self.path in _HELD:
            fd, depth = _HELD[self.path]
            _HELD[self.path] = (fd, depth + 1)
            self._held = True
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create the output lock: "
                                  f"{exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                trace = self.path.name.removesuffix(".lock")
                raise OutputError(
                    f"{trace} is being written by another run ({_holder(self.path)}); wait for "
                    f"it to finish or choose another --out"
                ) from None
            # The holder may have removed the file between our open and flock; then
            # we locked an orphan and must retry on the file now at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:150]}\n".encode())
        _HELD[self.path] = (fd, 1)
        self._held = True
        return self

    def release(self) -> None:
        """Release one use; the last one unlocks and removes the lock file."""
        if not self._held:
            return
        self._held = False
        fd, depth = _HELD[self.path]
        if depth > 1:
            _HELD[self.path] = (fd, depth - 1)
            return
        del _HELD[self.path]
        with contextlib.suppress(OSError):  # while locked: no one else holds this inode
            self.path.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
