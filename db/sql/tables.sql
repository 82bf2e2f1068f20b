-- name: insert_table
-- Creates a dining table with its unguessable QR token.
INSERT INTO dining_tables (restaurant_id, label, seats, qr_token)
VALUES (%(restaurant_id)s, %(label)s, %(seats)s, %(qr_token)s)
RETURNING id, restaurant_id, label, seats, qr_token, is_active, version, created_at, updated_at;

-- name: list_tables
-- Every table of the restaurant, by label.
SELECT id, restaurant_id, label, seats, qr_token, is_active, version, created_at, updated_at
  FROM dining_tables
 WHERE restaurant_id = %(restaurant_id)s
 ORDER BY label, id;

-- name: update_table
-- Partial update; seats is nullable, so it has its own "was it given" flag.
UPDATE dining_tables
   SET label = coalesce(%(label)s, label),
       seats = CASE WHEN %(set_seats)s THEN %(seats)s ELSE seats END,
       is_active = coalesce(%(is_active)s, is_active),
       qr_token = coalesce(%(qr_token)s, qr_token)
 WHERE restaurant_id = %(restaurant_id)s AND id = %(table_id)s
RETURNING id, restaurant_id, label, seats, qr_token, is_active, version, created_at, updated_at;

-- name: get_table
-- One table.
SELECT id, restaurant_id, label, seats, qr_token, is_active, version, created_at, updated_at
  FROM dining_tables
 WHERE restaurant_id = %(restaurant_id)s AND id = %(table_id)s;

-- name: table_by_qr_token
-- Resolves a scanned QR code to its table and restaurant (system scope: the guest has no tenant yet).
SELECT t.id AS table_id, t.label, t.is_active, r.id AS restaurant_id, r.name, r.currency
  FROM dining_tables t
  JOIN restaurants r ON r.id = t.restaurant_id
 WHERE t.qr_token = %(qr_token)s;

-- name: insert_guest_session
-- Records a guest session opened at a table (no table: a takeaway session from a share link).
INSERT INTO guest_sessions (restaurant_id, table_id, expires_at)
VALUES (%(restaurant_id)s, %(table_id)s, now() + make_interval(secs => %(ttl_s)s))
RETURNING id, expires_at;

-- name: guest_session_state
-- The probe enter_restaurant makes for every guest request (guest_session_state in schema.sql: its
-- primary key), named so that tests/test_query_plans.py can check its plan.
SELECT * FROM guest_session_state(%(restaurant_id)s, %(session_id)s);
