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

-- name: latest_order_events
-- The newest status event of each order: from what, to what, by whom, when.
SELECT DISTINCT ON (e.order_id) e.order_id, e.from_status, e.to_status, e.actor_type, e.created_at
  FROM order_events e
  JOIN unnest(%(restaurant_ids)s::uuid[], %(order_ids)s::uuid[]) AS k(restaurant_id, order_id)
    ON e.restaurant_id = k.restaurant_id AND e.order_id = k.order_id
 ORDER BY e.order_id, e.id DESC;
