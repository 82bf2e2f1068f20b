-- name: petpooja_outlet_by_secret
-- The restaurant whose PetPooja callback URLs carry this secret (system scope), with what a callback needs of it.
SELECT o.restaurant_id, o.rest_id, o.callback_secret, r.timezone, r.currency
  FROM petpooja_outlets o
  JOIN restaurants r ON r.id = o.restaurant_id
 WHERE o.callback_secret = %(secret)s;

-- name: lock_webhook_kind
-- Serialises the deliveries of one kind for one restaurant until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended(%(restaurant_id)s::text || '/' || %(source)s || '/' || %(kind)s, 0));

-- name: latest_webhook_delivery
-- The restaurant's latest delivery of a kind (its body hash decides whether a new one is a replay).
SELECT id, body_sha256, result
  FROM webhook_deliveries
 WHERE restaurant_id = %(restaurant_id)s AND source = %(source)s AND kind = %(kind)s
 ORDER BY id DESC
 LIMIT 1;

-- name: insert_webhook_delivery
-- Records a delivery once, with what was made of it.
INSERT INTO webhook_deliveries (restaurant_id, source, kind, body, body_sha256, result, detail, duplicate_of)
VALUES (%(restaurant_id)s, %(source)s, %(kind)s, %(body)s, %(body_sha256)s, %(result)s, %(detail)s,
        %(duplicate_of)s)
RETURNING id;

-- name: petpooja_callback_order
-- The order a PetPooja callback names, by PetPooja's order id or by ours, locked for its status move.
SELECT o.id, o.status, o.order_type
  FROM orders o
 WHERE o.restaurant_id = %(restaurant_id)s
   AND (o.id = ANY(%(our_ids)s::uuid[])
        OR o.id IN (SELECT p.order_id
                      FROM petpooja_orders p
                     WHERE p.restaurant_id = %(restaurant_id)s AND p.petpooja_order_id = ANY(%(petpooja_ids)s::text[])))
 ORDER BY o.id = ANY(%(our_ids)s::uuid[]) DESC
 LIMIT 1
   FOR UPDATE OF o;

-- name: set_item_stock
-- Sets the availability of live menu items by PetPooja item id; which were found and which changed.
WITH known AS (
    SELECT id, external_id
      FROM menu_items
     WHERE restaurant_id = %(restaurant_id)s AND external_id = ANY(%(external_ids)s::text[]) AND deleted_at IS NULL
       FOR UPDATE
), changed AS (
    UPDATE menu_items m
       SET is_available = %(available)s
      FROM known
     WHERE m.restaurant_id = %(restaurant_id)s AND m.id = known.id AND m.is_available IS DISTINCT FROM %(available)s
    RETURNING m.id
)
SELECT known.id, known.external_id, changed.id IS NOT NULL AS changed
  FROM known
  LEFT JOIN changed ON changed.id = known.id
 ORDER BY known.external_id;

-- name: set_addon_stock
-- Sets the availability of live addons by PetPooja addon item id; which were found and which changed.
WITH known AS (
    SELECT id, external_id
      FROM menu_addons
     WHERE restaurant_id = %(restaurant_id)s AND external_id = ANY(%(external_ids)s::text[]) AND deleted_at IS NULL
       FOR UPDATE
), changed AS (
    UPDATE menu_addons a
       SET is_available = %(available)s
      FROM known
     WHERE a.restaurant_id = %(restaurant_id)s AND a.id = known.id AND a.is_available IS DISTINCT FROM %(available)s
    RETURNING a.id
)
SELECT known.id, known.external_id, changed.id IS NOT NULL AS changed
  FROM known
  LEFT JOIN changed ON changed.id = known.id
 ORDER BY known.external_id;

-- name: store_status
-- Whether the restaurant takes new orders now (a closed store reopens by itself at reopens_at).
SELECT accepting_orders OR (reopens_at IS NOT NULL AND reopens_at <= now()) AS open, closed_reason, reopens_at
  FROM restaurants
 WHERE id = %(restaurant_id)s;

-- name: set_store_status
-- Flips the store switch PetPooja's store-status callback controls; touches no row when it is already so.
UPDATE restaurants
   SET accepting_orders = %(accepting_orders)s, closed_reason = %(closed_reason)s, reopens_at = %(reopens_at)s
 WHERE id = %(restaurant_id)s
   AND (accepting_orders, closed_reason, reopens_at)
       IS DISTINCT FROM (%(accepting_orders)s, %(closed_reason)s::text, %(reopens_at)s::timestamptz);
