-- name: fullsync_orders
-- Every order in the shape the pushers send, by id, for fullSync's server-side cursor (system scope),
-- but a reservation's pre-order that has not fired: the kitchen must not see it before it fires.
SELECT *
  FROM order_documents
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
