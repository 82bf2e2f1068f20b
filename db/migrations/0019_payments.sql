-- Payments through Stripe (issue 15 item 2; docs/payments.md).
--
-- * orders.payment_method: online (Stripe), cash or counter (paid to the staff; the default,
--   what every order was before). payment_status moves only forward (guard_payment_status):
--   a late or replayed event can never take a paid order back to pending or failed.
-- * payments: an order's PaymentIntent (at most one: Stripe's idempotency key is the order).
-- * stripe_events: every Stripe event id applied, so a replayed delivery changes nothing.
-- * refunds: a paid online order that is cancelled or rejected queues its refund (a trigger,
--   so every path that cancels does it), delivered by the stripe_refund outbox target.
-- * restaurants.payment_required: an online order is held from every outbox target (the
--   kitchen's Convex, PetPooja, the restaurant's webhook) until it is paid. Holding is the
--   pre-order's mechanism (0018): its rows are written due far in the future (enqueue_sync),
--   and the payment, which clears payment_hold, pulls them forward in its own transaction.
--   A failed payment leaves them held; an order cancelled unpaid skips them.

ALTER TABLE restaurants ADD COLUMN payment_required boolean NOT NULL DEFAULT false;

ALTER TABLE orders
    ADD COLUMN payment_method text NOT NULL DEFAULT 'counter' CONSTRAINT orders_payment_method_valid
                              CHECK (payment_method IN ('online', 'cash', 'counter')),
    ADD COLUMN payment_hold   boolean NOT NULL DEFAULT false;

ALTER TABLE order_events DROP CONSTRAINT order_events_actor_type_valid,
    ADD CONSTRAINT order_events_actor_type_valid
        CHECK (actor_type IN ('user', 'guest', 'system', 'petpooja', 'ubereats', 'doordash', 'grubhub', 'stripe'));

CREATE TABLE payments (
    restaurant_id uuid NOT NULL,
    order_id      uuid NOT NULL,
    intent_id     text NOT NULL CONSTRAINT payments_intent_id_valid CHECK (intent_id ~ '^pi_[A-Za-z0-9_]{1,250}$'),
    amount        bigint NOT NULL CONSTRAINT payments_amount_range CHECK (amount > 0),
    currency      char(3) NOT NULL,
    -- Stripe's PaymentIntent status as last seen (the creation's answer, then its events).
    intent_status text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (restaurant_id, order_id),
    CONSTRAINT payments_intent_key UNIQUE (intent_id),
    CONSTRAINT payments_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payments USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON payments TO tabletop_app;

-- Stripe's events as applied (Stripe delivers at least once): the first delivery of an id
-- wins, a replay finds its row. restaurant_id is the order's when the event named one of ours
-- (NULL otherwise): the webhook works in the system scope, a tenant sees its own rows only.
CREATE TABLE stripe_events (
    id            text NOT NULL CONSTRAINT stripe_events_id_valid CHECK (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type          text NOT NULL CONSTRAINT stripe_events_type_valid CHECK (char_length(type) BETWEEN 1 AND 200),
    restaurant_id uuid,
    order_id      uuid,
    -- What it did here: applied, stale (out of order, nothing moved), unknown (not our order), ignored.
    outcome       text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stripe_events_pkey PRIMARY KEY (id)
);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);
ALTER TABLE stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE stripe_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stripe_events USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON stripe_events TO tabletop_app;

CREATE TABLE refunds (
    restaurant_id    uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id         uuid NOT NULL,
    intent_id        text NOT NULL,
    amount           bigint NOT NULL CONSTRAINT refunds_amount_range CHECK (amount > 0),
    currency         char(3) NOT NULL,
    -- queued until Stripe answers, then Stripe's Refund status.
    status           text NOT NULL DEFAULT 'queued' CONSTRAINT refunds_status_valid
                     CHECK (status IN ('queued', 'pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
    stripe_refund_id text,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT refunds_id_key UNIQUE (id),
    -- One refund per order: the whole payment, once.
    CONSTRAINT refunds_order_key UNIQUE (restaurant_id, order_id),
    CONSTRAINT refunds_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refunds USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON refunds TO tabletop_app;

-- A refund is an outbox entity of its own: its creation goes to the stripe_refund target.
ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                                     'notification', 'refund']);
ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid
        CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                               'notification', 'refund'));
INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake)
VALUES ('stripe_refund', '{refund}', '{created}', true, true);
CREATE TRIGGER refunds_enqueue_sync AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('refund');

-- The payment status moves of an order: forward only (a paid order is refunded or stays paid).
CREATE FUNCTION payment_move_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_from = p_to
        OR (p_from, p_to) IN (('unpaid', 'pending'), ('unpaid', 'paid'), ('unpaid', 'failed'), ('pending', 'paid'),
                              ('pending', 'failed'), ('failed', 'pending'), ('failed', 'paid'), ('paid', 'refunded'))
$$;

