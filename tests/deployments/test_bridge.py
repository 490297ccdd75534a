"""The S3 → SQS → Prefect-event bridge: parsing, dedupe, delete-after-emit, DLQ, watcher.

Parsing is pure. The SQS tests run the bridge against moto's standalone server (real
SQS API on loopback) with a recording emitter standing in for the Prefect server
(the end-to-end test in tests/e2e uses a real one).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from deployments.bridge import (
    EVENT_NAME,
    FolderWatcher,
    ObjectLanded,
    PoisonMessage,
    RecentIds,
    SqsBridge,
    build_event,
    connect_bucket_to_queue,
    mark_completeness,
    parse_notification,
    split_landing_key,
    unique_objects,
)
from tests.fixtures.s3 import REGION


def _record(key: str, *, bucket: str = "landing", name: str = "ObjectCreated:Put",
            etag: str = "0123abcd", sequencer: str = "0055AED6DCD90281E5") -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-23T20:00:00.000Z",
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 1024, "eTag": etag, "sequencer": sequencer},
        },
    }


def _body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


# --- pure parsing -----------------------------------------------------------------------


def test_object_created_record_becomes_a_landed_object() -> None:
    parsed = parse_notification(
        _body(_record("kyc/incoming/app-1/selfie.jpg")), bucket="landing", prefix="kyc/"
    )
    assert not parsed.test_event
    (obj,) = parsed.objects
    assert obj.landing == "s3://landing/kyc"
    assert obj.key == "incoming/app-1/selfie.jpg"
    assert obj.application_id == "app-1"
    assert obj.uri == "s3://landing/kyc/incoming/app-1/selfie.jpg"
    assert obj.etag == "0123abcd" and obj.size == 1024
    assert obj.occurred is not None and obj.occurred.tzinfo is not None
    payload = obj.payload()
    assert payload["bucket"] == "landing" and payload["application_id"] == "app-1"


def test_keys_are_url_decoded_with_plus_as_space() -> None:
    key = "incoming/app%2B7+x%C3%A9/id_document.jpg"  # "app+7 xé", as S3 encodes it
    (obj,) = parse_notification(_body(_record(key)), bucket="landing", prefix="").objects
    assert obj.application_id == "app+7 xé"
    assert obj.key == "incoming/app+7 xé/id_document.jpg"


def test_s3_test_event_is_recognised_and_yields_nothing() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "landing"})
    parsed = parse_notification(body, bucket="landing", prefix="")
    assert parsed.test_event and parsed.objects == ()


def test_batched_records_other_prefixes_buckets_and_removals_are_sorted_out() -> None:
    body = _body(
        _record("incoming/a/application.json"),
        _record("incoming/b/selfie.png"),
        _record("incoming/a/selfie.jpg", name="ObjectRemoved:Delete"),
        _record("elsewhere/a/selfie.jpg"),
        _record("incoming/a/selfie.jpg", bucket="other"),
        _record("incoming/a/nested/selfie.jpg"),
    )
    parsed = parse_notification(body, bucket="landing", prefix="")
    assert [o.key for o in parsed.objects] == ["incoming/a/application.json", "incoming/b/selfie.png"]
    assert len(parsed.ignored) == 4


def test_sns_wrapped_notification_is_unwrapped() -> None:
    body = json.dumps({"Type": "Notification", "Message": _body(_record("incoming/a/selfie.jpg"))})
    assert len(parse_notification(body, bucket="landing", prefix="").objects) == 1


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", json.dumps({"Records": []}), json.dumps({"hello": 1}),
     json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})],
)
def test_unreadable_bodies_are_poison(body: str) -> None:
    with pytest.raises(PoisonMessage):
        parse_notification(body, bucket="landing", prefix="")


def test_split_landing_key() -> None:
    assert split_landing_key("p/incoming/a/selfie.jpg", "p/") == ("incoming/a/selfie.jpg", "a")
    assert split_landing_key("incoming/a/selfie.jpg", "p/") is None
    assert split_landing_key("incoming//selfie.jpg", "") is None
    assert split_landing_key("incoming/a/", "") is None


def test_event_ids_are_deterministic_per_notification() -> None:
    one = parse_notification(_body(_record("incoming/a/selfie.jpg")), bucket="landing", prefix="")
    again = parse_notification(_body(_record("incoming/a/selfie.jpg")), bucket="landing", prefix="")
    reput = parse_notification(
        _body(_record("incoming/a/selfie.jpg", sequencer="0055AED6DCD90281FF")),
        bucket="landing",
        prefix="",
    )
    assert one.objects[0].event_id == again.objects[0].event_id
    assert one.objects[0].event_id != reput.objects[0].event_id


def test_duplicates_are_dropped_within_a_batch_and_across_batches() -> None:
    objs = parse_notification(
        _body(_record("incoming/a/selfie.jpg"), _record("incoming/a/selfie.jpg"),
              _record("incoming/a/application.json")),
        bucket="landing",
        prefix="",
    ).objects
    seen = RecentIds(capacity=2)
    first = unique_objects(objs, seen)
    assert [o.key for o in first] == ["incoming/a/selfie.jpg", "incoming/a/application.json"]
    for o in first:
        seen.add(o.event_id)
    assert unique_objects(objs, seen) == []
    seen.add(uuid.uuid4())
    seen.add(uuid.uuid4())  # capacity 2: the oldest ids are forgotten
    assert len(unique_objects(objs, seen)) == 2


def test_completeness_is_asked_once_per_application_and_labels_the_last_object() -> None:
    objs = parse_notification(
        _body(_record("incoming/a/application.json"), _record("incoming/b/selfie.jpg"),
              _record("incoming/a/selfie.jpg")),
        bucket="landing",
        prefix="",
    ).objects
    asked: list[str] = []

    def is_complete(landing: str, app_id: str) -> bool:
        asked.append(app_id)
        return app_id == "a"

    marked = mark_completeness(objs, is_complete)
    assert sorted(asked) == ["a", "b"]
    assert [o.complete for o in marked] == [False, False, True]
    labels = [o.resource()["kyc.application-complete"] for o in marked]
    assert labels == ["false", "false", "true"]
    assert mark_completeness(objs, None)[0].resource()["kyc.application-complete"] == "unknown"


def test_prefect_event_carries_resource_and_payload() -> None:
    (obj,) = parse_notification(_body(_record("incoming/a/selfie.jpg")), bucket="landing", prefix="").objects
    event = build_event(obj)
    assert event.event == EVENT_NAME
    assert event.id == obj.event_id
    assert event.resource.id == "kyc.object.s3://landing/incoming/a/selfie.jpg"
    assert event.resource["kyc.application-id"] == "a"
    assert event.payload["landing"] == "s3://landing"


# --- SQS on moto's server -----------------------------------------------------------------


class Recorder:
    """Records emitted objects; can be told to fail (the Prefect server is down)."""

    def __init__(self) -> None:
        self.emitted: list[ObjectLanded] = []
        self.fail = False

    def emit(self, objects: Sequence[ObjectLanded]) -> None:
        if self.fail:
            raise ConnectionError("prefect server unreachable")
        self.emitted.extend(objects)


@pytest.fixture
def queues(s3_client: Any, s3_bucket: str, moto_endpoint: str) -> dict[str, Any]:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    name = f"kyc-{uuid.uuid4().hex[:12]}"
    queue_url, dlq_url = connect_bucket_to_queue(
        s3_client, sqs, bucket=s3_bucket, queue_name=name, max_receive_count=2
    )
    # Configuring notifications makes S3 (and moto) send an s3:TestEvent: take it off.
    seen = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])
    for msg in seen:
        assert json.loads(msg["Body"])["Event"] == "s3:TestEvent"
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])
    return {"sqs": sqs, "queue": queue_url, "dlq": dlq_url}


def _bridge(queues: dict[str, Any], bucket: str, emitter: Recorder, **kw: Any) -> SqsBridge:
    return SqsBridge(queues["sqs"], queues["queue"], f"s3://{bucket}", emitter,
                     wait_seconds=1, is_complete=None, **kw)


def _depth(queues: dict[str, Any], which: str) -> int:
    attrs = queues["sqs"].get_queue_attributes(
        QueueUrl=queues[which],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _drain(bridge: SqsBridge, rounds: int = 5) -> None:
    for _ in range(rounds):
        if bridge.poll_once() == 0:
            return


def test_s3_puts_reach_the_bridge_through_sqs_and_messages_are_deleted(
    s3_client: Any, s3_bucket: str, queues: dict[str, Any]
) -> None:
    rec = Recorder()
    bridge = _bridge(queues, s3_bucket, rec)
    for name in ("application.json", "id_document.jpg", "selfie.jpg"):
        s3_client.put_object(Bucket=s3_bucket, Key=f"incoming/app 1/{name}", Body=b"x")
    s3_client.put_object(Bucket=s3_bucket, Key="other/readme.txt", Body=b"x")  # filtered by S3
    _drain(bridge)
    assert sorted(o.key for o in rec.emitted) == [
        "incoming/app 1/application.json", "incoming/app 1/id_document.jpg", "incoming/app 1/selfie.jpg",
    ]
    assert {o.application_id for o in rec.emitted} == {"app 1"}
    assert all(o.etag for o in rec.emitted)
    assert _depth(queues, "queue") == 0


def test_redelivered_message_emits_no_second_event(
    s3_bucket: str, queues: dict[str, Any]
) -> None:
    rec = Recorder()
    bridge = _bridge(queues, s3_bucket, rec)
    body = _body(_record("incoming/a/selfie.jpg", bucket=s3_bucket))
    queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody=body)
    queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody=body)  # at-least-once
    _drain(bridge)
    assert len(rec.emitted) == 1 and bridge.stats.duplicates == 1
    assert _depth(queues, "queue") == 0


def test_message_is_kept_when_the_event_cannot_be_emitted(
    s3_bucket: str, queues: dict[str, Any]
) -> None:
    rec = Recorder()
    rec.fail = True
    bridge = _bridge(queues, s3_bucket, rec, visibility_timeout=1)
    queues["sqs"].send_message(
        QueueUrl=queues["queue"], MessageBody=_body(_record("incoming/a/selfie.jpg", bucket=s3_bucket))
    )
    bridge.poll_once()
    assert rec.emitted == [] and bridge.stats.emit_failures == 1
    assert _depth(queues, "queue") == 1  # not deleted: it will be delivered again
    rec.fail = False
    time.sleep(1.2)
    _drain(bridge)
    assert [o.key for o in rec.emitted] == ["incoming/a/selfie.jpg"]
    assert _depth(queues, "queue") == 0


def test_poison_message_goes_to_the_dlq_with_the_reason(
    s3_bucket: str, queues: dict[str, Any]
) -> None:
    rec = Recorder()
    bridge = _bridge(queues, s3_bucket, rec, dlq_url=queues["dlq"])
    queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody="{not json")
    queues["sqs"].send_message(
        QueueUrl=queues["queue"], MessageBody=_body(_record("incoming/a/selfie.jpg", bucket=s3_bucket))
    )
    _drain(bridge)
    assert len(rec.emitted) == 1 and bridge.stats.poison == 1
    assert _depth(queues, "queue") == 0
    got = queues["sqs"].receive_message(
        QueueUrl=queues["dlq"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert got[0]["Body"] == "{not json"
    assert "not JSON" in got[0]["MessageAttributes"]["kyc-error"]["StringValue"]


def test_without_our_dlq_the_redrive_policy_moves_poison_after_max_receives(
    s3_bucket: str, queues: dict[str, Any]
) -> None:
    rec = Recorder()
    bridge = _bridge(queues, s3_bucket, rec, visibility_timeout=1)
    queues["sqs"].send_message(QueueUrl=queues["queue"], MessageBody="garbage")
    for _ in range(3):  # maxReceiveCount is 2 in this fixture
        bridge.poll_once()
        time.sleep(1.1)
    bridge.poll_once()
    assert _depth(queues, "queue") == 0
    assert _depth(queues, "dlq") == 1


# --- local folder -------------------------------------------------------------------------


def test_folder_watcher_emits_new_and_changed_objects_once(tmp_path: Path) -> None:
    from kyc.storage.local import LocalStore

    store = LocalStore(tmp_path)
    store.put("incoming/old/application.json", b"{}")
    rec = Recorder()
    watcher = FolderWatcher(tmp_path, rec, settle_seconds=0, is_complete=None)
    assert watcher.scan_once() == []  # what was there at start is the sweep's business
    store.put("incoming/new/application.json", b"{}")
    store.put("incoming/new/selfie.jpg", b"jpg")
    store.put("notes.txt", b"ignored")
    assert sorted(o.key for o in watcher.scan_once()) == [
        "incoming/new/application.json", "incoming/new/selfie.jpg",
    ]
    assert watcher.scan_once() == []
    store.put("incoming/new/selfie.jpg", b"another jpg")
    (changed,) = watcher.scan_once()
    assert changed.key == "incoming/new/selfie.jpg" and changed.landing == str(tmp_path.resolve())
    assert len({o.event_id for o in rec.emitted}) == 3


def test_folder_watcher_waits_for_files_still_being_written(tmp_path: Path) -> None:
    from kyc.storage.local import LocalStore

    rec = Recorder()
    now = [time.time()]
    watcher = FolderWatcher(tmp_path, rec, settle_seconds=5, is_complete=None, clock=lambda: now[0])
    watcher.scan_once()
    LocalStore(tmp_path).put("incoming/a/selfie.jpg", b"jpg")
    assert watcher.scan_once() == []
    now[0] += 10
    assert [o.key for o in watcher.scan_once()] == ["incoming/a/selfie.jpg"]


def test_folder_watcher_retries_after_a_failed_emit_and_labels_completeness(tmp_path: Path) -> None:
    from deployments.bridge import landing_is_complete
    from kyc import runtime
    from kyc.storage.local import LocalStore

    runtime.reset()
    rec = Recorder()
    watcher = FolderWatcher(tmp_path, rec, settle_seconds=0, replay=True,
                            is_complete=landing_is_complete)
    store = LocalStore(tmp_path)
    store.put("incoming/a/application.json", b"{}")
    store.put("incoming/a/id_document.jpg", b"jpg")
    rec.fail = True
    with pytest.raises(ConnectionError):
        watcher.scan_once()
    rec.fail = False
    store.put("incoming/a/selfie.jpg", b"jpg")
    emitted = watcher.scan_once()
    assert len(emitted) == 3
    assert [o.complete for o in emitted].count(True) == 1
    assert os.path.basename(next(o.key for o in emitted if o.complete)) in {
        "application.json", "id_document.jpg", "selfie.jpg"
    }
