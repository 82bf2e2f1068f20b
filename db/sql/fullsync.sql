-- name: fullsync_orders
-- Every order in the shape the pushers send (with its latest status reason), by id, for fullSync's
-- server-side cursor (system scope), but a reservation's pre-order that has not fired: the kitchen
-- must not see it before it fires.
SELECT d.*, order_status_reason(d.restaurant_id, d.id) AS status_reason
  FROM order_documents d
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid)
   AND (fire_at IS NULL OR fire_at <= now())
 ORDER BY id;

-- name: fullsync_menu_items
-- Every menu item with its category's name, soft-deleted ones included (they become deletes), by id.
SELECT i.id, i.restaurant_id, i.category_id, c.name AS category_name, i.name, i.description, i.price,
       i.is_available, i.rank, i.version, i.deleted_at
  FROM menu_items i
  JOIN menu_categories c ON c.restaurant_id = i.restaurant_id AND c.id = i.category_id
 WHERE (%(restaurant_id)s::uuid IS NULL OR i.restaurant_id = %(restaurant_id)s::uuid)
 ORDER BY i.id;

-- name: fullsync_tables
-- Every dining table (never its QR token), by id.
SELECT id, restaurant_id, label, seats, is_active, version
  FROM dining_tables
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid)
 ORDER BY id;

-- name: fullsync_count_orders
-- How many orders fullSync would send (total) and how many Convex should hold (live).
SELECT count(*) AS total, count(*) AS live
  FROM orders
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid)
   AND (fire_at IS NULL OR fire_at <= now());

-- name: fullsync_count_menu_items
-- How many menu items fullSync would send (total) and how many Convex should hold (not soft-deleted).
SELECT count(*) AS total, count(*) FILTER (WHERE deleted_at IS NULL) AS live
  FROM menu_items
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid);

-- name: fullsync_count_tables
-- How many dining tables fullSync would send (total) and how many Convex should hold (live).
SELECT count(*) AS total, count(*) AS live
  FROM dining_tables
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid);

-- name: fullsync_order_versions
-- Which of a page of Convex pgIds exist as orders in Postgres, at what version.
SELECT id, version, false AS deleted FROM orders WHERE id = ANY(%(ids)s::uuid[]);

-- name: fullsync_menu_item_versions
-- Which of a page of Convex pgIds exist as menu items, at what version, and whether soft-deleted.
SELECT id, version, deleted_at IS NOT NULL AS deleted FROM menu_items WHERE id = ANY(%(ids)s::uuid[]);

-- name: fullsync_table_versions
-- Which of a page of Convex pgIds exist as dining tables in Postgres, at what version.
SELECT id, version, false AS deleted FROM dining_tables WHERE id = ANY(%(ids)s::uuid[]);

-- name: fullsync_reservations
-- Every reservation with its restaurant's time zone, by id (reservation_documents in schema.sql).
SELECT x.id, x.restaurant_id, x.slot_start, x.local_date, r.timezone, x.party_size, x.status, x.user_id,
       x.guest_name, x.guest_phone, x.table_preference, x.note, x.version, x.created_at, x.updated_at
  FROM reservations x
  JOIN restaurants r ON r.id = x.restaurant_id
 WHERE (%(restaurant_id)s::uuid IS NULL OR x.restaurant_id = %(restaurant_id)s::uuid)
 ORDER BY x.id;

-- name: fullsync_notifications
-- Every notification, by id (notification_documents in schema.sql).
SELECT id, restaurant_id, user_id, session_id, type, title, message, reference_type, reference_id, status,
       read_at, version, created_at
  FROM notifications
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid)
 ORDER BY id;

-- name: fullsync_count_reservations
-- How many reservations fullSync would send (total) and how many Convex should hold (live).
SELECT count(*) AS total, count(*) AS live
  FROM reservations
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid);

-- name: fullsync_count_notifications
-- How many notifications fullSync would send (total) and how many Convex should hold (live).
SELECT count(*) AS total, count(*) AS live
  FROM notifications
 WHERE (%(restaurant_id)s::uuid IS NULL OR restaurant_id = %(restaurant_id)s::uuid);

-- name: fullsync_reservation_versions
-- Which of a page of Convex pgIds exist as reservations in Postgres, at what version.
SELECT id, version, false AS deleted FROM reservations WHERE id = ANY(%(ids)s::uuid[]);

-- name: fullsync_notification_versions
-- Which of a page of Convex pgIds exist as notifications in Postgres, at what version.
SELECT id, version, false AS deleted FROM notifications WHERE id = ANY(%(ids)s::uuid[]);