-- Refuses a backward payment move from any path (the statements that move it only move
-- forward, so this fires only on a bug or a hand-written UPDATE), and releases a payment hold
-- once the order is paid.
CREATE FUNCTION guard_payment_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT payment_move_allowed(OLD.payment_status, NEW.payment_status) THEN
        RAISE EXCEPTION 'payment_status cannot move from % to %', OLD.payment_status, NEW.payment_status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_payment_status_forward';
    END IF;
    IF NEW.payment_status = 'paid' THEN
        NEW.payment_hold := false;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_payment_guard BEFORE UPDATE OF payment_status ON orders
    FOR EACH ROW EXECUTE FUNCTION guard_payment_status();

-- An online order of a restaurant that requires payment first is held until paid (one with
-- nothing to pay is not: no payment could ever release it).
CREATE FUNCTION hold_for_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.payment_hold := NEW.payment_status <> 'paid' AND NEW.total > 0
        AND EXISTS (SELECT FROM restaurants r WHERE r.id = NEW.restaurant_id AND r.payment_required);
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_hold_for_payment BEFORE INSERT ON orders
    FOR EACH ROW WHEN (NEW.payment_method = 'online') EXECUTE FUNCTION hold_for_payment();

-- Paid (payment_hold cleared): every held outbox row of the order comes due now (or at its
-- fire_at, a pre-order's), whichever targets they are for; a target that takes only some
-- events (PetPooja: created, cancelled) heard nothing of the payment itself. Its workers are woken.
-- (Not UPDATE OF payment_hold: guard_payment_status clears it, and a column set by a trigger is
-- not in the statement's column list.)
CREATE FUNCTION release_payment_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    released record;
BEGIN
    FOR released IN
        UPDATE sync_log s SET next_attempt_at = greatest(now(), NEW.fire_at), updated_at = now()
         WHERE s.restaurant_id = NEW.restaurant_id AND s.entity_type = 'order' AND s.entity_id = NEW.id
           AND s.status = 'pending' AND s.next_attempt_at > greatest(now(), NEW.fire_at)
        RETURNING s.target
    LOOP
        PERFORM pg_notify('sync_wake', t.name) FROM sync_targets t WHERE t.name = released.target AND t.wake;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_release_payment_hold AFTER UPDATE ON orders
    FOR EACH ROW WHEN (OLD.payment_hold AND NOT NEW.payment_hold) EXECUTE FUNCTION release_payment_hold();

-- A paid online order that is cancelled or rejected (or cancelled first and paid after) queues
-- its refund: the whole payment, once.
CREATE FUNCTION queue_refund() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refunds (restaurant_id, order_id, intent_id, amount, currency)
    SELECT p.restaurant_id, p.order_id, p.intent_id, p.amount, p.currency
      FROM payments p
     WHERE p.restaurant_id = NEW.restaurant_id AND p.order_id = NEW.id
    ON CONFLICT ON CONSTRAINT refunds_order_key DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_queue_refund AFTER UPDATE OF status, payment_status ON orders
    FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'rejected') AND NEW.payment_status = 'paid'
                       AND NEW.payment_method = 'online')
    EXECUTE FUNCTION queue_refund();

