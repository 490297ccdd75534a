"""Children end with their parent, even when the parent is killed with SIGKILL.

A parent killed with SIGKILL runs no atexit hook and no ``finally``: whatever it
started keeps running — Prefect's ephemeral API server (a full core), the quality
gate's Great Expectations worker and the face matcher's descriptor worker. Only the
children can notice, so each one watches:

* our own worker processes call :func:`die_with_parent` first thing (their pool
  initializer): a daemon thread exits the process as soon as its parent is gone;
* a process we do not write (Prefect's ephemeral server) gets a *lifeline*
  (:func:`attach`): a tiny watcher process, itself our child, that ends the watched
  process (and its children) when we are gone, and ends itself when the watched
  process ends first.

Parent death is read from ``getppid()`` (a child is re-parented when its parent
dies), not from Linux's ``PR_SET_PDEATHSIG``: that signal fires when the *thread*
that started the child exits, and our pools may be started from a worker thread
that ends long before the process does. Polling costs one system call per
``interval`` and works on every POSIX system.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

#: Seconds between two looks at the parent: how long a child outlives a killed parent.
INTERVAL = 0.25


def _parent_gone(parent_pid: int) -> bool:
    return os.getppid() != parent_pid


def die_with_parent(parent_pid: int, *, interval: float = INTERVAL) -> None:
    """End this process (exit status 1) soon after ``parent_pid`` is gone.

    Call it at the start of a child process (a pool initializer) with the pid of the
    process that started it (passed in: by the time the child runs, the parent may
    already be gone and ``getppid()`` would name the new parent).
    """
    if _parent_gone(parent_pid):
        os._exit(1)

    def watch() -> None:
        while not _parent_gone(parent_pid):
            time.sleep(interval)
        # Nobody is left to read our results; flushing or cleaning up would only
        # risk blocking (a queue whose reader is gone).
        os._exit(1)

    threading.Thread(target=watch, name="kyc-lifeline", daemon=True).start()


def attach(child_pid: int) -> subprocess.Popen[bytes]:
    """Start a lifeline: when this process is gone, ``child_pid`` and its children end.

    Args:
        child_pid: a process this one started (e.g. Prefect's ephemeral server).

    Returns:
        The watcher process (it ends by itself when ``child_pid`` ends).
    """
    return subprocess.Popen(
        [sys.executable, "-S", "-c", _WATCHER, str(os.getpid()), str(child_pid), str(INTERVAL)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
    )


# The watcher runs with ``-S`` and only the standard library's os/signal/time: it
# costs ~10 MB and a few ms, not an interpreter with this project imported.
_WATCHER = r"""
import os, signal, sys, time
parent, child, interval = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False

def children(pid):
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found

def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass

while os.getppid() == parent and alive(child):
    time.sleep(interval)
if alive(child):
    tree = [child] + children(child)
    signal_all(tree, signal.SIGTERM)
    deadline = time.monotonic() + 3
    while any(alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_all(tree, signal.SIGKILL)
"""


__all__ = ["INTERVAL", "attach", "die_with_parent"]
