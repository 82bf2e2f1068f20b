-- Order fields customers expect, reservation pre-orders and takeaway sessions from a share
-- link (issue 14, items 3, 5 and 7; docs/orders.md).
--
-- * pickup_at: when a takeaway order is to be collected (checked against opening hours by
--   order_context, which now also answers for the pickup time).
-- * payment_status: unpaid until the payments issue moves it.
-- * reservation_id and fire_at: a pre-order belongs to a reservation and is held from the
--   kitchen and the POS until fire_at. Holding is the outbox's own clock: the order's sync_log
--   rows are written due at fire_at (enqueue_outbox's due), later changes coalesce into them
--   and keep it, and pulling fire_at forward (the reservation is seated) pulls them forward in
--   the same transaction. The post-commit pusher's claim now takes only due rows.
-- * A guest session without a table: a takeaway session opened from a share link.

ALTER TABLE orders
    ADD COLUMN pickup_at      timestamptz,
    ADD COLUMN payment_status text NOT NULL DEFAULT 'unpaid' CONSTRAINT orders_payment_status_valid
                              CHECK (payment_status IN ('unpaid', 'pending', 'paid', 'failed', 'refunded')),
    ADD COLUMN reservation_id uuid,
    ADD COLUMN fire_at        timestamptz,
    ADD CONSTRAINT orders_pickup_takeaway CHECK (pickup_at IS NULL OR order_type = 'takeaway'),
    ADD CONSTRAINT orders_fire_at_with_reservation CHECK ((fire_at IS NULL) = (reservation_id IS NULL)),
    ADD CONSTRAINT orders_reservation_fkey FOREIGN KEY (restaurant_id, reservation_id)
        REFERENCES reservations (restaurant_id, id);
-- One live pre-order per reservation (a cancelled one may be replaced).
CREATE UNIQUE INDEX orders_reservation_key ON orders (restaurant_id, reservation_id)
    WHERE reservation_id IS NOT NULL AND status NOT IN ('cancelled', 'rejected');

ALTER TABLE guest_sessions ALTER COLUMN table_id DROP NOT NULL;

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
       o.pickup_at, o.payment_status, o.reservation_id, o.fire_at
  FROM orders o
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id;

-- enqueue_outbox and enqueue_targets gain ``due``: when the row is first due (NULL or past: now).
DROP FUNCTION enqueue_targets(uuid, text, uuid, bigint, text[]);
DROP FUNCTION enqueue_outbox(uuid, text, text, uuid, bigint);
-- Writes (or coalesces into) the pending outbox row of an entity for one target: one
-- pending row per (target, entity) at most, carrying the highest version seen and the
-- trace context of the request that first wrote it (app.trace_context, set per
-- transaction by db/pool.py when tracing is on), so a delivery continues that trace.
-- ``due`` holds a new row until then (a reservation's pre-order until it fires; NULL: due
-- now); a change coalescing into a held row keeps it held unless its own due is sooner, so
-- pulling the entity's due forward pulls its pending row forward in the same transaction.
-- (plpgsql: its body is checked when first run, after sync_log exists.)
CREATE FUNCTION enqueue_outbox(rid uuid, tgt text, etype text, eid uuid, ver bigint, due timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, trace_context,
                          next_attempt_at)
    VALUES (rid, tgt, etype, eid, ver, nullif(current_setting('app.trace_context', true), ''), greatest(now(), due))
    ON CONFLICT (target, entity_type, entity_id) WHERE status = 'pending'
    DO UPDATE SET entity_version = greatest(sync_log.entity_version, EXCLUDED.entity_version),
                  trace_context = coalesce(sync_log.trace_context, EXCLUDED.trace_context),
                  next_attempt_at = least(sync_log.next_attempt_at, EXCLUDED.next_attempt_at),
                  updated_at = now();
END
$$;

-- The one routing loop: writes (or coalesces into) the pending outbox row of an entity for
-- every target that takes this kind of change (sync_targets) from this restaurant
-- (all_restaurants, or a restaurant_targets row), due at ``due`` (NULL: now), and wakes the
-- workers at commit for targets without a post-commit pusher. enqueue_sync (a synced entity's
-- row changed) and enqueue_menu (anything else a menu shows changed) call it.
CREATE FUNCTION enqueue_targets(rid uuid, etype text, eid uuid, ver bigint, happened text[],
                                due timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT s.name, s.wake
               FROM sync_targets s
              WHERE etype = ANY (s.entity_types) AND s.events && happened
                AND (s.all_restaurants
                     OR EXISTS (SELECT FROM restaurant_targets r WHERE r.restaurant_id = rid AND r.target = s.name))
              ORDER BY s.name
    LOOP
        PERFORM enqueue_outbox(rid, t.name, etype, eid, ver, due);
        IF t.wake THEN
            PERFORM pg_notify('sync_wake', t.name);
        END IF;
    END LOOP;
END
$$;

-- The routing trigger of synced entities: works out what happened (created, changed or
-- deleted, and for an order status_changed and cancelled; a delete is recorded one version
-- above the last state so that it outranks every earlier upsert) and routes it, an order's
-- changes due at its fire_at (a reservation's pre-order is held until it fires).
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
        due := NEW.fire_at;
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

-- The pusher claims only due rows: a held pre-order waits for its fire_at.
CREATE OR REPLACE FUNCTION sync_claim_entities(p_target text, p_owner text, p_lease_s float8, p_entity_types text[],
                                    p_entity_ids uuid[], p_trace_context text, p_with_state boolean)
RETURNS TABLE (id bigint, restaurant_id uuid, entity_type text, entity_id uuid, entity_version bigint,
               attempts int, trace_context text, state json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    claimed sync_log[];
BEGIN
    PERFORM set_config('app.scope', 'system', true),
            set_config('app.trace_context', p_trace_context, true);
    WITH c AS (
        UPDATE sync_log s
           SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => p_lease_s),
               lease_owner = p_owner, updated_at = now()
          FROM (SELECT l.id FROM sync_log l
                 WHERE l.target = p_target AND l.status = 'pending' AND l.next_attempt_at <= now()
                   AND (l.entity_type, l.entity_id) IN (SELECT * FROM unnest(p_entity_types, p_entity_ids))
                   FOR UPDATE SKIP LOCKED) due
         WHERE s.id = due.id
        RETURNING s AS claimed_row
    )
    SELECT coalesce(array_agg(c.claimed_row ORDER BY (c.claimed_row).id), '{}') INTO claimed FROM c;
    RETURN QUERY
        SELECT r.id, r.restaurant_id, r.entity_type, r.entity_id, r.entity_version, r.attempts, r.trace_context,
               CASE WHEN NOT p_with_state THEN NULL
                    WHEN r.entity_type = 'order' THEN
                        (SELECT d FROM order_convex_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'menu_item' THEN
                        (SELECT to_json(d) FROM menu_item_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'table' THEN
                        (SELECT to_json(d) FROM table_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'reservation' THEN
                        (SELECT to_json(d) FROM reservation_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'notification' THEN
                        (SELECT to_json(d) FROM notification_documents(ARRAY[r.entity_id]) d)
               END
          FROM unnest(claimed) r;
END
$$;

-- order_context also answers whether a takeaway order's pickup time falls in opening hours.
DROP FUNCTION order_context(uuid, text, uuid, uuid, text, uuid[]);
-- Everything the API needs to judge and price an order, in one statement: whether the caller
-- may order here (enter_restaurant), the earlier use of the request's Idempotency-Key (key_*
-- NULL when unused), whether opening hours have it closed now and when it opens (opening_state;
-- never closed without hours), the same for a takeaway order's pickup time (NULL without one),
-- and order_menu's rows (one row with NULL menu columns when the
-- restaurant does not exist). Writes nothing.
CREATE FUNCTION order_context(p_restaurant_id uuid, p_trace_context text, p_session_id uuid, p_user_id uuid,
                              p_key text, p_item_ids uuid[], p_pickup_at timestamptz)
RETURNS TABLE (session_end text, user_found boolean, is_platform_admin boolean, role text,
               key_principal text, key_request_hash bytea, key_order_id uuid,
               outside_hours boolean, opens_at timestamptz, pickup_closed boolean, pickup_opens_at timestamptz,
               currency char(3), tax_rate_bps int, store_closed boolean, closed_reason text,
               reopens_at timestamptz, id uuid, name text, price bigint, is_available boolean,
               order_types text[], imported boolean, variations json, addon_groups json, taxes json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    caller record;
BEGIN
    SELECT * INTO caller FROM enter_restaurant(p_restaurant_id, p_trace_context, p_session_id, p_user_id);
    RETURN QUERY
        SELECT caller.session_end, caller.user_found, caller.is_platform_admin, caller.role,
               k.principal, k.request_hash, k.order_id,
               h.has_hours AND NOT h.open_now, h.opens_at, p.has_hours AND NOT p.open_now, p.opens_at, m.*
          FROM (SELECT 1) one
          LEFT JOIN idempotency_keys k ON k.restaurant_id = p_restaurant_id AND k.key = p_key
          LEFT JOIN opening_state(p_restaurant_id, now()) h ON true
          LEFT JOIN opening_state(p_restaurant_id, p_pickup_at) p ON p_pickup_at IS NOT NULL
          LEFT JOIN order_menu(p_restaurant_id, p_item_ids) m ON true;
END
$$;

-- place_order writes pickup_at, reservation_id and fire_at.
DROP FUNCTION place_order(uuid, text, text, text, bytea, uuid, uuid, uuid, text, text, text, text, char, bigint,
                          bigint, bigint, bigint, bigint, jsonb, text, uuid);
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
    p_reservation_id uuid, p_fire_at timestamptz)
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
                            discount, total, pickup_at, reservation_id, fire_at)
        SELECT p_restaurant_id, n.last_order_number, p_table_id, p_session_id, p_placed_by_user,
               p_order_type, p_customer_name, p_customer_phone, p_notes, p_currency,
               p_subtotal, p_tax, p_tip, p_discount, p_total, p_pickup_at, p_reservation_id, p_fire_at
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

