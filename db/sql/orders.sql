-- name: order_context
-- Whether the caller may order here, the earlier use of its Idempotency-Key, whether a pickup
-- time falls in opening hours, a delivery order's zone, and the pricing inputs of the items it
-- names (order_context in schema.sql): one statement, its own transaction.
SELECT * FROM order_context(%(restaurant_id)s, %(trace_context)s, %(session_id)s, %(user_id)s, %(key)s,
                            %(item_ids)s::uuid[], %(pickup_at)s::timestamptz, %(delivery)s);

-- name: order_menu
-- The pricing read order_context makes (order_menu in schema.sql), named so that
-- tests/test_query_plans.py can check its plan.
SELECT * FROM order_menu(%(restaurant_id)s, %(item_ids)s::uuid[]);

-- name: place_order
-- Claims the Idempotency-Key and writes the order priced by the API with its lines, first event
-- and key link (place_order in schema.sql): one statement, its own transaction. No row when
-- an earlier request holds the key.
SELECT * FROM place_order(
    p_restaurant_id => %(restaurant_id)s, p_trace_context => %(trace_context)s, p_key => %(key)s,
    p_principal => %(principal)s, p_request_hash => %(request_hash)s, p_table_id => %(table_id)s,
    p_session_id => %(session_id)s, p_placed_by_user => %(placed_by_user)s, p_order_type => %(order_type)s,
    p_customer_name => %(customer_name)s, p_customer_phone => %(customer_phone)s, p_notes => %(notes)s,
    p_currency => %(currency)s, p_subtotal => %(subtotal)s, p_tax => %(tax)s, p_tip => %(tip)s,
    p_discount => %(discount)s, p_total => %(total)s, p_lines => %(lines)s::jsonb,
    p_actor_type => %(actor_type)s, p_actor_id => %(actor_id)s, p_pickup_at => %(pickup_at)s::timestamptz,
    p_reservation_id => %(reservation_id)s::uuid, p_fire_at => %(fire_at)s::timestamptz,
    p_payment_method => %(payment_method)s, p_delivery => %(delivery)s::jsonb, p_delivery_fee => %(delivery_fee)s);

-- name: get_idempotency_key
-- The earlier use of an Idempotency-Key.
SELECT principal, request_hash, order_id
  FROM idempotency_keys
 WHERE restaurant_id = %(restaurant_id)s AND key = %(key)s;


-- name: insert_order_event
-- Records a status move: who, when, from, to, why.
INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id, reason)
VALUES (%(restaurant_id)s, %(order_id)s, %(from_status)s, %(to_status)s, %(actor_type)s,
        %(actor_id)s, %(reason)s);

-- name: get_order
-- One order with its lines, shaped for the API.
SELECT * FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s;

-- name: get_order_with_integrations
-- get_order for the restaurant's people, with what became of the order at each target it went
-- to: each target's newest row of it (of the order; for a platform's order also of the platform
-- order that made it), skipped or resolved, and the order's id there (PetPooja's, the platform's).
SELECT d.*, coalesce((
           SELECT jsonb_agg(jsonb_build_object(
                      'target', l.target, 'status', l.status, 'attempts', l.attempts,
                      'skipped', l.status = 'synced' AND l.last_error IS NOT NULL,
                      'resolved', l.status = 'dead' AND (SELECT a.action FROM sync_log_actions a
                                                          WHERE a.sync_log_id = l.id
                                                          ORDER BY a.id DESC LIMIT 1) = 'resolve',
                      'external_id', CASE WHEN l.target = 'petpooja' THEN pp.petpooja_order_id
                                          WHEN l.entity_type = 'platform_order' THEN po.external_id END)
                      ORDER BY l.target)
             FROM (SELECT DISTINCT ON (s.target) s.id, s.target, s.entity_type, s.status, s.attempts, s.last_error
                     FROM sync_log s
                    WHERE s.restaurant_id = d.restaurant_id AND s.entity_id IN (d.id, po.id)
                      AND s.entity_type IN ('order', 'platform_order')
                    ORDER BY s.target, s.entity_version DESC, s.id DESC) l), '[]'::jsonb) AS integrations
  FROM order_documents d
  LEFT JOIN platform_orders po ON po.restaurant_id = d.restaurant_id AND po.order_id = d.id
  LEFT JOIN petpooja_orders pp ON pp.restaurant_id = d.restaurant_id AND pp.order_id = d.id
 WHERE d.restaurant_id = %(restaurant_id)s AND d.id = %(order_id)s;

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
SELECT id, status, order_type, session_id, payment_hold
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

