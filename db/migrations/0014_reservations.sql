-- Time slots and reservations (issue 14, item 5): a restaurant's slot rules, reservations with
-- their events, and one capacity row per booked slot that makes overbooking impossible.
--
-- Capacity: booking a place is one statement (reservations.sql book_reservation) that first
-- upserts the slot's reservation_slots row with INSERT ... ON CONFLICT DO UPDATE ... WHERE the
-- slot still has room, and inserts the reservation only if that returned a row. ON CONFLICT
-- DO UPDATE locks the slot's row and re-checks the WHERE against its latest committed state,
-- so concurrent bookings of one slot queue on that row and each sees the others' places: no
-- read-then-write race. The CHECK below is the last wall, and a trigger gives places back when
-- a reservation is cancelled or a no-show, so no write path can forget to.

CREATE TABLE slot_rules (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    -- 0 Monday .. 6 Sunday (Python's date.weekday()), in the restaurant's time zone.
    weekday          smallint NOT NULL CONSTRAINT slot_rules_weekday_valid CHECK (weekday BETWEEN 0 AND 6),
    start_time       time NOT NULL,
    end_time         time NOT NULL,
    interval_minutes int NOT NULL CONSTRAINT slot_rules_interval_valid CHECK (interval_minutes BETWEEN 5 AND 720),
    max_reservations int CONSTRAINT slot_rules_max_reservations_valid CHECK (max_reservations BETWEEN 1 AND 10000),
    max_covers       int CONSTRAINT slot_rules_max_covers_valid CHECK (max_covers BETWEEN 1 AND 100000),
    CONSTRAINT slot_rules_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT slot_rules_window_valid CHECK (start_time < end_time),
    CONSTRAINT slot_rules_limit_present CHECK (max_reservations IS NOT NULL OR max_covers IS NOT NULL)
);
CREATE INDEX slot_rules_weekday_idx ON slot_rules (restaurant_id, weekday, start_time);

CREATE TABLE reservations (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    slot_start       timestamptz NOT NULL,
    -- The slot's date in the restaurant's time zone when booked: the day's book is read by it.
    local_date       date NOT NULL,
    party_size       int NOT NULL CONSTRAINT reservations_party_size_valid CHECK (party_size BETWEEN 1 AND 50),
    status           text NOT NULL DEFAULT 'pending' CONSTRAINT reservations_status_valid
                     CHECK (status IN ('pending', 'confirmed', 'seated', 'completed', 'cancelled', 'no_show')),
    -- The customer who booked for themselves; NULL when staff booked for a guest.
    user_id          uuid CONSTRAINT reservations_user_fkey REFERENCES users (id) ON DELETE SET NULL,
    guest_name       text NOT NULL CONSTRAINT reservations_guest_name_valid CHECK (char_length(guest_name) BETWEEN 1 AND 200),
    guest_phone      text CONSTRAINT reservations_guest_phone_valid CHECK (char_length(guest_phone) BETWEEN 1 AND 40),
    table_preference text CONSTRAINT reservations_table_preference_valid CHECK (char_length(table_preference) <= 200),
    note             text CONSTRAINT reservations_note_valid CHECK (char_length(note) <= 500),
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT reservations_id_key UNIQUE (id)
);
CREATE INDEX reservations_day_idx ON reservations (restaurant_id, local_date, slot_start);
CREATE INDEX reservations_user_idx ON reservations (user_id, slot_start) WHERE user_id IS NOT NULL;

CREATE TABLE reservation_events (
    restaurant_id  uuid NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    reservation_id uuid NOT NULL,
    from_status    text,
    to_status      text NOT NULL,
    actor_type     text NOT NULL CONSTRAINT reservation_events_actor_type_valid CHECK (actor_type IN ('user', 'system')),
    actor_id       uuid,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservation_events_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT reservation_events_reservation_fkey FOREIGN KEY (restaurant_id, reservation_id)
        REFERENCES reservations (restaurant_id, id) ON DELETE CASCADE
);
CREATE INDEX reservation_events_reservation_idx ON reservation_events (restaurant_id, reservation_id, id);

-- Places taken in one slot (reservations not cancelled or no-show), with the limits of the rule
-- in force at the last booking. No row: nothing booked yet.
CREATE TABLE reservation_slots (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    slot_start       timestamptz NOT NULL,
    reservations     int NOT NULL DEFAULT 0,
    covers           int NOT NULL DEFAULT 0,
    max_reservations int,
    max_covers       int,
    CONSTRAINT reservation_slots_pkey PRIMARY KEY (restaurant_id, slot_start),
    CONSTRAINT reservation_slots_within_capacity CHECK (
        reservations >= 0 AND covers >= 0
        AND (max_reservations IS NULL OR reservations <= max_reservations)
        AND (max_covers IS NULL OR covers <= max_covers))
);

-- A cancelled or no-show reservation gives its places back.
CREATE FUNCTION free_reservation_places() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reservation_slots
       SET reservations = reservations - 1, covers = covers - OLD.party_size
     WHERE restaurant_id = OLD.restaurant_id AND slot_start = OLD.slot_start;
    RETURN NULL;
END
$$;
CREATE TRIGGER reservations_free_places AFTER UPDATE OF status ON reservations
    FOR EACH ROW
    WHEN (OLD.status NOT IN ('cancelled', 'no_show') AND NEW.status IN ('cancelled', 'no_show'))
    EXECUTE FUNCTION free_reservation_places();

CREATE TRIGGER reservations_bump_version BEFORE UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER reservations_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('reservation');

ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation']);
ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid
        CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation'));

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['slot_rules', 'reservations', 'reservation_events', 'reservation_slots']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (app_tenant_visible(restaurant_id))'
                       ' WITH CHECK (app_tenant_visible(restaurant_id))', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON slot_rules, reservations, reservation_slots TO tabletop_app;
GRANT SELECT, INSERT ON reservation_events TO tabletop_app;
GRANT USAGE ON SEQUENCE slot_rules_id_seq, reservation_events_id_seq TO tabletop_app;
