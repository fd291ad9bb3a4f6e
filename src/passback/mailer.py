"""Outgoing email, by Amazon SES (the one adapter for it).

Locally moto's SES accepts the mail; since moto keeps it out of reach of a person, the local
stack also sets `PASSBACK_MAIL_DIR` and each message is written there as an `.eml` file, the
folder `passback serve` names in its banner. A deployed stack never sets it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from passback import aws
from passback.observability import logger


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


class Mailer:
    def __init__(self, sender: str, mail_dir: str | None = None) -> None:
        self.sender = sender
        self.mail_dir = Path(mail_dir) if mail_dir else None

    def send(self, mail: Mail, now: datetime) -> str:
        """Send by SES; returns SES's message id."""
        answer = aws.ses().send_email(
            Source=self.sender,
            Destination={"ToAddresses": [mail.to]},
            Message={
                "Subject": {"Data": mail.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": mail.text, "Charset": "UTF-8"},
                    "Html": {"Data": mail.html, "Charset": "UTF-8"},
                },
            },
        )
        message_id = str(answer["MessageId"])
        if self.mail_dir is not None:
            self._keep(mail, message_id, now)
        # The body carries a single-use link: only the fact of sending is logged, never the body.
        logger.info("mail sent", extra={"subject": mail.subject, "ses_message_id": message_id})
        return message_id

    def _keep(self, mail: Mail, message_id: str, now: datetime) -> None:
        assert self.mail_dir is not None
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = now.strftime("%a, %d %b %Y %H:%M:%S +0000")
        message["Message-ID"] = f"<{message_id}@ses.local>"
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        self.mail_dir.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_-]", "", message_id)[:40] or uuid.uuid4().hex
        path = self.mail_dir / f"{now.strftime('%Y%m%dT%H%M%S%f')}-{safe}.eml"
        path.write_bytes(bytes(message))
