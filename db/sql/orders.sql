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

-- name: set_idempotency_order
-- Remembers which order a key created.
UPDATE idempotency_keys SET order_id = %(order_id)s
 WHERE restaurant_id = %(restaurant_id)s AND key = %(key)s;

-- name: next_order_number
-- Takes the restaurant's next human order number with its pricing settings. The counter
-- row stays locked until commit, so this runs as late in the transaction as it can.
UPDATE order_counters c
   SET last_order_number = c.last_order_number + 1
  FROM restaurants r
 WHERE c.restaurant_id = %(restaurant_id)s AND r.id = c.restaurant_id
RETURNING c.last_order_number AS number, r.currency, r.tax_rate_bps;

-- name: insert_order
-- Creates the order row with its computed totals.
INSERT INTO orders (restaurant_id, number, table_id, session_id, placed_by_user, order_type,
                    customer_name, customer_phone, notes, currency, subtotal, tax, tip,
                    discount, total)
VALUES (%(restaurant_id)s, %(number)s, %(table_id)s, %(session_id)s, %(placed_by_user)s,
        %(order_type)s, %(customer_name)s, %(customer_phone)s, %(notes)s, %(currency)s,
        %(subtotal)s, %(tax)s, %(tip)s, %(discount)s, %(total)s)
RETURNING id;

-- name: insert_order_items
-- Inserts all lines of an order in one statement.
INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price,
                         quantity, line_total, notes)
SELECT %(restaurant_id)s, %(order_id)s, l.position, l.menu_item_id, l.name, l.unit_price,
       l.quantity, l.line_total, l.notes
  FROM unnest(%(positions)s::int[], %(menu_item_ids)s::uuid[], %(names)s::text[],
              %(unit_prices)s::bigint[], %(quantities)s::int[], %(line_totals)s::bigint[],
              %(notes)s::text[])
       AS l(position, menu_item_id, name, unit_price, quantity, line_total, notes);

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
