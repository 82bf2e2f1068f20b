-- Notifications (issue 14, item 6), and reservations and notifications reaching Convex.
--
-- A notification tells a customer (an account) or a guest session that one of its orders or
-- reservations moved. Triggers on the status histories (order_events, reservation_events)
-- write them, so they are created in the very transaction of the move, whatever path made it
-- (the API, a PetPooja or platform callback, SQL by hand through the same statements), and
-- they carry the move's reason. A recipient who made the move is not told of it (a guest
-- cancelling its own order, a customer cancelling their own reservation); a member of the
-- restaurant who placed an order at the counter is staff, not a customer, and is not told
-- either. A creation event (from_status NULL) notifies nobody: the trigger's WHEN skips it
-- before the function runs, so placing an order pays one comparison.
--
-- Notifications are a synced entity like orders: a version, bump_version, enqueue_sync. The
-- convex target now takes reservations and notifications, and the claim of the API's pusher
-- returns their state; an order's state also carries its latest status reason and its guest
-- session (Convex checks a guest token against it; the API never shows it).

CREATE TABLE notifications (
    restaurant_id  uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Exactly one recipient: a customer's account, or a guest session of this restaurant.
    user_id        uuid CONSTRAINT notifications_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    session_id     uuid,
    type           text NOT NULL CONSTRAINT notifications_type_valid CHECK (type IN ('order_status', 'reservation')),
    title          text NOT NULL CONSTRAINT notifications_title_valid CHECK (char_length(title) BETWEEN 1 AND 200),
    message        text NOT NULL CONSTRAINT notifications_message_valid CHECK (char_length(message) BETWEEN 1 AND 1000),
    reference_type text NOT NULL CONSTRAINT notifications_reference_type_valid CHECK (reference_type IN ('order', 'reservation')),
    reference_id   uuid NOT NULL,
    -- The status the referenced order or reservation moved to.
    status         text NOT NULL,
    read_at        timestamptz,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT notifications_id_key UNIQUE (id),
    CONSTRAINT notifications_session_fkey FOREIGN KEY (restaurant_id, session_id)
        REFERENCES guest_sessions (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT notifications_one_recipient CHECK ((user_id IS NULL) <> (session_id IS NULL))
);
-- A recipient's list, newest first, and its unread count.
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX notifications_session_idx ON notifications (restaurant_id, session_id, created_at DESC, id DESC)
    WHERE session_id IS NOT NULL;

-- What an order's status means to the person who ordered it.
CREATE FUNCTION order_status_phrase(p_status text, p_order_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_status
        WHEN 'pending' THEN 'is waiting for the restaurant'
        WHEN 'confirmed' THEN 'is confirmed'
        WHEN 'preparing' THEN 'is being prepared'
        WHEN 'ready' THEN CASE WHEN p_order_type = 'takeaway' THEN 'is ready for pickup' ELSE 'is ready' END
        WHEN 'served' THEN 'has been served'
        WHEN 'completed' THEN 'is complete. Thank you!'
        WHEN 'dispatched' THEN 'is on its way'
        WHEN 'delivered' THEN 'has been delivered'
        WHEN 'cancelled' THEN 'was cancelled'
        WHEN 'rejected' THEN 'could not be accepted'
        ELSE 'is now ' || p_status
    END
$$;

CREATE FUNCTION notify_order_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    phrase text;
BEGIN
    SELECT d.number, d.order_type, d.session_id, d.placed_by_user, r.name AS restaurant_name,
           d.placed_by_user IS NOT NULL
           AND NOT EXISTS (SELECT FROM memberships m
                            WHERE m.restaurant_id = d.restaurant_id AND m.user_id = d.placed_by_user) AS customer
      INTO o
      FROM orders d
      JOIN restaurants r ON r.id = d.restaurant_id
     WHERE d.restaurant_id = NEW.restaurant_id AND d.id = NEW.order_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    phrase := order_status_phrase(NEW.to_status, o.order_type);
    INSERT INTO notifications (restaurant_id, user_id, session_id, type, title, message, reference_type,
                               reference_id, status)
    SELECT NEW.restaurant_id, who.user_id, who.session_id, 'order_status',
           left('Order #' || o.number || ' ' || split_part(phrase, '.', 1), 200),
           left('Your order #' || o.number || ' at ' || o.restaurant_name || ' ' || phrase
                || CASE WHEN right(phrase, 1) IN ('.', '!') THEN '' ELSE '.' END
                || coalesce(' Reason: ' || nullif(btrim(NEW.reason), ''), ''), 1000),
           'order', NEW.order_id, NEW.to_status
      FROM (VALUES (CASE WHEN o.customer THEN o.placed_by_user END, NULL::uuid),
                   (NULL::uuid, o.session_id)) AS who (user_id, session_id)
     WHERE coalesce(who.user_id, who.session_id) IS NOT NULL
       AND NEW.actor_id IS DISTINCT FROM coalesce(who.user_id, who.session_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER order_events_notify AFTER INSERT ON order_events
    FOR EACH ROW WHEN (NEW.from_status IS NOT NULL AND NEW.from_status IS DISTINCT FROM NEW.to_status)
    EXECUTE FUNCTION notify_order_status();

CREATE FUNCTION notify_reservation_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    booking text;
    title text;
    message text;
BEGIN
    SELECT x.user_id, x.party_size, r.name AS restaurant_name,
           to_char(x.slot_start AT TIME ZONE r.timezone, 'FMDay FMDD FMMonth "at" HH24:MI') AS local_start
      INTO b
      FROM reservations x
      JOIN restaurants r ON r.id = x.restaurant_id
     WHERE x.restaurant_id = NEW.restaurant_id AND x.id = NEW.reservation_id;
    IF NOT FOUND OR b.user_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM b.user_id THEN
        RETURN NULL;
    END IF;
    booking := 'Your reservation at ' || b.restaurant_name || ' for ' || b.party_size || ' on ' || b.local_start;
    SELECT t.title, t.message INTO title, message
      FROM (VALUES
          ('confirmed', 'Reservation confirmed', booking || ' is confirmed. See you then!'),
          ('seated', 'You are seated', 'Welcome to ' || b.restaurant_name || '! Your table for ' || b.party_size
                                       || ' is ready. Enjoy your meal.'),
          ('completed', 'Thank you for your visit', 'Thank you for dining at ' || b.restaurant_name || '.'),
          ('cancelled', 'Reservation cancelled', booking || ' was cancelled.'),
          ('no_show', 'Reservation missed', booking || ' was marked as a no-show.'),
          ('pending', 'Reservation pending', booking || ' is waiting for the restaurant.')
      ) AS t (status, title, message)
     WHERE t.status = NEW.to_status;
    IF NOT FOUND THEN
        title := 'Reservation updated';
        message := booking || ' is now ' || NEW.to_status || '.';
    END IF;
    INSERT INTO notifications (restaurant_id, user_id, type, title, message, reference_type, reference_id, status)
    VALUES (NEW.restaurant_id, b.user_id, 'reservation', title,
            left(message || coalesce(' Reason: ' || nullif(btrim(NEW.reason), ''), ''), 1000),
            'reservation', NEW.reservation_id, NEW.to_status);
    RETURN NULL;
END
$$;
CREATE TRIGGER reservation_events_notify AFTER INSERT ON reservation_events
    FOR EACH ROW WHEN (NEW.from_status IS NOT NULL AND NEW.from_status IS DISTINCT FROM NEW.to_status)
    EXECUTE FUNCTION notify_reservation_status();

CREATE TRIGGER notifications_bump_version BEFORE UPDATE ON notifications
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER notifications_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON notifications
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('notification');

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON notifications TO tabletop_app;

ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                                     'notification']);
ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid
        CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                               'notification'));
