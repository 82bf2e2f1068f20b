"""The worker's housekeeping: what only grows is pruned past its retention, in bounded
batches, as the app role, and what must stay (recent rows, a session an order points at,
an outbox row not yet synced) stays; counts reach the log and the metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from db import logs
from db.pool import Database
from sync.config import SyncSettings
from sync.metrics import SyncMetrics
from sync.worker import Worker
from tests.conftest import expect, order_body

DbSql = Callable[..., list[dict[str, Any]]]


def count(db_sql: DbSql, table: str) -> int:
    return int(db_sql(f"SELECT count(*) AS n FROM {table}")[0]["n"])  # noqa: S608  # fixed table names


async def test_housekeeping_prunes_each_table_past_its_retention_in_batches_and_keeps_the_rest(
        client, make_restaurant, make_user, open_guest, db_sql, app_conninfo, capsys):
    r = await make_restaurant()
    await make_user()  # a second login: another refresh token
    guest = await open_guest(r)
    expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r),
                             ), 201)  # keeps its session
    for _ in range(3):
        expect(await client.post(r.url("/orders"), headers=guest.headers, json=order_body(r)), 201)
    expect(await client.post(r.url("/orders"), headers={**guest.headers, "Idempotency-Key": "k-old"},
                             json=order_body(r)), 201)
    await open_guest(r)
    await open_guest(r, 1)
    # Age some of everything past its retention (the app would have written them days ago).
    db_sql("UPDATE guest_sessions SET expires_at = now() - interval '3 days'")  # every session expired
    db_sql("UPDATE refresh_tokens SET expires_at = now() - interval '3 days'"
           " WHERE id = (SELECT id FROM refresh_tokens ORDER BY created_at LIMIT 1)")
    db_sql("UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'k-old'")
    db_sql("UPDATE sync_log SET status = 'synced', synced_at = now() - interval '8 days'"
           " WHERE entity_type = 'menu_item'")
    db_sql("UPDATE sync_log SET status = 'failed', created_at = now() - interval '8 days'"
           " WHERE entity_type = 'table'")  # old but not synced: never pruned
    db_sql("INSERT INTO webhook_deliveries (restaurant_id, source, kind, body, body_sha256, result, received_at)"
           " SELECT %s, 'petpooja', 'stock', 'x', '\\x00', 'applied', now() - make_interval(days => d)"
           " FROM unnest(ARRAY[40, 41, 42, 1]) AS d", (r.id,))
    db_sql("INSERT INTO platform_webhook_events (platform, event_id, event_type, received_at)"
           " SELECT 'ubereats', 'e' || d, 'orders.notification', now() - make_interval(days => d)"
           " FROM unnest(ARRAY[31, 40, 2]) AS d")
    db_sql("INSERT INTO stripe_events (id, type, outcome, received_at)"
           " SELECT 'evt_' || d, 'payment_intent.succeeded', 'applied', now() - make_interval(days => d)"
           " FROM unnest(ARRAY[31, 3]) AS d")
    db_sql("INSERT INTO voice_calls (restaurant_id, call_id, ended_reason, transcript, received_at)"
           " SELECT %s, 'call-' || d, 'customer-ended-call', 'AI: Hello', now() - make_interval(days => d)"
           " FROM unnest(ARRAY[91, 92, 89]) AS d", (r.id,))
    for email, expired_days_ago in (("old@example.com", 3), ("fresh@example.com", -7)):
        db_sql("INSERT INTO member_invitations (restaurant_id, email, role, expires_at)"
               " VALUES (%s, %s, 'staff', now() - make_interval(days => %s))", (r.id, email, expired_days_ago))
    # Reset tokens expired 3 days ago (spent or not) go; one expiring in an hour stays. Mail sent
    # 3 days ago goes; mail sent today and mail never sent (still owed) stay.
    db_sql("INSERT INTO password_reset_tokens (user_id, token_hash, expires_at, used_at)"
           " SELECT id, uuid_send(gen_random_uuid()), now() + make_interval(hours => h), CASE WHEN h < 0 THEN now() END"
           " FROM users, unnest(ARRAY[-72, -73, 1]) AS h")
    db_sql("INSERT INTO outbound_emails (user_id, kind, recipient, subject, body, key_id, sent_at)"
           " SELECT id, 'password_reset', email, 'Reset', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'k1', now() - make_interval(days => d)"
           " FROM users, unnest(ARRAY[3, 0]) AS d")
    db_sql("INSERT INTO outbound_emails (user_id, kind, recipient, subject, body, key_id)"
           " SELECT id, 'password_reset', email, 'Reset', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'k1' FROM users")
    users = count(db_sql, "users")
    before = {table: count(db_sql, table) for table in ("guest_sessions", "refresh_tokens", "idempotency_keys",
                                                        "webhook_deliveries", "sync_log", "member_invitations",
                                                        "platform_webhook_events", "password_reset_tokens",
                                                        "outbound_emails", "stripe_events", "voice_calls")}
    old_items = count(db_sql, "sync_log WHERE entity_type = 'menu_item'")
    assert users == 2
    metrics = SyncMetrics(CollectorRegistry())
    logs.configure("json", "INFO")  # the worker's level (the app's fixture set WARNING)
    capsys.readouterr()
    worker = Worker(Database(app_conninfo, min_size=1, max_size=2), [], SyncSettings(), metrics=metrics)
    worker.prune_batch = 2  # several batches per table
    await worker.db.open(wait=True)
    try:
        deleted = await worker.housekeeping()
        again = await worker.housekeeping()
    finally:
        await worker.db.close()

    assert deleted == {"sync_log": old_items, "guest_sessions": 2, "refresh_tokens": 1, "idempotency_keys": 1,
                       "webhook_deliveries": 3, "member_invitations": 1, "platform_webhook_events": 2,
                       "stripe_events": 1, "password_reset_tokens": 2 * users, "outbound_emails": users,
                       "voice_calls": 2}
    assert set(again.values()) == {0}
    after = {table: count(db_sql, table) for table in before}
    assert after == {table: before[table] - deleted[table] for table in before}
    # The session that placed orders stays with them; the keys, tokens and deliveries of today stay.
    assert db_sql("SELECT count(*) AS n FROM orders o JOIN guest_sessions s"
                  " ON s.restaurant_id = o.restaurant_id AND s.id = o.session_id")[0]["n"] == 5
    assert count(db_sql, "sync_log WHERE entity_type = 'table' AND status = 'failed'") == 2
    assert count(db_sql, "webhook_deliveries") == 1
    assert db_sql("SELECT event_id FROM platform_webhook_events") == [{"event_id": "e2"}]
    assert db_sql("SELECT id FROM stripe_events") == [{"id": "evt_3"}]
    assert db_sql("SELECT call_id FROM voice_calls") == [{"call_id": "call-89"}]
    assert count(db_sql, "password_reset_tokens WHERE expires_at > now()") == users
    assert count(db_sql, "outbound_emails WHERE sent_at IS NULL") == users
    assert count(db_sql, "outbound_emails WHERE sent_at > now() - interval '1 hour'") == users
    pruned = {s.labels["table"]: s.value for f in metrics.pruned.collect() for s in f.samples
              if s.name.endswith("_total")}
    assert pruned == {table: float(n) for table, n in deleted.items()}
    [line, _] = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"housekeeping"' in x]
    assert {k: line[k] for k in deleted} == deleted
