-- Order exports (docs/exports.md): the API queues and reads them; the worker claims, streams
-- the orders into a file and records the result; housekeeping expires the files.

-- name: queue_export
-- A new queued export, unless the restaurant already has max_pending queued or running (then no row).
INSERT INTO exports (restaurant_id, requested_by, format, from_date, to_date)
SELECT %(restaurant_id)s, %(requested_by)s, %(format)s, %(from_date)s, %(to_date)s
 WHERE (SELECT count(*) FROM exports
         WHERE restaurant_id = %(restaurant_id)s AND status IN ('queued', 'running')) < %(max_pending)s
RETURNING *;

-- name: get_export
-- One export of the restaurant.
SELECT * FROM exports WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s;

-- name: list_exports
-- The restaurant's most recent exports, newest first.
SELECT * FROM exports
 WHERE restaurant_id = %(restaurant_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;

-- name: ready_export
-- A ready export by id alone (the download: its signed URL names no restaurant), while its file has not expired.
SELECT id, restaurant_id, format, from_date, to_date, file_name, size_bytes
  FROM exports
 WHERE id = %(id)s AND status = 'ready' AND expires_at > now();

-- name: give_up_exports
-- Builds whose lease ran out after their last attempt: failed (their worker died every time).
UPDATE exports
   SET status = 'failed', owner = NULL, lease_until = NULL, finished_at = now(),
       error = 'the build did not finish in ' || attempts || ' attempts'
 WHERE status = 'running' AND lease_until < now() AND attempts >= %(max_attempts)s;

-- name: claim_export
-- The oldest queued export, or a running one whose worker's lease ran out, now this worker's: with its restaurant's time zone and currency.
-- The pick is a materialised CTE: as a subquery in FROM it may be rescanned by the join, and
-- each rescan with SKIP LOCKED can pick another row (two exports claimed by one call: seen here).
WITH c AS MATERIALIZED (
    SELECT restaurant_id, id FROM exports
     WHERE (status = 'queued' OR (status = 'running' AND lease_until < now()))
       AND attempts < %(max_attempts)s
     ORDER BY created_at
     LIMIT 1
       FOR UPDATE SKIP LOCKED)
UPDATE exports e
   SET status = 'running', attempts = e.attempts + 1, owner = %(owner)s, error = NULL,
       lease_until = now() + make_interval(secs => %(lease_s)s), started_at = now()
  FROM c, restaurants r
 WHERE e.restaurant_id = c.restaurant_id AND e.id = c.id AND r.id = c.restaurant_id
RETURNING e.*, r.timezone, r.currency, r.name AS restaurant_name;

-- name: renew_export_lease
-- Keeps a long build this worker's.
UPDATE exports SET lease_until = now() + make_interval(secs => %(lease_s)s)
 WHERE id = %(id)s AND owner = %(owner)s AND status = 'running';

-- name: finish_export
-- The build's file and counts, if the export is still this worker's build (no row otherwise).
UPDATE exports
   SET status = 'ready', owner = NULL, lease_until = NULL, finished_at = now(),
       expires_at = now() + make_interval(secs => %(ttl_s)s),
       file_name = %(file_name)s, orders_count = %(orders_count)s, lines_count = %(lines_count)s,
       size_bytes = %(size_bytes)s
 WHERE id = %(id)s AND owner = %(owner)s AND status = 'running'
RETURNING id;

-- name: expire_exports
-- Ready exports past their expiry, marked expired; returns the files to delete (a bounded batch, rows others hold skipped).
WITH old AS MATERIALIZED (
    SELECT restaurant_id, id, file_name FROM exports
     WHERE status = 'ready' AND expires_at < now()
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED)
UPDATE exports e
   SET status = 'expired', file_name = NULL
  FROM old
 WHERE e.restaurant_id = old.restaurant_id AND e.id = old.id
RETURNING old.file_name;

-- name: running_exports
-- Which of these exports are being built (their part files are live; the others' are leftovers).
SELECT id FROM exports WHERE id = ANY(%(ids)s::uuid[]) AND status = 'running';

-- name: export_rows
-- The export's orders with their lines, oldest first (one row per line; an order without lines once, its line fields NULL): read through a server-side cursor.
SELECT o.id, o.number, o.created_at, o.order_type, o.status, t.label AS table_label,
       o.customer_name, o.customer_phone, o.notes, o.currency,
       o.subtotal, o.tax, o.tip, o.discount, o.total,
       i.position, i.name AS item_name, i.variation_name, i.quantity, i.unit_price, i.line_total,
       i.notes AS line_notes,
       (SELECT string_agg(a.value ->> 'name', ', ' ORDER BY a.ordinality)
          FROM jsonb_array_elements(i.addons) WITH ORDINALITY AS a) AS addons
  FROM orders o
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id
  LEFT JOIN order_items i ON i.restaurant_id = o.restaurant_id AND i.order_id = o.id
 WHERE o.restaurant_id = %(restaurant_id)s
   AND o.created_at >= (%(from_date)s::date::timestamp AT TIME ZONE %(timezone)s)
   AND o.created_at < ((%(to_date)s::date + 1)::timestamp AT TIME ZONE %(timezone)s)
 ORDER BY o.created_at, o.id, i.position;
