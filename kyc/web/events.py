"""Live queue: PostgreSQL ``LISTEN kyc_review`` fanned out to server-sent events.

A trigger (migration 0006) announces every new decision version and every claim
change on the ``kyc_review`` channel, with ids only. One thread per web process
holds one psycopg2 connection that LISTENs (``select`` on its socket, so it wakes
on a notification or once a second to see whether it should stop) and hands each
notification to every connected browser's asyncio queue. When the connection
breaks it reconnects with a growing pause and tells the browsers to refetch
(``reconnected``): notifications sent while it was away are lost otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import select
import threading
from typing import Any

import psycopg2
import psycopg2.extensions

_log = logging.getLogger(__name__)

#: The channel the trigger notifies.
CHANNEL = "kyc_review"
#: Events a slow browser may have waiting before newer ones are dropped for it.
QUEUE_SIZE = 100


class ReviewEvents:
    """One LISTEN connection per process, many subscribers (one per open page)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = (
            set()
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: set once the first LISTEN is in place (tests wait for it)
        self.listening = threading.Event()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue of events for the calling coroutine's loop; starts the listener."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="kyc-review-listen", daemon=True
                )
                self._thread.start()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Forget a subscriber's queue."""
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    def close(self) -> None:
        """Stop the listener thread (the app is shutting down); idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self._publish({"kind": "closed"})

    # -- the listener thread ---------------------------------------------------------------

    def _publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            targets = list(self._subscribers)
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # that loop is closed: its page is gone
                self.unsubscribe(queue)

    def _run(self) -> None:
        pause = 0.5
        first = True
        while not self._stop.is_set():
            try:
                conn = psycopg2.connect(self._dsn)
            except psycopg2.Error as exc:
                _log.warning("review events: cannot connect (%s); retrying", type(exc).__name__)
                self._stop.wait(pause)
                pause = min(pause * 2, 30.0)
                continue
            try:
                conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                if not first:
                    self._publish({"kind": "reconnected"})
                first, pause = False, 0.5
                self._listen(conn)
            except (psycopg2.Error, OSError) as exc:
                _log.warning(
                    "review events: connection lost (%s); reconnecting", type(exc).__name__
                )
                self._stop.wait(pause)
                pause = min(pause * 2, 30.0)
            finally:
                conn.close()

    def _listen(self, conn: Any) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([conn], [], [], 1.0)
            if not readable:
                continue
            conn.poll()
            while conn.notifies:
                note = conn.notifies.pop(0)
                try:
                    event = json.loads(note.payload)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self._publish(
                        {
                            "kind": str(event.get("kind", "")),
                            "application_id": str(event.get("application_id", "")),
                        }
                    )


def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    """Put an event on a subscriber's queue; a full queue drops it (the page refetches)."""
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(event)
