-- name: order_for_payment
-- Locks an order before its payment starts or is recorded: two submits serialise here.
SELECT o.id, o.number, o.status, o.session_id, o.payment_method, o.payment_status, o.total, o.currency
  FROM orders o
 WHERE o.restaurant_id = %(restaurant_id)s AND o.id = %(order_id)s
   FOR UPDATE;

-- name: intent_of_order
-- The order's PaymentIntent (no row: none yet). A statement of its own after the lock above, so
-- that the second of two submits sees the intent the first one committed.
SELECT intent_id FROM payments WHERE restaurant_id = %(restaurant_id)s AND order_id = %(order_id)s;

-- name: record_payment_intent
-- Records (or refreshes) an order's PaymentIntent.
INSERT INTO payments (restaurant_id, order_id, intent_id, amount, currency, intent_status)
VALUES (%(restaurant_id)s, %(order_id)s, %(intent_id)s, %(amount)s, %(currency)s, %(intent_status)s)
ON CONFLICT ON CONSTRAINT payments_pkey
DO UPDATE SET intent_status = EXCLUDED.intent_status, updated_at = now();

-- name: move_payment_status
-- Moves an order's payment status forward if it may move there (payment_move_allowed; a stale
-- or replayed event moves nothing), optionally with its payment method, recording the move
-- as an order event (from_status = to_status: not a status move; details.payment_status).
-- One row when it moved.
WITH old AS (
    SELECT o.restaurant_id, o.id, o.status, o.payment_status
      FROM orders o
     WHERE o.restaurant_id = %(restaurant_id)s AND o.id = %(order_id)s
       FOR UPDATE
), moved AS (
    UPDATE orders o
       SET payment_status = %(to)s, payment_method = coalesce(%(method)s, o.payment_method)
      FROM old
     WHERE o.restaurant_id = old.restaurant_id AND o.id = old.id
       AND old.payment_status <> %(to)s AND payment_move_allowed(old.payment_status, %(to)s)
    RETURNING o.restaurant_id, o.id, o.status, old.payment_status AS from_payment_status
), event AS (
    INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id, reason, details)
    SELECT m.restaurant_id, m.id, m.status, m.status, %(actor_type)s, %(actor_id)s, NULL,
           jsonb_build_object('payment_status', %(to)s::text, 'previous_payment_status', m.from_payment_status)
           || %(details)s::jsonb
      FROM moved m
)
SELECT id, from_payment_status FROM moved;

-- name: payment_of_intent
-- Whose PaymentIntent this is (no row: not one of ours), with the order's payment now.
SELECT p.restaurant_id, p.order_id, p.amount, o.payment_method, o.payment_status, o.status
  FROM payments p
  JOIN orders o ON o.restaurant_id = p.restaurant_id AND o.id = p.order_id
 WHERE p.intent_id = %(intent_id)s;

-- name: set_intent_status
-- What Stripe last said of a PaymentIntent.
UPDATE payments SET intent_status = %(intent_status)s, updated_at = now()
 WHERE intent_id = %(intent_id)s;

-- name: claim_stripe_event
-- The first delivery of a Stripe event claims its id (a concurrent one waits for this
-- transaction, then finds it); no row: already applied.
INSERT INTO stripe_events (id, type, outcome)
VALUES (%(id)s, %(type)s, 'received')
ON CONFLICT ON CONSTRAINT stripe_events_pkey DO NOTHING
RETURNING id;

-- name: settle_stripe_event
-- What the event did here, and to which order.
UPDATE stripe_events SET outcome = %(outcome)s, restaurant_id = %(restaurant_id)s, order_id = %(order_id)s
 WHERE id = %(id)s;

-- name: queue_extra_refund
-- Money received for an order that no longer needs it (paid otherwise meanwhile): queued back.
INSERT INTO refunds (restaurant_id, order_id, intent_id, amount, currency)
SELECT p.restaurant_id, p.order_id, p.intent_id, p.amount, p.currency
  FROM payments p
 WHERE p.intent_id = %(intent_id)s
ON CONFLICT ON CONSTRAINT refunds_order_key DO NOTHING;

-- name: refunds_for_send
-- The refunds the stripe_refund target claimed, with their order's payment.
SELECT f.id, f.restaurant_id, f.order_id, f.intent_id, f.amount, f.currency, f.status, f.stripe_refund_id,
       o.payment_status
  FROM refunds f
  JOIN orders o ON o.restaurant_id = f.restaurant_id AND o.id = f.order_id
 WHERE f.id = ANY(%(ids)s::uuid[]);

-- name: refund_for_send
-- Locks one refund while it is sent, so no two workers send it at once (the other skips it).
SELECT id, status FROM refunds WHERE id = %(id)s FOR UPDATE SKIP LOCKED;

-- name: record_refund
-- What Stripe answered for a refund.
UPDATE refunds SET status = %(status)s, stripe_refund_id = %(stripe_refund_id)s, updated_at = now()
 WHERE id = %(id)s;

-- name: record_refund_of_intent
-- A refund event of Stripe's for one of our payments.
UPDATE refunds SET status = %(status)s, stripe_refund_id = coalesce(stripe_refund_id, %(stripe_refund_id)s),
                   updated_at = now()
 WHERE intent_id = %(intent_id)s AND status NOT IN ('succeeded', 'canceled');
