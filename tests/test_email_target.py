"""The email outbox target against a real SMTP server (scripts/smtp_standin.py), driven by the engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import pytest

from db import accounts
from db.credentials import worker_box
from db.pool import Database
from sync.config import SyncSettings
from sync.email.target import email_target, message_id
from tests.conftest import Served, SmtpStandin

FAST = SyncSettings(sync_backoff_base_s=0.01, sync_backoff_max_s=0.05, sync_max_attempts=3)


@pytest.fixture
async def served(system_db: Database, smtp_standin: SmtpStandin) -> AsyncIterator[Served]:
    target = email_target(system_db, FAST, smtp_standin.smtp, {})
    assert target is not None
    yield Served(system_db, target)
    await target.close()


async def queue(db: Database, recipient: str = "asha@example.com") -> UUID:
    box = worker_box({})
    assert box is not None
    async with db.system() as conn:
        return await accounts.queue_email(conn, box, user_id=None, kind="password_reset", recipient=recipient,
                                          subject="Hello", body="the body text\n")


def outbox(db_sql: Callable[..., list[dict[str, Any]]], email_id: UUID) -> list[dict[str, Any]]:
    return db_sql("SELECT status, attempts, last_error FROM sync_log WHERE target = 'email' AND entity_id = %s",
                  (email_id,))


async def test_an_email_is_delivered_once_and_never_sent_again(
        served: Served, system_db: Database, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """A queued email reaches the SMTP server with its subject, body and stable Message-ID, and a
    second outbox row of it is skipped, not sent."""
    email_id = await queue(system_db)
    report = await served.round()
    assert report.synced == 1
    [message] = smtp_standin.messages()
    assert message["to"] == "asha@example.com"
    assert message["subject"] == "Hello"
    assert message["text"] == "the body text\n"
    assert message["message_id"] == message_id(email_id)
    assert outbox(db_sql, email_id)[0]["status"] == "synced"
    db_sql("INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version) "
           "VALUES ('00000000-0000-0000-0000-000000000000', 'email', 'email', %s, 1)", (email_id,))
    report = await served.round()
    assert report.skipped == 1
    assert len(smtp_standin.messages()) == 1


async def test_a_down_smtp_server_is_retried_until_it_takes_the_email(
        served: Served, system_db: Database, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """While the SMTP port refuses connections the email fails and is retried (never dead); once it
    is back, the email is delivered exactly once."""
    email_id = await queue(system_db)
    smtp_standin.fault("down")
    for _ in range(4):  # more than the maximum attempts: a down server never makes it dead
        report = await served.round()
        assert report.failed == 1
        await asyncio.sleep(0.1)
    [row] = outbox(db_sql, email_id)
    assert row["status"] == "failed"
    assert "network" in row["last_error"]
    smtp_standin.fault("ok")
    report = await served.round()
    assert report.synced == 1
    assert len(smtp_standin.messages()) == 1


async def test_a_refused_mailbox_is_dead_after_the_maximum_attempts(
        served: Served, system_db: Database, smtp_standin: SmtpStandin,
        db_sql: Callable[..., list[dict[str, Any]]]) -> None:
    """550 for the recipient is a limited retry: dead once SYNC_MAX_ATTEMPTS (3) are spent; a 451 is
    retried like an outage."""
    email_id = await queue(system_db)
    smtp_standin.fault("refuse550")
    for _ in range(3):
        await served.round()
        await asyncio.sleep(0.1)
    [row] = outbox(db_sql, email_id)
    assert row["status"] == "dead"
    assert row["attempts"] == 3
    assert "550" in row["last_error"]
    assert smtp_standin.messages() == []

    other = await queue(system_db, "ravi@example.com")
    smtp_standin.fault("refuse451", count=1)
    report = await served.round()
    assert report.failed == 1
    assert "451" in outbox(db_sql, other)[0]["last_error"]
    await asyncio.sleep(0.1)
    report = await served.round()
    assert report.synced == 1
    assert [m["to"] for m in smtp_standin.messages()] == ["ravi@example.com"]
