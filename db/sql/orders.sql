-- name: claim_idempotency_key
-- Claims a client's Idempotency-Key; returns nothing when it was claimed before (a
-- concurrent claim waits here until the first transaction ends).
INSERT INTO idempotency_keys (restaurant_id, key, principal, request_hash)
VALUES (%(restaurant_id)s, %(key)s, %(principal)s, %(request_hash)s)
ON CONFLICT (restaurant_id, key) DO NOTHING
RETURNING key;

-- name: get_idempotency_key
-- The earlier use of an Idempotency-Key.
SELECT principal, request_hash, order_id
  FROM idempotency_keys
 WHERE restaurant_id = %(restaurant_id)s AND key = %(key)s;

-- name: order_menu
-- The restaurant's pricing settings and store switch with the live items an order names,
-- each with the order types it is offered for, whether it came from the POS (then its taxes
-- are exactly the POS's), its live variations, the live addon groups it offers (its own
-- min/max, with their live addons) and its live taxes (one row with NULL item columns when
-- the order names none of them). The store is closed while accepting_orders is off, until
-- reopens_at.
SELECT r.currency, r.tax_rate_bps,
       NOT r.accepting_orders AND (r.reopens_at IS NULL OR r.reopens_at > now()) AS store_closed,
       r.closed_reason, r.reopens_at,
       m.id, m.name, m.price, m.is_available, m.order_types, m.external_id IS NOT NULL AS imported,
       coalesce((SELECT json_agg(json_build_object(
                            'id', v.id, 'name', v.name, 'price', v.price, 'is_available', v.is_available)
                        ORDER BY v.rank, v.name, v.id)
                   FROM menu_variations v
                  WHERE v.restaurant_id = m.restaurant_id AND v.item_id = m.id AND v.deleted_at IS NULL),
                '[]') AS variations,
       coalesce((SELECT json_agg(json_build_object(
                            'id', g.id, 'external_id', g.external_id, 'name', g.name,
                            'min_select', l.min_select, 'max_select', l.max_select,
                            'addons', coalesce((SELECT json_agg(json_build_object(
                                                         'id', a.id, 'external_id', a.external_id, 'name', a.name,
                                                         'price', a.price, 'is_available', a.is_available)
                                                     ORDER BY a.rank, a.name, a.id)
                                                  FROM menu_addons a
                                                 WHERE a.restaurant_id = g.restaurant_id AND a.group_id = g.id
                                                   AND a.deleted_at IS NULL), '[]'))
                        ORDER BY l.rank, g.name, g.id)
                   FROM menu_item_addon_groups l
                   JOIN menu_addon_groups g
                     ON g.restaurant_id = l.restaurant_id AND g.id = l.group_id AND g.deleted_at IS NULL
                  WHERE l.restaurant_id = m.restaurant_id AND l.item_id = m.id),
                '[]') AS addon_groups,
       coalesce((SELECT json_agg(json_build_object(
                            'id', t.id, 'external_id', t.external_id, 'name', t.name, 'rate_bps', t.rate_bps)
                        ORDER BY t.name, t.id)
                   FROM menu_item_taxes it
                   JOIN menu_taxes t ON t.restaurant_id = it.restaurant_id AND t.id = it.tax_id AND t.deleted_at IS NULL
                  WHERE it.restaurant_id = m.restaurant_id AND it.item_id = m.id),
                '[]') AS taxes
  FROM restaurants r
  LEFT JOIN menu_items m
         ON m.restaurant_id = r.id AND m.id = ANY(%(item_ids)s::uuid[]) AND m.deleted_at IS NULL
 WHERE r.id = %(restaurant_id)s;