UPDATE sync_targets SET entity_types = '{order,menu_item,table,reservation,notification}' WHERE name = 'convex';

-- The reason of an order's latest status move (NULL when it gave none): one probe of
-- order_events_order_idx.
CREATE FUNCTION order_status_reason(p_restaurant_id uuid, p_order_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT e.reason FROM order_events e
     WHERE e.restaurant_id = p_restaurant_id AND e.order_id = p_order_id
     ORDER BY e.id DESC
     LIMIT 1
$$;

-- What the Convex target sends of orders (order_documents with the latest status reason),
-- reservations (with the restaurant's time zone) and notifications, by id.
CREATE FUNCTION order_convex_documents(p_ids uuid[])
RETURNS SETOF json
LANGUAGE sql STABLE AS $$
    SELECT (to_jsonb(d) || jsonb_build_object('status_reason', order_status_reason(d.restaurant_id, d.id)))::json
      FROM order_documents d
     WHERE d.id = ANY(p_ids)
$$;

CREATE FUNCTION reservation_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, slot_start timestamptz, local_date date, timezone text, party_size int,
               status text, user_id uuid, guest_name text, guest_phone text, table_preference text, note text,
               version bigint, created_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT x.id, x.restaurant_id, x.slot_start, x.local_date, r.timezone, x.party_size, x.status, x.user_id,
           x.guest_name, x.guest_phone, x.table_preference, x.note, x.version, x.created_at, x.updated_at
      FROM reservations x
      JOIN restaurants r ON r.id = x.restaurant_id
     WHERE x.id = ANY(p_ids)
$$;

CREATE FUNCTION notification_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, user_id uuid, session_id uuid, type text, title text, message text,
               reference_type text, reference_id uuid, status text, read_at timestamptz, version bigint,
               created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT n.id, n.restaurant_id, n.user_id, n.session_id, n.type, n.title, n.message, n.reference_type,
           n.reference_id, n.status, n.read_at, n.version, n.created_at
      FROM notifications n
     WHERE n.id = ANY(p_ids)
$$;

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
                 WHERE l.target = p_target AND l.status = 'pending'
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
