-- name: claim_entities
-- The API's pusher claims the pending rows of entities it has just committed. A claimed
-- row's next_attempt_at is its lease expiry: past it, the worker may reclaim the row.
UPDATE sync_log s
   SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => %(lease_s)s),
       lease_owner = %(owner)s, updated_at = now()
  FROM (SELECT id FROM sync_log
         WHERE target = %(target)s AND status = 'pending'
           AND (entity_type, entity_id) IN (SELECT * FROM unnest(%(entity_types)s::text[], %(entity_ids)s::uuid[]))
           FOR UPDATE SKIP LOCKED) claimed
 WHERE s.id = claimed.id
RETURNING s.id, s.restaurant_id, s.entity_type, s.entity_id, s.entity_version, s.attempts;

-- name: claim_due
-- The worker claims due rows, oldest first: failed rows past their backoff, pending rows
-- older than the grace period (their API died before pushing), and in-flight rows whose
-- lease expired (their pusher died). SKIP LOCKED: two workers never claim the same row.
UPDATE sync_log s
   SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => %(lease_s)s),
       lease_owner = %(owner)s, updated_at = now()
  FROM (SELECT id FROM sync_log
         WHERE target = %(target)s AND status IN ('pending', 'failed', 'in_flight')
           AND next_attempt_at <= now()
           AND (status <> 'pending' OR next_attempt_at <= now() - make_interval(secs => %(grace_s)s))
         ORDER BY next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED) due
 WHERE s.id = due.id
RETURNING s.id, s.restaurant_id, s.entity_type, s.entity_id, s.entity_version, s.attempts;

-- name: mark_synced
-- Rows whose push Convex accepted (applied or stale both mean Convex is up to date).
UPDATE sync_log
   SET status = 'synced', synced_at = now(), last_error = NULL, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: mark_failed
-- Rows whose push failed: count the attempt and back off exponentially with jitter, capped.
-- Only a rejection by Convex (can_die) can make a row dead once its attempts run out; an
-- unreachable Convex is retried for as long as it takes.
UPDATE sync_log
   SET status = CASE WHEN %(can_die)s AND attempts + 1 >= %(max_attempts)s THEN 'dead' ELSE 'failed' END,
       attempts = attempts + 1,
       next_attempt_at = now() + make_interval(
           secs => least(%(backoff_max_s)s, %(backoff_base_s)s * 2 ^ least(attempts, 30)) * (0.5 + random() / 2)),
       last_error = left(%(error)s, 2000), updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s
RETURNING id, status, attempts;

-- name: release_claims
-- A stopping process hands back rows it claimed but did not push: due again at once,
-- attempts unchanged ('failed', because a newer pending row of the entity may exist).
UPDATE sync_log
   SET status = 'failed', next_attempt_at = now(), lease_owner = NULL, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: order_documents_by_ids
-- Current state of orders to push (system scope: a batch spans restaurants).
SELECT * FROM order_documents WHERE id = ANY(%(ids)s::uuid[]);

-- name: menu_item_documents_by_ids
-- Current state of menu items to push, with their category's name.
SELECT i.id, i.restaurant_id, i.category_id, c.name AS category_name, i.name, i.description, i.price,
       i.is_available, i.rank, i.version, i.deleted_at
  FROM menu_items i
  JOIN menu_categories c ON c.restaurant_id = i.restaurant_id AND c.id = i.category_id
 WHERE i.id = ANY(%(ids)s::uuid[]);

-- name: table_documents_by_ids
-- Current state of tables to push (never their QR tokens).
SELECT id, restaurant_id, label, seats, is_active, version
  FROM dining_tables
 WHERE id = ANY(%(ids)s::uuid[]);

-- name: wake_worker
-- Tells listening workers that rows failed and recovery should not wait for the interval.
SELECT pg_notify('sync_wake', %(target)s);

-- name: sync_status_for_restaurant
-- Queue depth of one restaurant by target and status, and the age of its oldest row not
-- yet synced (pending, in flight or failed; as sync_oldest_pending_seconds on /metrics).
SELECT target, status, count(*) AS n,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE status IN ('pending', 'in_flight', 'failed')))
           AS oldest_s
  FROM sync_log
 WHERE restaurant_id = %(restaurant_id)s AND status <> 'synced'
 GROUP BY target, status
UNION ALL
SELECT target, 'synced', count(*), NULL
  FROM sync_log
 WHERE restaurant_id = %(restaurant_id)s AND status = 'synced'
 GROUP BY target;

-- name: sync_queue_depth
-- Queue depth of every restaurant by target and status, for /metrics (synced rows excluded).
SELECT target, status, count(*) AS n,
       coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest_s
  FROM sync_log
 WHERE status IN ('pending', 'in_flight', 'failed', 'dead')
 GROUP BY target, status;

-- name: sync_errors
-- Failed and dead rows with their last error, newest first, for operators.
SELECT id, restaurant_id, target, entity_type, entity_id, entity_version, status, attempts,
       next_attempt_at, last_error, created_at, updated_at
  FROM sync_log
 WHERE status IN ('failed', 'dead') AND id < %(before_id)s
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: retry_sync_row
-- An operator's retry: a failed or dead row becomes due now with a fresh attempt budget.
UPDATE sync_log
   SET status = 'failed', attempts = 0, next_attempt_at = now(), updated_at = now()
 WHERE id = %(id)s AND status IN ('failed', 'dead')
RETURNING id, target;

-- name: prune_synced
-- Deletes synced rows older than the retention period, a bounded batch at a time.
DELETE FROM sync_log
 WHERE id IN (SELECT id FROM sync_log
               WHERE status = 'synced' AND synced_at < now() - make_interval(secs => %(retention_s)s)
               LIMIT %(limit)s);

-- name: listen_sync_wake
-- Subscribes a worker's connection to wake-ups (see wake_worker).
LISTEN sync_wake;
