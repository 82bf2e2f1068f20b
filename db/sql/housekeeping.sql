-- The worker's housekeeping: tables that only grow are pruned in bounded batches (each its
-- own short transaction, rows other transactions hold are skipped, never waited for).

-- name: prune_guest_sessions
-- Guest sessions expired longer than the retention that no order points at (an order keeps the session that placed it).
DELETE FROM guest_sessions g
 USING (SELECT s.restaurant_id, s.id FROM guest_sessions s
         WHERE s.expires_at < now() - make_interval(secs => %(retention_s)s)
           AND NOT EXISTS (SELECT FROM orders o WHERE o.restaurant_id = s.restaurant_id AND o.session_id = s.id)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE g.restaurant_id = old.restaurant_id AND g.id = old.id;

-- name: prune_refresh_tokens
-- Refresh tokens expired longer than the retention (a spent or revoked one is useless once expired too).
DELETE FROM refresh_tokens t
 USING (SELECT id FROM refresh_tokens
         WHERE expires_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE t.id = old.id;

-- name: prune_idempotency_keys
-- Idempotency keys past the replay window: a retry later than this is a new order.
DELETE FROM idempotency_keys k
 USING (SELECT restaurant_id, key FROM idempotency_keys
         WHERE created_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE k.restaurant_id = old.restaurant_id AND k.key = old.key;

-- name: prune_webhook_deliveries
-- Partner callbacks received longer ago than the retention (through a function: the app role may not delete them otherwise).
SELECT prune_webhook_deliveries(%(retention_s)s, %(limit)s) AS deleted;

-- name: prune_member_invitations
-- Member invitations expired longer ago than the retention, answered or not.
DELETE FROM member_invitations m
 USING (SELECT restaurant_id, id FROM member_invitations
         WHERE expires_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE m.restaurant_id = old.restaurant_id AND m.id = old.id;

-- name: prune_platform_webhook_events
-- Platform webhook events received longer ago than the retention (a platform retries for minutes, not days).
DELETE FROM platform_webhook_events e
 USING (SELECT platform, event_id FROM platform_webhook_events
         WHERE received_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE e.platform = old.platform AND e.event_id = old.event_id;

-- name: prune_stripe_events
-- Stripe events received longer ago than the retention (Stripe retries an event for days, not
-- weeks; a replay after that would move nothing anyway: payments move forward only).
DELETE FROM stripe_events e
 USING (SELECT id FROM stripe_events
         WHERE received_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE e.id = old.id;

-- name: prune_password_reset_tokens
-- Password reset tokens expired longer ago than the retention, spent or not (a spent one is refused by used_at, an expired one by expires_at: either way only a record).
DELETE FROM password_reset_tokens t
 USING (SELECT id FROM password_reset_tokens
         WHERE expires_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE t.id = old.id;

-- name: prune_outbound_emails
-- Email the SMTP server accepted longer ago than the retention (a sealed body of a sent reset mail is no use to anyone). Unsent mail stays: its outbox row is still owed.
DELETE FROM outbound_emails e
 USING (SELECT id FROM outbound_emails
         WHERE sent_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE e.id = old.id;

-- name: prune_voice_calls
-- Vapi end-of-call reports received longer ago than the retention: their transcripts and
-- summaries carry what callers said (names, numbers), kept only as long as an operator needs them.
-- The call's orders stay, and so do voice_orders (an order's link to its call).
DELETE FROM voice_calls c
 USING (SELECT restaurant_id, call_id FROM voice_calls
         WHERE received_at < now() - make_interval(secs => %(retention_s)s)
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) old
 WHERE c.restaurant_id = old.restaurant_id AND c.call_id = old.call_id;
