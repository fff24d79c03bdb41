"""Which process holds a sync or a bulk deletion, and whether that process is gone.

A heartbeat tells a dead holder from a slow one only after it has gone stale (minutes). When
the holder ran on this machine, the machine can say at once: its process id no longer runs,
or runs another program started later (ids are reused). A holder on another machine is left
to its heartbeat."""

from __future__ import annotations

import os
import socket
from functools import cache

# host:pid:start, the start being the process's start time in clock ticks since boot (Linux),
# or 0 where the system does not tell.
_SEPARATOR = ":"


def _start_ticks(pid: int) -> int | None:
    """The process's start time (field 22 of /proc/<pid>/stat); None when there is no such
    process, 0 where /proc does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None
        return 0 if _pid_runs(pid) else None
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may hold spaces: count after it.
    fields = data[data.rindex(b")") + 2 :].split()
    return int(fields[19])


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@cache
def _host() -> str:
    return socket.gethostname()[:60]


def process_tag() -> str:
    """This process, as `process_gone` reads it back."""
    pid = os.getpid()
    return f"{_host()}{_SEPARATOR}{pid}{_SEPARATOR}{_start_ticks(pid) or 0}"


def process_gone(tag: str) -> bool:
    """Whether the process a tag names is known to be gone: it ran on this machine, and its
    id no longer runs, or runs a process started at another time. False when unsure (another
    machine, a tag in another form). Anything before an "@" is the holder's own (a worker's
    token)."""
    parts = tag.rpartition("@")[2].rsplit(_SEPARATOR, 2)
    if len(parts) != 3 or parts[0] != _host():
        return False
    try:
        pid, start = int(parts[1]), int(parts[2])
    except ValueError:
        return False
    now = _start_ticks(pid)
    if now is None:
        return True
    return bool(start and now and start != now)
