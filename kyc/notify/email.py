"""SMTP email (smtplib) as a :class:`~kyc.notify.base.Channel`."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

from kyc.notify.base import DeliveryFailed, Notification

TlsMode = Literal["starttls", "ssl", "none"]


class EmailChannel:
    """Sends the notification's text as a plain-text email.

    Recipients are the notification's own (expiry reminders go to the document's
    holder) or else the channel's default list (the customer-service team).
    Errors are reported by SMTP code and class only: smtplib's messages can quote
    recipient addresses, which must not reach logs.
    """

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        default_to: Sequence[str] = (),
        tls: TlsMode = "starttls",
        user: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        """Remember the server; nothing connects until :meth:`send`.

        Args:
            host: SMTP server.
            port: its port (587 for STARTTLS, 465 for implicit TLS).
            sender: the From address.
            default_to: recipients when a notification names none.
            tls: ``starttls``, ``ssl`` or ``none`` (loopback/test servers only).
            user: login, when the server wants one.
            password: its password.
            ca_file: CA bundle for a private server certificate.
            timeout_seconds: socket timeout.
        """
        if user and tls == "none" and host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError("refusing to send an SMTP password without TLS to a remote host")
        self.host = host
        self.port = port
        self.sender = sender
        self.default_to = tuple(default_to)
        self.tls = tls
        self.user = user
        self.password = password
        self.ca_file = ca_file
        self.timeout_seconds = timeout_seconds
        self.target = f"smtp://{host}:{port}"

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=self._context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        if self.tls == "starttls":
            smtp.starttls(context=self._context())
        return smtp

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification`` (without sending it)."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(notification.recipients or self.default_to)
        msg["Subject"] = notification.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = make_msgid(idstring=notification.message_id, domain="kyc.invalid")
        # Mail clients and SIEMs can correlate with the delivery log and the webhook.
        msg["X-KYC-Message-Id"] = notification.message_id
        msg["X-KYC-Event"] = notification.event
        msg.set_content(notification.text)
        return msg

    def send(self, notification: Notification) -> int | None:
        """Connect, authenticate if configured, send once; returns 250 on success."""
        recipients = list(notification.recipients or self.default_to)
        if not recipients:
            raise DeliveryFailed("no recipients", retryable=False)
        msg = self.message(notification)
        try:
            with self._connect() as smtp:
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(msg, to_addrs=recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"SMTP authentication failed ({exc.smtp_code})",
                status_code=exc.smtp_code,
                retryable=False,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryFailed(
                f"SMTP refused every recipient (codes {codes})",
                status_code=codes[0] if codes else None,
                # 4xx is "try again later"; 5xx is permanent.
                retryable=all(400 <= c < 500 for c in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailed(
                f"SMTP {type(exc).__name__} ({exc.smtp_code})",
                status_code=exc.smtp_code,
                retryable=400 <= exc.smtp_code < 500 or exc.smtp_code == 421,
            ) from exc
        except (TimeoutError, smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(f"SMTP {type(exc).__name__}") from exc
        if refused:
            # Some recipients accepted: the message is out; say how many were not.
            raise DeliveryFailed(
                f"SMTP refused {len(refused)} of {len(recipients)} recipients",
                status_code=250,
                retryable=False,
            )
        return 250


__all__ = ["EmailChannel", "TlsMode"]
