"""S3 notifications → Prefect events: the bridge that makes the pipeline event-driven.

Two sources produce the same event, ``aws.s3.object.created``, one per landed object
under ``incoming/<application_id>/``:

* :class:`SqsBridge` long-polls an SQS queue that receives the bucket's
  ``s3:ObjectCreated:*`` notifications (the AWS-native path), emits one event per
  object and deletes a message only once its events reached the Prefect server.
* :class:`FolderWatcher` polls a landing folder (the embedded default, no AWS).

The process-application deployment (prefect.yaml) is triggered by these events. It
fires once per object; the flow checks completeness and ends quietly as INCOMPLETE
until the last required object has landed, and the decision's idempotency key
(application id + object ETags) makes every later run on the same objects
ALREADY_DECIDED, so at-least-once delivery still yields one decision.

Duplicates are cut earlier too: the event id is derived from the notification
(bucket, key, ETag, sequencer), so a redelivered SQS message yields the same event id,
which Prefect's trigger evaluation ignores once seen; the bridge also skips ids it
emitted recently itself.

The parsing functions at the top are pure (unit-tested without AWS or Prefect).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)

#: The event every landed object produces (the deployment trigger expects it).
EVENT_NAME = "aws.s3.object.created"
#: Namespace of the deterministic event ids (uuid5 of the notification's identity).
_EVENT_NAMESPACE = uuid.UUID("5b0c7f0e-3d0a-4c55-9a6e-6b7963000006")
INCOMING = "incoming/"


#: Label values of ``kyc.application-complete``; the trigger matches "true" and "unknown".
_COMPLETE_LABEL = {True: "true", False: "false", None: "unknown"}


class PoisonMessage(ValueError):
    """A message body that is not an S3 notification we can read (goes to the DLQ)."""


@dataclass(frozen=True, slots=True)
class ObjectLanded:
    """One object that landed under a landing prefix.

    Attributes:
        landing: the landing URI the application belongs to (``s3://bucket/prefix``
            or a folder); the flow's ``landing`` parameter.
        key: the object key relative to the landing (``incoming/<id>/<name>``).
        application_id: the ``<id>`` folder.
        etag: the object's ETag (S3) or MD5 (folder), without quotes.
        uri: the object's full address (resource id of the event).
        size: bytes, when known.
        sequencer: S3's per-key ordering token (distinguishes re-puts of equal bytes).
        occurred: when the object landed (UTC), when known.
    """

    landing: str
    key: str
    application_id: str
    etag: str
    uri: str
    size: int | None = None
    sequencer: str | None = None
    occurred: dt.datetime | None = None
    #: whether the application's required objects were all there when this object
    #: was seen (None: not checked); only "complete" events start a run
    complete: bool | None = None
    #: the landing span's W3C traceparent when tracing is on: the run continues it
    traceparent: str | None = None

    @property
    def event_id(self) -> uuid.UUID:
        """Deterministic id: the same notification delivered twice gives the same id."""
        return uuid.uuid5(_EVENT_NAMESPACE, f"{self.uri}\0{self.etag}\0{self.sequencer or ''}")

    def resource(self) -> dict[str, str]:
        """The event's primary resource (labels the trigger can match on)."""
        return {
            "prefect.resource.id": f"kyc.object.{self.uri}",
            "prefect.resource.name": self.key,
            "kyc.application-id": self.application_id,
            "kyc.landing": self.landing,
            "kyc.application-complete": _COMPLETE_LABEL[self.complete],
        }

    def payload(self) -> dict[str, Any]:
        """The event payload; the trigger renders the flow's parameters from it."""
        return {
            "landing": self.landing,
            "key": self.key,
            "application_id": self.application_id,
            "etag": self.etag,
            "bucket": self.uri[5:].split("/", 1)[0] if self.uri.startswith("s3://") else None,
            "size": self.size,
            "sequencer": self.sequencer,
            "complete": self.complete,
            "traceparent": self.traceparent,
        }


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What one SQS message body holds.

    Attributes:
        objects: the landed objects under our landing prefix (possibly several:
            S3 may batch records into one message).
        test_event: the ``s3:TestEvent`` S3 sends when notifications are configured.
        ignored: records that are not ours (other prefixes, other event types), as
            short descriptions for the log.
    """

    objects: tuple[ObjectLanded, ...] = ()
    test_event: bool = False
    ignored: tuple[str, ...] = ()


def split_landing_key(key: str, prefix: str) -> tuple[str, str] | None:
    """Split an object key into (key relative to the landing, application id).

    Args:
        key: the decoded object key.
        prefix: the landing prefix inside the bucket (``""`` or ``"a/b/"``).

    Returns:
        None when the key is not ``<prefix>incoming/<application_id>/<name>``.
    """
    if not key.startswith(prefix):
        return None
    rel = key[len(prefix) :]
    parts = rel.split("/")
    if len(parts) != 3 or parts[0] + "/" != INCOMING or not parts[1] or not parts[2]:
        return None
    return rel, parts[1]


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_notification(body: str, *, bucket: str, prefix: str) -> ParsedMessage:
    """Parse one SQS message body holding an S3 event notification.

    Accepts the S3 → SQS form (``{"Records": [...]}``), the same wrapped by SNS
    (``{"Type": "Notification", "Message": "..."}``) and ``s3:TestEvent``. Keys in
    S3 notifications are URL-encoded (spaces as ``+``), so they are decoded with
    ``unquote_plus`` before use.

    Args:
        body: the message body.
        bucket: the landing bucket; records for other buckets are ignored.
        prefix: the landing prefix inside the bucket (``""`` or ending in ``/``).

    Returns:
        The landed objects under ``<prefix>incoming/`` and what was ignored.

    Raises:
        PoisonMessage: the body is not JSON or not an S3 notification at all.
    """
    try:
        doc = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise PoisonMessage(f"body is not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        return parse_notification(str(doc["Message"]), bucket=bucket, prefix=prefix)
    if not isinstance(doc, dict):
        raise PoisonMessage("body is not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return ParsedMessage(test_event=True)
    records = doc.get("Records")
    if not isinstance(records, list) or not records:
        raise PoisonMessage("no Records in the notification")
    objects: list[ObjectLanded] = []
    ignored: list[str] = []
    for index, record in enumerate(records):
        try:
            name = str(record["eventName"])
            s3 = record["s3"]
            rec_bucket = str(s3["bucket"]["name"])
            obj = s3["object"]
            key = unquote_plus(str(obj["key"]))
        except (KeyError, TypeError) as exc:
            raise PoisonMessage(f"record {index} is not an S3 record: missing {exc}") from None
        if not name.startswith("ObjectCreated:"):
            ignored.append(f"{name} {key}")
            continue
        if rec_bucket != bucket:
            ignored.append(f"other bucket {rec_bucket}")
            continue
        split = split_landing_key(key, prefix)
        if split is None:
            ignored.append(f"not an application object: {key}")
            continue
        rel, app_id = split
        size = obj.get("size")
        objects.append(
            ObjectLanded(
                landing=f"s3://{bucket}/{prefix}".rstrip("/"),
                key=rel,
                application_id=app_id,
                etag=str(obj.get("eTag") or obj.get("etag") or "").strip('"'),
                uri=f"s3://{bucket}/{key}",
                size=int(size) if isinstance(size, int) else None,
                sequencer=str(obj["sequencer"]) if obj.get("sequencer") else None,
                occurred=_parse_time(record.get("eventTime")),
            )
        )
    return ParsedMessage(objects=tuple(objects), ignored=tuple(ignored))


class RecentIds:
    """A bounded set of recently emitted event ids (the bridge's own dedupe)."""

    def __init__(self, capacity: int = 10_000) -> None:
        """Remember at most ``capacity`` ids, forgetting the oldest first."""
        self._ids: OrderedDict[uuid.UUID, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: uuid.UUID) -> None:
        """Remember an id."""
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def mark_completeness(
    objects: Sequence[ObjectLanded], is_complete: Callable[[str, str], bool] | None
) -> list[ObjectLanded]:
    """Label each object's event with whether its application is complete now.

    The application is looked up once per batch; of several objects of one
    complete application in the same batch only the last is labelled complete, so
    a batch starts at most one run per application. Without a checker every event
    is labelled "unknown" (and starts a run that checks for itself).

    Args:
        objects: the batch, in arrival order.
        is_complete: ``(landing, application_id) -> bool``, or None.
    """
    from dataclasses import replace

    if is_complete is None:
        return list(objects)
    last: dict[tuple[str, str], int] = {}
    for index, obj in enumerate(objects):
        last[(obj.landing, obj.application_id)] = index
    verdict: dict[tuple[str, str], bool] = {}
    out: list[ObjectLanded] = []
    for index, obj in enumerate(objects):
        app = (obj.landing, obj.application_id)
        if last[app] != index:
            out.append(replace(obj, complete=False))
            continue
        if app not in verdict:
            verdict[app] = is_complete(*app)
        out.append(replace(obj, complete=verdict[app]))
    return out


def landing_is_complete(landing: str, application_id: str) -> bool:
    """True when the application's required objects are all under the landing now."""
    from kyc import runtime
    from kyc.domain.landing import group_landing

    complete, _ = group_landing(runtime.store(landing).list(f"{INCOMING}{application_id}/"))
    return any(b.application_id == application_id for b in complete)


def landing_spans(objects: Sequence[ObjectLanded]) -> tuple[list[ObjectLanded], list[Any]]:
    """Open a landing span for each object that can start a run (tracing on only).

    The span's traceparent rides in the event, so the flow run it starts continues
    the same trace (kyc/telemetry.py). Objects of incomplete applications start no
    run and get no span. The caller ends the spans once the events are out.
    """
    from dataclasses import replace

    from kyc import telemetry

    if not telemetry.enabled():
        return list(objects), []
    out: list[ObjectLanded] = []
    spans: list[Any] = []
    for obj in objects:
        if obj.complete is False:
            out.append(obj)
            continue
        span = telemetry.start_span(
            "kyc.landing",
            {
                "kyc.application_id": obj.application_id,
                "kyc.object_key": obj.key,
                "kyc.landing": obj.landing,
            },
        )
        spans.append(span)
        out.append(replace(obj, traceparent=telemetry.traceparent(span)))
    return out, spans


def end_spans(spans: Sequence[Any], error: BaseException | None = None) -> None:
    """End the landing spans (marked failed when the events could not be sent)."""
    if not spans:
        return
    from opentelemetry.trace import Status, StatusCode

    for span in spans:
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()


def unique_objects(objects: Iterable[ObjectLanded], seen: RecentIds) -> list[ObjectLanded]:
    """The objects whose event was not emitted yet (in order, duplicates dropped)."""
    out: list[ObjectLanded] = []
    batch: set[uuid.UUID] = set()
    for obj in objects:
        if obj.event_id in seen or obj.event_id in batch:
            continue
        batch.add(obj.event_id)
        out.append(obj)
    return out


# --------------------------------------------------------------------------------------
# emitting
# --------------------------------------------------------------------------------------


class Emitter(Protocol):
    """Sends events; returns only once the server has them (raises otherwise)."""

    def emit(self, objects: Sequence[ObjectLanded]) -> None:
        """Emit one ``aws.s3.object.created`` event per object."""


def build_event(obj: ObjectLanded) -> Any:
    """The Prefect event for one landed object."""
    from prefect.events import Event

    return Event.model_validate(
        {
            "id": obj.event_id,
            "event": EVENT_NAME,
            "occurred": obj.occurred or dt.datetime.now(dt.UTC),
            "resource": obj.resource(),
            "payload": obj.payload(),
        }
    )


class PrefectEmitter:
    """Emits to the Prefect API (PREFECT_API_URL) and waits for the server's receipt.

    ``prefect.events.emit_event`` hands events to a background worker and returns
    before they are sent (a failure is only logged), which cannot tell the bridge
    when it may delete the SQS message. So the bridge uses the same events client
    directly and checkpoints after every event: the websocket ping after it returns
    only once the server has read the event.
    """

    def emit(self, objects: Sequence[ObjectLanded]) -> None:
        """Emit and confirm; raises when the server cannot be reached."""
        if objects:
            asyncio.run(self._emit(objects))

    async def _emit(self, objects: Sequence[ObjectLanded]) -> None:
        from prefect.events.clients import get_events_client

        async with get_events_client(checkpoint_every=1, reconnection_attempts=2) as client:
            for obj in objects:
                await client.emit(build_event(obj))


# --------------------------------------------------------------------------------------
# SQS
# --------------------------------------------------------------------------------------


@dataclass
class BridgeStats:
    """Counters for the log and the tests."""

    messages: int = 0
    events: int = 0
    duplicates: int = 0
    test_events: int = 0
    ignored: int = 0
    poison: int = 0
    emit_failures: int = 0


@dataclass
class SqsBridge:
    """Long-polls an SQS queue of S3 notifications and emits Prefect events.

    Attributes:
        sqs: a boto3 SQS client.
        queue_url: the notification queue.
        landing: ``s3://bucket/prefix`` whose ``incoming/`` objects matter.
        emitter: where events go (:class:`PrefectEmitter` in production).
        dlq_url: where unparseable bodies are moved at once (otherwise they stay
            until the queue's redrive policy moves them after maxReceiveCount).
        wait_seconds: long-poll duration (SQS allows up to 20).
        visibility_timeout: seconds a received message stays hidden; after an emit
            failure it becomes visible again and is retried.
    """

    sqs: Any
    queue_url: str
    landing: str
    emitter: Emitter
    dlq_url: str | None = None
    wait_seconds: int = 20
    visibility_timeout: int = 60
    is_complete: Callable[[str, str], bool] | None = landing_is_complete
    stats: BridgeStats = field(default_factory=BridgeStats)
    seen: RecentIds = field(default_factory=RecentIds)

    def __post_init__(self) -> None:
        """Split the landing URI into bucket and prefix."""
        from kyc.storage.factory import parse_s3_uri

        self.bucket, prefix = parse_s3_uri(self.landing)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def poll_once(self) -> int:
        """Receive one batch (up to 10 messages), emit, delete; returns messages handled."""
        from kyc import telemetry

        # SQS, S3 and the emit are plumbing: not traced call by call (an idle bridge
        # would make a trace per long poll); the landing spans tell the story.
        with telemetry.untraced():
            return self._poll_once()

    def _poll_once(self) -> int:
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=self.visibility_timeout,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        messages = reply.get("Messages", [])
        done: list[dict[str, str]] = []
        pending: list[tuple[dict[str, Any], list[ObjectLanded]]] = []
        for msg in messages:
            self.stats.messages += 1
            try:
                parsed = parse_notification(msg["Body"], bucket=self.bucket, prefix=self.prefix)
            except PoisonMessage as exc:
                if self._dead_letter(msg, str(exc)):
                    done.append(msg)
                continue
            if parsed.test_event:
                self.stats.test_events += 1
                log.info("s3:TestEvent received: notifications reach the queue")
            for what in parsed.ignored:
                self.stats.ignored += 1
                log.debug("ignored: %s", what)
            pending.append((msg, list(parsed.objects)))
        # One emit for the whole batch; messages are deleted only after it succeeded.
        to_emit = unique_objects((o for _, objs in pending for o in objs), self.seen)
        self.stats.duplicates += sum(len(objs) for _, objs in pending) - len(to_emit)
        spans: list[Any] = []
        try:
            to_emit = mark_completeness(to_emit, self.is_complete)
            to_emit, spans = landing_spans(to_emit)
            self.emitter.emit(to_emit)
            end_spans(spans)
        except Exception as exc:
            end_spans(spans, exc)
            self.stats.emit_failures += 1
            log.error(
                "could not emit %d event(s) (%s); messages stay on the queue for a retry",
                len(to_emit),
                type(exc).__name__,
            )
            self._delete(done)
            return len(done)
        for obj in to_emit:
            self.seen.add(obj.event_id)
            log.info(
                "event for %s (application %s, complete: %s)",
                obj.key,
                obj.application_id,
                _COMPLETE_LABEL[obj.complete],
            )
        self.stats.events += len(to_emit)
        done.extend(msg for msg, _ in pending)
        self._delete(done)
        return len(messages)

    def _dead_letter(self, msg: dict[str, Any], reason: str) -> bool:
        """Move a poison message to the DLQ; True when it may be deleted here."""
        self.stats.poison += 1
        if not self.dlq_url:
            log.error(
                "unreadable message %s (%s); left for the queue's redrive policy",
                msg.get("MessageId"),
                reason,
            )
            return False
        self.sqs.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=msg["Body"],
            MessageAttributes={
                "kyc-error": {"DataType": "String", "StringValue": reason[:256]},
                "kyc-source-message-id": {
                    "DataType": "String",
                    "StringValue": str(msg.get("MessageId", "")),
                },
            },
        )
        log.error("unreadable message %s moved to the DLQ: %s", msg.get("MessageId"), reason)
        return True

    def _delete(self, messages: Sequence[dict[str, Any]]) -> None:
        if not messages:
            return
        reply = self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
        for failed in reply.get("Failed", []):
            # The message will be delivered again; its event id is the same, so it
            # is a duplicate downstream, not a second decision.
            log.warning("could not delete message %s: %s", failed.get("Id"), failed.get("Code"))

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until ``stop`` is set (or forever)."""
        stop = stop or threading.Event()
        log.info("bridge: %s → Prefect events for %s", self.queue_url, self.landing)
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                # SQS itself unreachable: back off and keep going (the bridge is a service).
                log.error("polling %s failed: %s", self.queue_url, type(exc).__name__)
                stop.wait(5)


def connect_bucket_to_queue(
    s3: Any,
    sqs: Any,
    *,
    bucket: str,
    queue_name: str,
    prefix: str = "",
    max_receive_count: int = 5,
) -> tuple[str, str]:
    """Create the notification queue (with a DLQ) and point the bucket's events at it.

    Creates ``<queue_name>-dlq`` and ``<queue_name>`` with a redrive policy (a
    message received ``max_receive_count`` times without being deleted moves to the
    DLQ), a queue policy that lets S3 send, and the bucket notification for
    ``s3:ObjectCreated:*`` under ``<prefix>incoming/``. Replaces the bucket's
    existing queue configurations.

    Returns:
        (queue URL, DLQ URL).
    """
    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
            )
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {"FilterRules": [{"Name": "prefix", "Value": prefix + INCOMING}]}
                    },
                }
            ]
        },
    )
    return queue_url, dlq_url


# --------------------------------------------------------------------------------------
# local folder
# --------------------------------------------------------------------------------------


@dataclass
class FolderWatcher:
    """Polls a landing folder and emits the same events as the SQS bridge.

    Only objects that appear or change after the watcher started produce events
    (the scheduled ingest-landing sweep covers anything that landed while it was
    down); ``replay=True`` emits for everything present at start as well.

    Attributes:
        folder: the landing folder (holds ``incoming/``).
        emitter: where events go.
        interval: seconds between scans.
        settle_seconds: a file modified more recently than this is left for the next
            scan (a writer that does not write atomically may still be busy).
    """

    folder: Path
    emitter: Emitter
    interval: float = 1.0
    settle_seconds: float = 0.2
    replay: bool = False
    is_complete: Callable[[str, str], bool] | None = landing_is_complete
    stats: BridgeStats = field(default_factory=BridgeStats)
    clock: Callable[[], float] = time.time
    _known: dict[str, str] = field(default_factory=dict)
    _started: bool = False
    _store: Any = None

    def scan_once(self) -> list[ObjectLanded]:
        """One scan: emit for new or changed objects; returns what was emitted."""
        from kyc.storage.local import LocalStore

        if self._store is None:
            # One store for the watcher's life: it caches ETags by (size, mtime, inode),
            # so a scan hashes only new or changed files.
            self._store = LocalStore(self.folder)
        store = self._store
        now = self.clock()
        fresh: list[ObjectLanded] = []
        current: dict[str, str] = {}
        for info in store.list(INCOMING):
            split = split_landing_key(info.key, "")
            if split is None:
                continue
            if info.last_modified is not None and now - info.last_modified < self.settle_seconds:
                if info.key in self._known:
                    current[info.key] = self._known[info.key]
                continue
            current[info.key] = info.etag
            if self._known.get(info.key) == info.etag:
                continue
            if not self._started and not self.replay:
                continue
            fresh.append(
                ObjectLanded(
                    landing=str(store.root),
                    key=info.key,
                    application_id=split[1],
                    etag=info.etag,
                    uri=f"{store.uri}/{info.key}",
                    size=info.size,
                    # mtime distinguishes a re-landing of identical bytes
                    sequencer=repr(info.last_modified),
                    occurred=dt.datetime.fromtimestamp(info.last_modified, dt.UTC)
                    if info.last_modified is not None
                    else None,
                )
            )
        fresh, spans = landing_spans(mark_completeness(fresh, self.is_complete))
        try:
            self.emitter.emit(fresh)
        except BaseException as exc:
            end_spans(spans, exc)
            raise
        end_spans(spans)
        # Remember only after the emit succeeded: a failed scan is retried next time.
        self._known = current
        self._started = True
        self.stats.events += len(fresh)
        for obj in fresh:
            log.info("event for %s (application %s)", obj.key, obj.application_id)
        return fresh

    def run(self, stop: threading.Event | None = None) -> None:
        """Scan every ``interval`` seconds until ``stop`` is set."""
        stop = stop or threading.Event()
        log.info("watching %s/%s every %.1f s", self.folder, INCOMING, self.interval)
        while not stop.is_set():
            try:
                self.scan_once()
            except Exception as exc:
                self.stats.emit_failures += 1
                log.error("scan of %s failed: %s", self.folder, type(exc).__name__)
            stop.wait(self.interval)
