-- name: upsert_petpooja_outlet
-- Connects a restaurant's PetPooja outlet, or replaces its credentials; a reconnect keeps the callback secret.
INSERT INTO petpooja_outlets (restaurant_id, rest_id, environment, credentials, key_id, callback_secret)
VALUES (%(restaurant_id)s, %(rest_id)s, %(environment)s, %(credentials)s, %(key_id)s, %(callback_secret)s)
ON CONFLICT (restaurant_id) DO UPDATE
   SET rest_id = excluded.rest_id,
       environment = excluded.environment,
       credentials = excluded.credentials,
       key_id = excluded.key_id
RETURNING rest_id, environment, callback_secret, created_at, updated_at;

-- name: get_petpooja_outlet
-- A restaurant's PetPooja connection, without its credentials.
SELECT rest_id, environment, callback_secret, created_at, updated_at
  FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;

-- name: get_petpooja_credentials
-- The sealed credentials of a restaurant's PetPooja outlet and the id of the key that sealed them.
SELECT rest_id, environment, credentials, key_id
  FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;

-- name: delete_petpooja_outlet
-- Disconnects a restaurant's PetPooja outlet, credentials and callback secret with it.
DELETE FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;

-- name: petpooja_orders_for_push
-- Orders the PetPooja worker claimed: the order, its lines with PetPooja's ids, the restaurant, the outlet's callback secret, what PetPooja was sent and answered, and who cancelled it.
SELECT o.id, o.restaurant_id, o.number, o.status, o.order_type, t.label AS table_label,
       o.customer_name, o.customer_phone, o.notes, o.subtotal, o.tax, o.tip, o.discount, o.total,
       o.currency, o.created_at, o.payment_method, o.payment_status, o.delivery, o.delivery_fee,
       r.name AS restaurant_name, coalesce(r.address, '') AS restaurant_address,
       coalesce(r.phone, '') AS restaurant_phone, r.timezone,
       po.rest_id, po.callback_secret,
       p.order_id IS NOT NULL AS tracked, p.payload, p.pushed_at, p.petpooja_order_id, p.cancel_pushed_at,
       cancel.actor_type AS cancelled_by, cancel.reason AS cancel_reason,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                            'menu_item_id', i.menu_item_id, 'item_external_id', mi.external_id,
                            'name', i.name, 'unit_price', i.unit_price, 'quantity', i.quantity,
                            'line_total', i.line_total, 'notes', i.notes,
                            'variation_id', i.variation_id, 'variation_external_id', v.external_id,
                            'variation_kind_external_id', v.external_variation_id,
                            'variation_name', i.variation_name,
                            'addons', (SELECT coalesce(jsonb_agg(a.addon || jsonb_build_object(
                                                  'group_external_id', g.external_id) ORDER BY a.n), '[]')
                                         FROM jsonb_array_elements(i.addons) WITH ORDINALITY AS a(addon, n)
                                         LEFT JOIN menu_addon_groups g
                                           ON g.restaurant_id = i.restaurant_id
                                          AND g.id = (a.addon->>'group_id')::uuid),
                            'taxes', i.taxes)
                        ORDER BY i.position)
                   FROM order_items i
                   JOIN menu_items mi ON mi.restaurant_id = i.restaurant_id AND mi.id = i.menu_item_id
                   LEFT JOIN menu_variations v ON v.restaurant_id = i.restaurant_id AND v.id = i.variation_id
                  WHERE i.restaurant_id = o.restaurant_id AND i.order_id = o.id), '[]') AS items
  FROM orders o
  JOIN restaurants r ON r.id = o.restaurant_id
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id
  LEFT JOIN petpooja_outlets po ON po.restaurant_id = o.restaurant_id
  LEFT JOIN petpooja_orders p ON p.restaurant_id = o.restaurant_id AND p.order_id = o.id
  LEFT JOIN LATERAL (SELECT e.actor_type, e.reason
                       FROM order_events e
                      WHERE e.restaurant_id = o.restaurant_id AND e.order_id = o.id AND e.to_status = 'cancelled'
                      ORDER BY e.id DESC
                      LIMIT 1) cancel ON true
 WHERE o.id = ANY(%(ids)s::uuid[]);

-- name: freeze_petpooja_payload
-- Stores the save_order body (without credentials) the first time; a body frozen earlier stays, and is returned.
UPDATE petpooja_orders
   SET payload = coalesce(payload, %(payload)s::jsonb)
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s
RETURNING payload;

-- name: lock_petpooja_order
-- Takes the order's PetPooja row for one send (two workers never send the same order at once); no row when another holds it.
SELECT order_id
  FROM petpooja_orders
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s
   FOR UPDATE SKIP LOCKED;

-- name: record_petpooja_answer
-- PetPooja's answer to save_order; an acceptance also records its order id and when.
UPDATE petpooja_orders
   SET response = %(response)s::jsonb,
       petpooja_order_id = CASE WHEN %(accepted)s THEN nullif(%(petpooja_order_id)s, '') ELSE petpooja_order_id END,
       pushed_at = CASE WHEN %(accepted)s THEN coalesce(pushed_at, now()) ELSE pushed_at END
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s;

-- name: record_petpooja_cancel
-- PetPooja's answer to update_order_status (cancel); done records that no cancel is to be sent again.
UPDATE petpooja_orders
   SET cancel_response = %(response)s::jsonb,
       cancel_pushed_at = CASE WHEN %(done)s THEN coalesce(cancel_pushed_at, now()) ELSE cancel_pushed_at END
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s;

-- name: track_petpooja_orders
-- Starts PetPooja's record of claimed new orders (an order cancelled before it was ever sent gets none: nothing to cancel there).
INSERT INTO petpooja_orders (restaurant_id, order_id)
SELECT o.restaurant_id, o.id
  FROM orders o
 WHERE o.id = ANY(%(ids)s::uuid[]) AND o.status <> 'cancelled'
ON CONFLICT DO NOTHING;