-- The routing trigger (0018's) holds an order awaiting its payment: its rows are due at the
-- end of time until payment_hold clears (the payment's own change then pulls them forward).
CREATE OR REPLACE FUNCTION enqueue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    etype text := TG_ARGV[0];
    happened text[];
    due timestamptz;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM enqueue_targets(OLD.restaurant_id, etype, OLD.id, OLD.version + 1, '{deleted}');
        RETURN NULL;
    END IF;
    happened := CASE WHEN TG_OP = 'INSERT' THEN '{created}'::text[] ELSE '{changed}'::text[] END;
    -- Nested: only an order has a status and a fire_at, and NEW.status is resolved when the
    -- expression is planned, so an AND in the same expression cannot guard it.
    IF etype = 'order' THEN
        due := CASE WHEN NEW.payment_hold THEN '9999-12-31 00:00:00+00'::timestamptz ELSE NEW.fire_at END;
        IF TG_OP = 'UPDATE' THEN
            IF NEW.status IS DISTINCT FROM OLD.status THEN
                happened := happened || '{status_changed}'::text[];
                IF NEW.status = 'cancelled' THEN
                    happened := happened || '{cancelled}'::text[];
                END IF;
            END IF;
        END IF;
    END IF;
    PERFORM enqueue_targets(NEW.restaurant_id, etype, NEW.id, NEW.version, happened, due);
    RETURN NULL;
END
$$;

-- A payment's order events (from_status = to_status, details.payment_status) are not status
-- moves: the latest status reason skips them (0017's, else unchanged).
CREATE OR REPLACE FUNCTION order_status_reason(p_restaurant_id uuid, p_order_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT e.reason FROM order_events e
     WHERE e.restaurant_id = p_restaurant_id AND e.order_id = p_order_id
       AND NOT coalesce(e.details ? 'payment_status', false)
     ORDER BY e.id DESC
     LIMIT 1
$$;

-- order_documents (0018's) shows the payment method.
CREATE OR REPLACE VIEW order_documents WITH (security_invoker = true) AS
SELECT o.id, o.restaurant_id, o.number, o.table_id, t.label AS table_label, o.session_id,
       o.status, o.order_type, o.customer_name, o.customer_phone, o.notes, o.subtotal, o.tax,
       o.tip, o.discount, o.total, o.currency, o.version, o.created_at, o.updated_at,
       coalesce((SELECT json_agg(json_build_object(
                            'id', i.id, 'menu_item_id', i.menu_item_id, 'name', i.name,
                            'unit_price', i.unit_price, 'quantity', i.quantity,
                            'line_total', i.line_total, 'notes', i.notes,
                            'variation_id', i.variation_id, 'variation_name', i.variation_name,
                            'addons', i.addons)
                        ORDER BY i.position)
                   FROM order_items i
                  WHERE i.restaurant_id = o.restaurant_id AND i.order_id = o.id), '[]') AS items,
       o.pickup_at, o.payment_status, o.reservation_id, o.fire_at, o.payment_method
  FROM orders o
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id;

-- place_order (0018's) writes the payment method.
DROP FUNCTION place_order(uuid, text, text, text, bytea, uuid, uuid, uuid, text, text, text, text, char, bigint,
                          bigint, bigint, bigint, bigint, jsonb, text, uuid, timestamptz, uuid, timestamptz);
-- Writes an order priced by the API in one statement (its own transaction), its lines one JSON
-- array (one parameter instead of eleven arrays, which cost the API more to send): claims the
-- client's Idempotency-Key (returns nothing when an earlier request holds it: a concurrent one
-- waits here until that request's transaction ends; the caller then replays it), takes the
-- restaurant's next order number, creates the order with its lines, its first status event
-- and its key link, and returns it as order_documents shows it. The items' statement trigger
-- touches the order after the insert with an identical row, so a new order stays at
-- version 1 with one outbox row. The counter row is locked only until this statement commits.
CREATE FUNCTION place_order(
    p_restaurant_id uuid, p_trace_context text, p_key text, p_principal text, p_request_hash bytea,
    p_table_id uuid, p_session_id uuid, p_placed_by_user uuid, p_order_type text, p_customer_name text,
    p_customer_phone text, p_notes text, p_currency char(3), p_subtotal bigint, p_tax bigint, p_tip bigint,
    p_discount bigint, p_total bigint, p_lines jsonb, p_actor_type text, p_actor_id uuid, p_pickup_at timestamptz,
    p_reservation_id uuid, p_fire_at timestamptz, p_payment_method text)
RETURNS SETOF order_documents
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM enter_restaurant(p_restaurant_id, p_trace_context, NULL, NULL);
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (restaurant_id, key, principal, request_hash)
        VALUES (p_restaurant_id, p_key, p_principal, p_request_hash)
        ON CONFLICT (restaurant_id, key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    WITH n AS (
        UPDATE order_counters c SET last_order_number = c.last_order_number + 1
         WHERE c.restaurant_id = p_restaurant_id
        RETURNING c.last_order_number
    ), o AS (
        INSERT INTO orders (restaurant_id, number, table_id, session_id, placed_by_user, order_type,
                            customer_name, customer_phone, notes, currency, subtotal, tax, tip,
                            discount, total, pickup_at, reservation_id, fire_at, payment_method)
        SELECT p_restaurant_id, n.last_order_number, p_table_id, p_session_id, p_placed_by_user,
               p_order_type, p_customer_name, p_customer_phone, p_notes, p_currency,
               p_subtotal, p_tax, p_tip, p_discount, p_total, p_pickup_at, p_reservation_id, p_fire_at,
               p_payment_method
          FROM n
        RETURNING id, restaurant_id, status
    ), lines AS (
        INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price,
                                 quantity, line_total, notes, variation_id, variation_name, addons, taxes)
        SELECT o.restaurant_id, o.id, l.position, l.menu_item_id, l.name, l.unit_price, l.quantity,
               l.line_total, l.notes, l.variation_id, l.variation_name, l.addons, l.taxes
          FROM o, jsonb_to_recordset(p_lines)
                  AS l(position int, menu_item_id uuid, name text, unit_price bigint, quantity int,
                       line_total bigint, notes text, variation_id uuid, variation_name text, addons jsonb,
                       taxes jsonb)
    ), event AS (
        INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id)
        SELECT o.restaurant_id, o.id, NULL, o.status, p_actor_type, p_actor_id FROM o
    ), idempotency AS (
        UPDATE idempotency_keys k SET order_id = o.id
          FROM o
         WHERE k.restaurant_id = o.restaurant_id AND k.key = p_key
    )
    SELECT o.id INTO new_id FROM o;
    -- A statement of its own, so the view sees the lines the one above wrote.
    RETURN QUERY SELECT * FROM order_documents d WHERE d.restaurant_id = p_restaurant_id AND d.id = new_id;
END
$$;
