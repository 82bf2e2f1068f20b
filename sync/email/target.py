"""The ``email`` outbox target: rows of outbound_emails sent over SMTP with aiosmtplib.

``prepare`` reads each claimed email (its sealed body opened with the worker's credentials
box); ``deliver`` sends each one inside a transaction that holds its outbound_emails row
(``FOR UPDATE SKIP LOCKED``), so no two workers send one email at once, and records
``sent_at`` there once the server accepted it: an email with ``sent_at`` is never sent
again (a later row of it is skipped). Every message carries a Message-ID derived from the
email's id, so the one case left (the server accepted it and the worker died before its
commit) reaches a receiver as a duplicate it can recognise.

Outcomes: accepted is delivered; a connection error, a timeout or a 4xx (451: try later) is
retried for as long as it takes; a 5xx (550: mailbox refused) is a limited retry, dead after
the maximum attempts (an operator's retry gives it a fresh budget).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from uuid import UUID

import aiosmtplib
import structlog

from db import accounts
from db import queries as q
from db.credentials import CredentialBox, CredentialsUnreadable, worker_box
from db.pool import Database
from db.queries import Conn, Row
from sync.config import SmtpSettings, SyncSettings, backoff_of
from sync.outcome import Delivered, Outcome, Retry, Skip
from sync.target import Job, Policy, by_entity

log = structlog.get_logger("sync")

TARGET = "email"
MESSAGE_ID_DOMAIN = "tabletop.outbox"


def message_id(email_id: UUID) -> str:
    """The same for every attempt at one email."""
    return f"<{email_id}@{MESSAGE_ID_DOMAIN}>"


def build_message(email: Row, body: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email["recipient"]
    message["Subject"] = email["subject"]
    message["Message-ID"] = message_id(email["id"])
    message["Date"] = formatdate(usegmt=True)
    message.set_content(body)
    return message


class EmailTarget:
    """Sends outbound_emails over SMTP (an engine target: sync/target.py)."""

    name = TARGET

    def __init__(self, db: Database, box: CredentialBox, smtp: SmtpSettings, *, policy: Policy):
        self.db, self.box, self.smtp, self.policy = db, box, smtp, policy

    async def close(self) -> None:
        return None  # one connection per message: nothing kept open

    async def probe(self) -> bool | None:
        return None  # rows are retried with backoff; a down server is not probed

    async def prepare(self, conn: Conn, rows: list[Row]) -> list[Job[EmailMessage | None]]:
        groups = by_entity(rows)
        found = await accounts.emails(conn, [email_id for _, email_id in groups])
        jobs: list[Job[EmailMessage | None]] = []
        for (_, email_id), group in groups.items():
            job: Job[EmailMessage | None] = Job(group, None)
            jobs.append(job)
            email = found.get(email_id)
            if email is None:
                job.settled = Skip("skipped: the email no longer exists")
            elif email["sent_at"] is not None:
                job.settled = Skip("skipped: already sent")
            else:
                try:
                    job.payload = build_message(email, accounts.open_body(self.box, email), self.smtp.smtp_from)
                except CredentialsUnreadable as exc:
                    job.settled = Retry(f"the email body cannot be opened: {exc}", limited=True)
        return jobs

    async def deliver(self, jobs: list[Job[EmailMessage | None]]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._deliver(job) for job in jobs)))

    async def _deliver(self, job: Job[EmailMessage | None]) -> Outcome:
        message = job.payload
        assert message is not None  # prepare settles every job it cannot fill
        async with self.db.system() as conn:
            held = await q.maybe_one(conn, "outbound_email_for_send", id=job.entity_id)
            if held is None:
                return Retry("another worker is sending this email")
            if held["sent_at"] is not None:
                return Skip("skipped: already sent")
            outcome = await self._send(message)
            if isinstance(outcome, Delivered):
                await q.run(conn, "mark_email_sent", id=job.entity_id)
            else:
                # The recipient is personal data: the log names the email by id only.
                log.warning("email_delivery_failed", email_id=str(job.entity_id), error=outcome.error)
        return outcome

    async def _send(self, message: EmailMessage) -> Delivered | Retry:
        smtp = self.smtp
        try:
            await aiosmtplib.send(
                message, hostname=smtp.smtp_host, port=smtp.smtp_port, timeout=smtp.smtp_timeout_s,
                username=smtp.smtp_username, password=smtp.smtp_password, start_tls=smtp.smtp_starttls,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            return Retry(f"SMTP refused the recipient: {detail}", limited=all(c >= 500 for c in codes))
        except aiosmtplib.SMTPResponseException as exc:
            return Retry(f"SMTP {exc.code}: {exc.message}", limited=exc.code >= 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Retry(f"network: {type(exc).__name__}: {exc}")
        return Delivered("accepted")


def email_target(db: Database, settings: SyncSettings, smtp: SmtpSettings,
                 environ: Mapping[str, str] | None = None) -> EmailTarget | None:
    """The target, or None when there is no SMTP server (SMTP_HOST unset) or the sealed bodies
    cannot be opened here (production without PETPOOJA_CREDENTIALS_KEY); emails then wait."""
    env = os.environ if environ is None else environ
    if not smtp.smtp_host:
        log.warning("email_target_disabled", reason="SMTP_HOST is not set")
        return None
    box = worker_box(env)
    if box is None:
        log.warning("email_target_disabled", reason="PETPOOJA_CREDENTIALS_KEY is not set")
        return None
    policy = Policy(batch_size=16, lease_s=settings.sync_lease_s, backoff=backoff_of(settings))
    return EmailTarget(db, box, smtp, policy=policy)
