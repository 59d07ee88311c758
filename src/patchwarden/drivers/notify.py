"""Telling people: a webhook (a JSON POST) and e-mail over SMTP.

E-mail goes through the standard library's :mod:`smtplib` to the server the caller names
(with STARTTLS and a login when it asks for them); the message is built with
:mod:`email.message`, so headers are encoded as the RFCs say. Credentials are never logged
nor put into errors.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx

from patchwarden import __version__
from patchwarden.errors import DriverError, TransientDriverError

__all__ = ["Mailer", "SmtpConfig", "post_webhook", "sign"]


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the body in hex.

    Example (``printf '{}' | openssl dgst -sha256 -hmac key`` agrees):
        >>> sign(b"key", b"{}")[:15]
        'sha256=a777724d'
    """
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SmtpConfig:
    """Where e-mail goes.

    Attributes:
        host: The SMTP server.
        port: Its port (25, or 587 with ``starttls``).
        sender: The ``From`` address.
        starttls: Upgrade the connection with STARTTLS before sending.
        username: Log in as this user (with ``password``) when set.
        password: The login's password; never logged.
        timeout_s: Seconds to wait for the server.
        ca_file: Trust this CA for STARTTLS (the system's when empty).
    """

    host: str
    port: int = 25
    sender: str = "patchwarden@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""
    timeout_s: float = 30.0
    ca_file: str = ""

    def __repr__(self) -> str:
        return f"SmtpConfig(host={self.host!r}, port={self.port}, sender={self.sender!r})"


class Mailer:
    """Sends plain-text e-mail through one SMTP server."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(
        self,
        to: Sequence[str],
        subject: str,
        body: str,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Send one message to ``to``; returns its ``Message-ID``.

        Raises:
            TransientDriverError: The server could not be reached or refused the message.
        """
        c = self.config
        message = EmailMessage()
        message["From"] = c.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=c.sender.rpartition("@")[2] or None)
        message["User-Agent"] = f"patchwarden/{__version__}"
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(body)
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                if c.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=c.ca_file or None))
                if c.username:
                    smtp.login(c.username, c.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise TransientDriverError(
                f"cannot send mail through {c.host}:{c.port}: {type(error).__name__}: "
                f"{getattr(error, 'smtp_error', error)!s}"
            ) from None
        return str(message["Message-ID"])


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    timeout_s: float = 30.0,
    transport: httpx.BaseTransport | None = None,
    *,
    secret: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> int:
    """POST ``payload`` as JSON to ``url``; returns the status code.

    With a ``secret``, ``X-Patchwarden-Signature: sha256=HEX`` carries the HMAC-SHA256 of
    the exact body bytes, so the receiver can check who sent it and that nothing changed.

    Raises:
        TransientDriverError: The server could not be reached or answered 5xx.
        DriverError: It answered 4xx (the hook refuses what we send).
    """
    body = json.dumps(dict(payload), sort_keys=True).encode()
    sent = {
        "User-Agent": f"patchwarden/{__version__}",
        "Content-Type": "application/json",
        **(headers or {}),
    }
    if secret:
        sent["X-Patchwarden-Signature"] = sign(secret, body)
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(url, content=body, headers=sent)
    except httpx.HTTPError as error:
        raise TransientDriverError(f"cannot reach webhook {url}: {error}") from None
    if response.status_code >= 500:
        raise TransientDriverError(f"webhook {url} answered {response.status_code}")
    if response.status_code >= 400:
        raise DriverError(f"webhook {url} refused the message: {response.status_code}")
    return response.status_code