-- name: insert_order
-- Takes the restaurant's next order number and creates the order with its lines, its first
-- status event and its Idempotency-Key link in one statement (one round trip), returning it
-- shaped like order_documents. The counter row stays locked until commit, which is the very
-- next thing the caller does: under load, a lock held across more round trips queues every
-- other order of the restaurant behind it. The items' statement trigger touches the order
-- after the statement with an identical row, so the new order stays at version 1 with one
-- outbox row.
WITH n AS (
    UPDATE order_counters SET last_order_number = last_order_number + 1
     WHERE restaurant_id = %(restaurant_id)s
    RETURNING last_order_number
), o AS (
    INSERT INTO orders (restaurant_id, number, table_id, session_id, placed_by_user, order_type,
                        customer_name, customer_phone, notes, currency, subtotal, tax, tip,
                        discount, total)
    SELECT %(restaurant_id)s, n.last_order_number, %(table_id)s, %(session_id)s, %(placed_by_user)s,
           %(order_type)s, %(customer_name)s, %(customer_phone)s, %(notes)s, %(currency)s,
           %(subtotal)s, %(tax)s, %(tip)s, %(discount)s, %(total)s
      FROM n
    RETURNING *
), lines AS (
    INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price,
                             quantity, line_total, notes, variation_id, variation_name, addons, taxes)
    SELECT o.restaurant_id, o.id, l.position, l.menu_item_id, l.name, l.unit_price, l.quantity,
           l.line_total, l.notes, l.variation_id, l.variation_name, l.addons::jsonb, l.taxes::jsonb
      FROM o, unnest(%(positions)s::int[], %(menu_item_ids)s::uuid[], %(names)s::text[],
                     %(unit_prices)s::bigint[], %(quantities)s::int[], %(line_totals)s::bigint[],
                     %(line_notes)s::text[], %(variation_ids)s::uuid[], %(variation_names)s::text[],
                     %(line_addons)s::text[], %(line_taxes)s::text[])
              AS l(position, menu_item_id, name, unit_price, quantity, line_total, notes, variation_id,
                   variation_name, addons, taxes)
    RETURNING *
), event AS (
    INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id)
    SELECT o.restaurant_id, o.id, NULL, o.status, %(actor_type)s, %(actor_id)s FROM o
), idempotency AS (
    UPDATE idempotency_keys k SET order_id = o.id
      FROM o
     WHERE k.restaurant_id = o.restaurant_id AND k.key = %(idempotency_key)s
)
SELECT o.id, o.restaurant_id, o.number, o.table_id, t.label AS table_label, o.session_id,
       o.status, o.order_type, o.customer_name, o.customer_phone, o.notes, o.subtotal, o.tax,
       o.tip, o.discount, o.total, o.currency, o.version, o.created_at, o.updated_at,
       (SELECT json_agg(json_build_object(
                   'id', i.id, 'menu_item_id', i.menu_item_id, 'name', i.name,
                   'unit_price', i.unit_price, 'quantity', i.quantity,
                   'line_total', i.line_total, 'notes', i.notes,
                   'variation_id', i.variation_id, 'variation_name', i.variation_name,
                   'addons', i.addons)
               ORDER BY i.position)
          FROM lines i) AS items
  FROM o
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id;

-- name: insert_order_event
-- Records a status move: who, when, from, to, why.
INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id, reason)
VALUES (%(restaurant_id)s, %(order_id)s, %(from_status)s, %(to_status)s, %(actor_type)s,
        %(actor_id)s, %(reason)s);

-- name: get_order
-- One order with its lines, shaped for the API.
SELECT * FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s;

-- name: list_orders
-- A page of orders, newest first, created at or after `since`; the cursor is the
-- (created_at, id) of the previous page's last order ('infinity' for the first page).
SELECT * FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s
   AND created_at >= %(since)s
   AND (created_at, id) < (%(cursor_created_at)s, %(cursor_id)s)
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: list_orders_by_status
-- The same page restricted to some statuses (the live-orders query of a kitchen screen).
SELECT * FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s
   AND status = ANY(%(statuses)s::text[])
   AND created_at >= %(since)s
   AND (created_at, id) < (%(cursor_created_at)s, %(cursor_id)s)
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: order_for_update
-- Locks an order before a status move, so two concurrent moves serialise.
SELECT id, status, order_type, session_id
  FROM orders
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s
   FOR UPDATE;

-- name: order_session
-- Which guest session placed an order (NULL row: no such order).
SELECT session_id
  FROM orders
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s;

-- name: set_order_status
-- Moves an order to a new status (the version trigger raises its version).
UPDATE orders SET status = %(status)s
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s;

-- name: order_events
-- An order's status history, oldest first.
SELECT from_status, to_status, actor_type, actor_id, reason, created_at
  FROM order_events
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s
 ORDER BY id;