-- name: insert_partner_order_event
-- Records a status move a partner's callback made, with what it said beside it (details).
INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id, reason, details)
VALUES (%(restaurant_id)s, %(order_id)s, %(from_status)s, %(to_status)s, %(actor_type)s,
        NULL, %(reason)s, %(details)s);

-- name: order_status_and_session
-- An order's status, and which guest session placed it (NULL: not a guest's), to decide who
-- may read its history.
SELECT status, session_id
  FROM orders
 WHERE restaurant_id = %(restaurant_id)s AND id = %(order_id)s;

-- name: order_timeline
-- An order's status history, oldest first, with the name of the person behind each move.
SELECT e.from_status, e.to_status, e.actor_type, e.actor_id, u.full_name AS actor_name, e.reason, e.details,
       e.created_at
  FROM order_events e
  LEFT JOIN users u ON e.actor_type = 'user' AND u.id = e.actor_id
 WHERE e.restaurant_id = %(restaurant_id)s AND e.order_id = %(order_id)s
 ORDER BY e.id;

-- name: order_events
-- An order's status history, oldest first.
SELECT from_status, to_status, actor_type, actor_id, reason, created_at
  FROM order_events
 WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s
 ORDER BY id;

-- name: fire_pre_order
-- A reservation's pre-order fires now (its guests are seated) if it has not, at the table they
-- sit at when given: its outbox rows come due in this same transaction (enqueue_outbox keeps the
-- sooner due). No row when nothing changed (bump_version skips an identical row).
UPDATE orders SET fire_at = least(fire_at, now()), table_id = coalesce(%(table_id)s::uuid, table_id)
 WHERE restaurant_id = %(restaurant_id)s AND reservation_id = %(reservation_id)s
   AND status NOT IN ('cancelled', 'rejected')
RETURNING id;

-- name: cancel_pre_order
-- Cancels a reservation's pre-order while the lifecycle allows it (pending or confirmed), with
-- its status event.
WITH cancelled AS (
    UPDATE orders SET status = 'cancelled'
     WHERE restaurant_id = %(restaurant_id)s AND reservation_id = %(reservation_id)s
       AND status IN ('pending', 'confirmed')
    RETURNING id, restaurant_id
), event AS (
    INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id, reason)
    SELECT c.restaurant_id, c.id, o.status, 'cancelled', %(actor_type)s, %(actor_id)s, %(reason)s
      FROM cancelled c
      JOIN orders o ON o.restaurant_id = c.restaurant_id AND o.id = c.id
)
SELECT id FROM cancelled;

-- name: skip_held_outbox
-- A pre-order cancelled before it fired never reaches a target: its held rows are recorded as
-- skipped (synced with the reason), as a target's own Skip is.
UPDATE sync_log SET status = 'synced', synced_at = now(), updated_at = now(),
                    last_error = 'skipped: the pre-order was cancelled before it fired'
 WHERE restaurant_id = %(restaurant_id)s AND entity_type = 'order' AND entity_id = ANY(%(order_ids)s::uuid[])
   AND status = 'pending' AND next_attempt_at > now();

-- name: skip_payment_held_outbox
-- An order cancelled (or rejected) while it awaited its payment never reaches a target: its
-- held rows are recorded as skipped, as a pre-order's are.
UPDATE sync_log SET status = 'synced', synced_at = now(), updated_at = now(),
                    last_error = 'skipped: the order was cancelled before it was paid'
 WHERE restaurant_id = %(restaurant_id)s AND entity_type = 'order' AND entity_id = %(order_id)s
   AND status = 'pending' AND next_attempt_at > now();

-- name: pre_order_of_reservation
-- A reservation's live pre-order, shaped for the API (no row: none).
SELECT * FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s AND reservation_id = %(reservation_id)s
   AND status NOT IN ('cancelled', 'rejected');
