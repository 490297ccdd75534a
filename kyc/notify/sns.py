"""SNS publishing (boto3, imported lazily) as a :class:`~kyc.notify.base.Channel`."""

from __future__ import annotations

import json
from typing import Any

from kyc.notify.base import DeliveryFailed, Notification

#: SNS subjects: printable ASCII, at most 100 characters.
_SUBJECT_MAX = 100
#: Throttling and service-side errors are worth another attempt; the rest
#: (no such topic, access denied, invalid parameter) are configuration problems.
_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
    }
)


class SnsChannel:
    """Publishes the notification's JSON payload to one SNS topic.

    The message body is ``{"type", "message_id", "data"}``; ``type`` is also a
    message attribute, so subscribers can filter (decisions vs expiry reminders)
    with an SNS subscription filter policy.
    """

    name = "sns"

    def __init__(self, topic_arn: str, *, region: str, endpoint_url: str | None = None) -> None:
        """Create the client now, so a missing boto3 or bad region fails at start-up.

        Args:
            topic_arn: ``arn:aws:sns:<region>:<account>:<topic>``.
            region: the topic's region.
            endpoint_url: an SNS-compatible endpoint (moto, LocalStack); AWS when empty.
        """
        if not topic_arn.startswith("arn:"):
            raise ValueError("KYC_SNS_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:...)")
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 is a hard dependency
            raise RuntimeError("SNS notifications need boto3 (pip install boto3)") from exc
        self.topic_arn = topic_arn
        self.target = topic_arn
        # Short timeouts and no botocore retries: deliver() owns the retry policy
        # and the per-attempt log.
        self._client: Any = boto3.client(
            "sns",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=10, read_timeout=30, retries={"max_attempts": 1, "mode": "standard"}
            ),
        )

    def send(self, notification: Notification) -> int | None:
        """Publish once; returns the HTTP status of the Publish call."""
        from botocore.exceptions import BotoCoreError, ClientError

        message = json.dumps(
            {
                "type": notification.event,
                "message_id": notification.message_id,
                "data": dict(notification.data),
            },
            sort_keys=True,
        )
        subject = notification.subject.encode("ascii", "replace").decode()[:_SUBJECT_MAX]
        try:
            response = self._client.publish(
                TopicArn=self.topic_arn,
                Message=message,
                Subject=subject,
                MessageAttributes={
                    "type": {"DataType": "String", "StringValue": notification.event},
                    "message_id": {"DataType": "String", "StringValue": notification.message_id},
                },
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise DeliveryFailed(
                f"SNS {code or 'error'}",
                status_code=status,
                retryable=code in _RETRYABLE_CODES or (status or 0) >= 500,
            ) from exc
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            raise DeliveryFailed(f"SNS {type(exc).__name__}") from exc
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))


__all__ = ["SnsChannel"]
