-- name: upsert_restaurant_webhook
-- Registers a restaurant's webhook or replaces its URL; the signing secret changes only on creation or with rotate.
INSERT INTO restaurant_webhooks (restaurant_id, url, secret, key_id)
VALUES (%(restaurant_id)s, %(url)s, %(secret)s, %(key_id)s)
ON CONFLICT (restaurant_id) DO UPDATE
   SET url = excluded.url,
       secret = CASE WHEN %(rotate)s THEN excluded.secret ELSE restaurant_webhooks.secret END,
       key_id = CASE WHEN %(rotate)s THEN excluded.key_id ELSE restaurant_webhooks.key_id END
RETURNING url, created_at, updated_at, xmax = 0 AS created, secret = %(secret)s AS secret_issued;

-- name: get_restaurant_webhook
-- A restaurant's webhook without its secret.
SELECT url, created_at, updated_at
  FROM restaurant_webhooks
 WHERE restaurant_id = %(restaurant_id)s;

-- name: delete_restaurant_webhook
-- Removes a restaurant's webhook; its undelivered rows are skipped by the worker.
DELETE FROM restaurant_webhooks
 WHERE restaurant_id = %(restaurant_id)s;

-- name: webhook_endpoints
-- The webhooks of some restaurants with their sealed secrets (system scope, for the worker).
SELECT restaurant_id, url, secret, key_id
  FROM restaurant_webhooks
 WHERE restaurant_id = ANY(%(restaurant_ids)s::uuid[]);

-- name: claim_due_webhooks
-- claim_due for the webhook target (no grace: no pusher races it), skipping an order while another
-- delivery of it is in flight under a live lease, so that one order's deliveries never overtake each other.
UPDATE sync_log s
   SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => %(lease_s)s),
       lease_owner = %(owner)s, updated_at = now()
  FROM (SELECT d.id FROM sync_log d
         WHERE d.target = 'webhook' AND d.status IN ('pending', 'failed', 'in_flight')
           AND d.next_attempt_at <= now()
           AND NOT EXISTS (SELECT FROM sync_log f
                            WHERE f.restaurant_id = d.restaurant_id AND f.target = 'webhook'
                              AND f.status = 'in_flight' AND f.next_attempt_at > now()
                              AND f.entity_type = d.entity_type AND f.entity_id = d.entity_id AND f.id <> d.id)
         ORDER BY d.next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE OF d SKIP LOCKED) due
 WHERE s.id = due.id
RETURNING s.id, s.restaurant_id, s.entity_type, s.entity_id, s.entity_version, s.attempts;

-- name: latest_order_events
-- The newest status event of each order: from what, to what, by whom, when.
SELECT DISTINCT ON (e.order_id) e.order_id, e.from_status, e.to_status, e.actor_type, e.created_at
  FROM order_events e
  JOIN unnest(%(restaurant_ids)s::uuid[], %(order_ids)s::uuid[]) AS k(restaurant_id, order_id)
    ON e.restaurant_id = k.restaurant_id AND e.order_id = k.order_id
 ORDER BY e.order_id, e.id DESC;

-- name: skip_webhook_rows
-- Claimed rows with nothing to deliver (no webhook any more, or the order is gone): done, the reason kept.
UPDATE sync_log
   SET status = 'synced', synced_at = now(), last_error = left(%(reason)s, 2000), updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: supersede_webhook_rows
-- Older undelivered rows of orders whose newer state was just delivered: nothing of theirs is left to send.
UPDATE sync_log s
   SET status = 'synced', synced_at = now(), last_error = NULL, updated_at = now()
  FROM unnest(%(restaurant_ids)s::uuid[], %(entity_ids)s::uuid[], %(versions)s::bigint[])
       AS d(restaurant_id, entity_id, version)
 WHERE s.restaurant_id = d.restaurant_id AND s.target = 'webhook' AND s.status IN ('pending', 'failed')
   AND s.entity_type = 'order' AND s.entity_id = d.entity_id AND s.entity_version <= d.version;
