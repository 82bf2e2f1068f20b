-- name: reservation_restaurant
-- The restaurant's time zone (no row: no such restaurant), in its tenant transaction.
SELECT id, timezone FROM restaurants WHERE id = %(restaurant_id)s;

-- name: slot_rules
-- A restaurant's slot rules, by weekday and start.
SELECT weekday, start_time, end_time, interval_minutes, max_reservations, max_covers
  FROM slot_rules
 WHERE restaurant_id = %(restaurant_id)s
 ORDER BY weekday, start_time;

-- name: slot_rules_of_weekday
-- The rules of one weekday, by start.
SELECT weekday, start_time, end_time, interval_minutes, max_reservations, max_covers
  FROM slot_rules
 WHERE restaurant_id = %(restaurant_id)s AND weekday = %(weekday)s
 ORDER BY start_time;

-- name: delete_slot_rules
-- Removes every slot rule of a restaurant (the PUT replaces the set).
DELETE FROM slot_rules WHERE restaurant_id = %(restaurant_id)s;

-- name: insert_slot_rules
-- Inserts a set of slot rules given as one JSON array.
INSERT INTO slot_rules (restaurant_id, weekday, start_time, end_time, interval_minutes, max_reservations, max_covers)
SELECT %(restaurant_id)s, r.weekday, r.start_time, r.end_time, r.interval_minutes, r.max_reservations, r.max_covers
  FROM jsonb_to_recordset(%(rules)s::jsonb)
       AS r(weekday smallint, start_time time, end_time time, interval_minutes int, max_reservations int,
            max_covers int);

-- name: slots_taken
-- Places taken in the given slots (absent: nothing booked there).
SELECT slot_start, reservations, covers
  FROM reservation_slots
 WHERE restaurant_id = %(restaurant_id)s AND slot_start = ANY(%(starts)s::timestamptz[]);

-- name: book_reservation
-- Takes the places in the slot and writes the reservation with its first event, in one statement;
-- no row when the slot has no room (db/migrations/0012_reservations.sql: why this cannot overbook).
WITH slot AS (
    INSERT INTO reservation_slots AS s (restaurant_id, slot_start, reservations, covers, max_reservations, max_covers)
    SELECT %(restaurant_id)s, %(slot_start)s, 1, %(party_size)s::int, %(max_reservations)s::int, %(max_covers)s::int
     WHERE %(max_covers)s::int IS NULL OR %(party_size)s::int <= %(max_covers)s::int
    ON CONFLICT (restaurant_id, slot_start) DO UPDATE
       SET reservations = s.reservations + 1, covers = s.covers + EXCLUDED.covers,
           max_reservations = EXCLUDED.max_reservations, max_covers = EXCLUDED.max_covers
     WHERE (EXCLUDED.max_reservations IS NULL OR s.reservations + 1 <= EXCLUDED.max_reservations)
       AND (EXCLUDED.max_covers IS NULL OR s.covers + EXCLUDED.covers <= EXCLUDED.max_covers)
    RETURNING s.slot_start
), booked AS (
    INSERT INTO reservations (restaurant_id, slot_start, local_date, party_size, user_id, guest_name, guest_phone,
                              table_preference, note)
    SELECT %(restaurant_id)s, slot.slot_start, %(local_date)s, %(party_size)s, %(user_id)s, %(guest_name)s,
           %(guest_phone)s, %(table_preference)s, %(note)s
      FROM slot
    RETURNING *
), event AS (
    INSERT INTO reservation_events (restaurant_id, reservation_id, from_status, to_status, actor_type, actor_id)
    SELECT restaurant_id, id, NULL, status, 'user', %(actor_id)s FROM booked
)
SELECT * FROM booked;

-- name: reservation_for_update
-- A reservation, locked for a status move.
SELECT * FROM reservations
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s
   FOR UPDATE;

-- name: reservation
-- A reservation (a pre-order's read checks who may see it).
SELECT * FROM reservations
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s;

-- name: set_reservation_status
-- Moves a reservation to a status (the caller checked the move) and records the event.
WITH moved AS (
    UPDATE reservations SET status = %(status)s
     WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s
    RETURNING *
), event AS (
    INSERT INTO reservation_events (restaurant_id, reservation_id, from_status, to_status, actor_type, actor_id,
                                    reason)
    SELECT restaurant_id, id, %(from_status)s, status, 'user', %(actor_id)s, %(reason)s FROM moved
)
SELECT * FROM moved;

-- name: reservations_of_day
-- The day's book of a restaurant (its local date), by slot.
SELECT * FROM reservations
 WHERE restaurant_id = %(restaurant_id)s AND local_date = %(local_date)s
 ORDER BY slot_start, created_at;

-- name: reservations_of_user
-- A customer's own reservations across restaurants (system scope), newest slot first.
SELECT r.*, x.name AS restaurant_name
  FROM reservations r
  JOIN restaurants x ON x.id = r.restaurant_id
 WHERE r.user_id = %(user_id)s
 ORDER BY r.slot_start DESC
 LIMIT 200;

-- name: reservation_events
-- A reservation's status history, oldest first.
SELECT from_status, to_status, actor_type, actor_id, reason, created_at AS at
  FROM reservation_events
 WHERE restaurant_id = %(restaurant_id)s AND reservation_id = %(id)s
 ORDER BY id;

-- name: reservation_customer
-- The name a customer books under by default.
SELECT full_name FROM users WHERE id = %(user_id)s;
