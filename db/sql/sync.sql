-- Every statement on the outbox (sync_log) and its routing (sync_targets,
-- restaurant_targets), for every target. The engine (sync/engine.py) is their only
-- writer besides the triggers in schema.sql; operators' reads are at the end.

-- name: claim_entities
-- The API's pusher claims the pending rows of entities it has just committed, binding its transaction to the system scope itself, and with with_state each entity's current state (sync_claim_entities in schema.sql).
-- A claimed row's next_attempt_at is its lease expiry: past it, the worker may reclaim the row.
SELECT id, restaurant_id, entity_type, entity_id, entity_version, attempts, trace_context, state::text AS state
  FROM sync_claim_entities(%(target)s, %(owner)s, %(lease_s)s, %(entity_types)s::text[], %(entity_ids)s::uuid[],
                           %(trace_context)s, %(with_state)s);

-- name: claim_due
-- A worker claims a target's due rows, oldest first: failed rows past their backoff, pending
-- rows older than the grace period (their API died before pushing), and in-flight rows whose
-- lease expired (their holder died). SKIP LOCKED: two workers never claim the same row.
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
RETURNING s.id, s.restaurant_id, s.entity_type, s.entity_id, s.entity_version, s.attempts, s.trace_context;

-- name: claim_due_ordered
-- claim_due for a target whose deliveries of one entity must never overtake each other (a
-- restaurant's webhook): an entity is skipped while another row of it is in flight under a
-- live lease.
UPDATE sync_log s
   SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => %(lease_s)s),
       lease_owner = %(owner)s, updated_at = now()
  FROM (SELECT d.id FROM sync_log d
         WHERE d.target = %(target)s AND d.status IN ('pending', 'failed', 'in_flight')
           AND d.next_attempt_at <= now()
           AND (d.status <> 'pending' OR d.next_attempt_at <= now() - make_interval(secs => %(grace_s)s))
           AND NOT EXISTS (SELECT FROM sync_log f
                            WHERE f.restaurant_id = d.restaurant_id AND f.target = d.target
                              AND f.status = 'in_flight' AND f.next_attempt_at > now()
                              AND f.entity_type = d.entity_type AND f.entity_id = d.entity_id AND f.id <> d.id)
         ORDER BY d.next_attempt_at
         LIMIT %(limit)s
           FOR UPDATE OF d SKIP LOCKED) due
 WHERE s.id = due.id
RETURNING s.id, s.restaurant_id, s.entity_type, s.entity_id, s.entity_version, s.attempts, s.trace_context;

-- name: renew_leases
-- The heartbeat of a delivery in progress: its rows stay leased to their holder.
UPDATE sync_log
   SET next_attempt_at = now() + make_interval(secs => %(lease_s)s)
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: mark_synced_alone
-- Rows whose change the target holds now (sync_mark_synced in schema.sql). It scopes itself, so it can be a statement of its own on an autocommit connection (a round whose every row was delivered is recorded in one round trip) or one statement of a system transaction.
SELECT sync_mark_synced(%(ids)s::bigint[], %(owner)s) AS marked;

-- name: mark_failed
-- Rows to retry: count the attempt and back off exponentially with jitter, capped (or after
-- the target's own delay). Only a limited retry (the target refused the content) can make a
-- row dead once its attempts run out; a target that is down is retried for as long as it takes.
UPDATE sync_log
   SET status = CASE WHEN %(limited)s AND attempts + 1 >= %(max_attempts)s THEN 'dead' ELSE 'failed' END,
       attempts = attempts + 1,
       next_attempt_at = now() + make_interval(secs => coalesce(%(after_s)s::float8,
           least(%(backoff_max_s)s, %(backoff_base_s)s * 2 ^ least(attempts, 30)) * (0.5 + random() / 2))),
       last_error = left(%(error)s, 2000), target_down = %(target_down)s, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s
RETURNING id, status, attempts;

-- name: mark_dead
-- Rows whose change can never succeed as it is (the target refused its content, the outlet is gone): dead at once.
UPDATE sync_log
   SET status = 'dead', attempts = attempts + 1, last_error = left(%(error)s, 2000), target_down = false,
       updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: mark_skipped
-- Rows with nothing to deliver (no webhook any more, nothing to cancel): done, the reason kept.
UPDATE sync_log
   SET status = 'synced', synced_at = now(), last_error = left(%(reason)s, 2000), target_down = false,
       updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: supersede
-- Older undelivered rows of entities whose newer state a target just received: nothing of theirs is left to send.
UPDATE sync_log s
   SET status = 'synced', synced_at = now(), last_error = NULL, target_down = false, updated_at = now()
  FROM unnest(%(restaurant_ids)s::uuid[], %(entity_types)s::text[], %(entity_ids)s::uuid[], %(versions)s::bigint[])
       AS d(restaurant_id, entity_type, entity_id, version)
 WHERE s.restaurant_id = d.restaurant_id AND s.target = %(target)s AND s.status IN ('pending', 'failed')
   AND s.entity_type = d.entity_type AND s.entity_id = d.entity_id AND s.entity_version <= d.version;

-- name: release_claims
-- A stopping process hands back rows it claimed but did not deliver: due again at once,
-- attempts unchanged ('failed', because a newer pending row of the entity may exist).
UPDATE sync_log
   SET status = 'failed', next_attempt_at = now(), lease_owner = NULL, updated_at = now()
 WHERE id = ANY(%(ids)s::bigint[]) AND status = 'in_flight' AND lease_owner = %(owner)s;

-- name: resume_target
-- A target that was down answers again: the rows that waited for it are due now, not at their backoff.
UPDATE sync_log
   SET next_attempt_at = now(), updated_at = now()
 WHERE target = %(target)s AND status = 'failed' AND target_down AND next_attempt_at > now();

-- name: next_due
-- Seconds until a target's next row is due (claim_due's rule), NULL when none is waiting.
SELECT extract(epoch FROM min(CASE WHEN status = 'pending'
                                   THEN next_attempt_at + make_interval(secs => %(grace_s)s)
                                   ELSE next_attempt_at END) - now()) AS seconds
  FROM sync_log
 WHERE target = %(target)s AND status IN ('pending', 'failed', 'in_flight');

-- name: pending_keys_of_transaction
-- The entities this transaction queued for a target in one restaurant, its triggers' derived
-- changes included (a relabelled table's orders), to hand to the post-commit pusher.
SELECT entity_type, entity_id
  FROM sync_log
 WHERE restaurant_id = %(restaurant_id)s AND target = %(target)s AND status = 'pending'
   AND xmin = pg_current_xact_id()::xid;

-- name: wake_worker
-- Tells listening workers that a target has work that should not wait for the next pass.
SELECT pg_notify('sync_wake', %(target)s);

-- name: listen_sync_wake
-- Subscribes a worker's connection to wake-ups (see wake_worker and the enqueue_sync trigger).
LISTEN sync_wake;

-- name: enable_target
-- Sends a restaurant's changes to a target from now on (connecting PetPooja, registering a webhook).
INSERT INTO restaurant_targets (restaurant_id, target)
VALUES (%(restaurant_id)s, %(target)s)
ON CONFLICT DO NOTHING;

-- name: disable_target
-- Stops sending a restaurant's changes to a target; rows already queued are delivered or skipped.
DELETE FROM restaurant_targets
 WHERE restaurant_id = %(restaurant_id)s AND target = %(target)s;

-- name: sync_target_names
-- The targets the schema routes changes to (sync/registry.py must build each).
SELECT name FROM sync_targets ORDER BY name;

-- name: target_epoch
-- The epoch a target was last rebuilt under (Convex's full sync), or none.
SELECT epoch, epoch_set_at FROM sync_target_state WHERE target = %(target)s;

-- name: set_target_epoch
-- Records the epoch a target was just rebuilt under.
INSERT INTO sync_target_state (target, epoch, epoch_set_at)
VALUES (%(target)s, %(epoch)s, now())
ON CONFLICT (target) DO UPDATE SET epoch = excluded.epoch, epoch_set_at = excluded.epoch_set_at;

-- name: order_documents_by_ids
-- Current state of orders to send (system scope: a round spans restaurants), as the API shows them.
SELECT * FROM order_documents WHERE id = ANY(%(ids)s::uuid[]);

-- name: order_convex_documents_by_ids
-- Current state of orders for Convex: as the API shows them, with the reason of their latest
-- status move (the same as order_convex_documents in schema.sql, which the pusher's claim reads).
SELECT d.*, order_status_reason(d.restaurant_id, d.id) AS status_reason
  FROM order_documents d
 WHERE d.id = ANY(%(ids)s::uuid[]);

-- name: menu_item_documents_by_ids
-- Current state of menu items to send, with their category's name (menu_item_documents in schema.sql).
SELECT * FROM menu_item_documents(%(ids)s::uuid[]);

-- name: table_documents_by_ids
-- Current state of tables to send, never their QR tokens (table_documents in schema.sql).
SELECT * FROM table_documents(%(ids)s::uuid[]);

-- name: reservation_documents_by_ids
-- Current state of reservations to send, with their restaurant's time zone (reservation_documents in schema.sql).
SELECT * FROM reservation_documents(%(ids)s::uuid[]);

-- name: notification_documents_by_ids
-- Current state of notifications to send (notification_documents in schema.sql).
SELECT * FROM notification_documents(%(ids)s::uuid[]);

-- name: sync_status_for_restaurant
-- Queue depth of one restaurant by target and status, and the age of its oldest row not
-- yet synced (pending, in flight or failed; as sync_oldest_pending_seconds on /metrics). A
-- pending row held for later (a reservation's pre-order) counts in the depth but ages only
-- from when it comes due.
SELECT target, status, count(*) AS n,
       extract(epoch FROM now() - min(CASE WHEN status = 'pending' THEN greatest(created_at, next_attempt_at)
                                           ELSE created_at END)
                                  FILTER (WHERE status IN ('pending', 'in_flight', 'failed')
                                            AND (status <> 'pending' OR next_attempt_at <= now())))
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
-- Queue depth of every restaurant by target and status, for /metrics (synced rows excluded); a
-- held pending row (a pre-order) ages only from when it comes due, as above.
SELECT target, status, count(*) AS n,
       coalesce(extract(epoch FROM now() - min(CASE WHEN status = 'pending'
                                                    THEN greatest(created_at, next_attempt_at)
                                                    ELSE created_at END)
                                           FILTER (WHERE status <> 'pending' OR next_attempt_at <= now())), 0)
           AS oldest_s
  FROM sync_log
 WHERE status IN ('pending', 'in_flight', 'failed', 'dead')
 GROUP BY target, status;

-- name: sync_errors
-- Failed and dead rows, newest first, for operators (and, summarised, owners): each with its
-- history of retries and resolutions, and for a platform's menu rows the store's last failed
-- menu and the platform's answer to it. `state`: open (failed, or dead and not resolved: the
-- default), failed, dead (not resolved), resolved (dead, its latest action a resolve). Of one
-- restaurant and one target when given.
SELECT s.id, s.restaurant_id, s.target, s.entity_type, s.entity_id, s.entity_version, s.status, s.attempts,
       s.next_attempt_at, s.last_error, s.created_at, s.updated_at,
       coalesce(h.history, '[]'::jsonb) AS history,
       CASE WHEN h.last_action = 'resolve' THEN h.last END AS resolution,
       pc.failed_menu, pc.last_response AS platform_response, pc.last_error AS platform_error
  FROM sync_log s
  LEFT JOIN LATERAL (
       SELECT jsonb_agg(jsonb_build_object('action', a.action, 'actor', a.actor, 'reason', a.reason, 'at', a.at)
                        ORDER BY a.id) AS history,
              (array_agg(a.action ORDER BY a.id DESC))[1] AS last_action,
              (array_agg(jsonb_build_object('actor', a.actor, 'reason', a.reason, 'at', a.at)
                         ORDER BY a.id DESC))[1] AS last
         FROM sync_log_actions a
        WHERE a.sync_log_id = s.id) h ON true
  LEFT JOIN platform_connections pc
         ON pc.restaurant_id = s.restaurant_id AND pc.platform = s.target AND s.entity_type IN ('menu', 'menu_item')
 WHERE s.status IN ('failed', 'dead') AND s.id < %(before_id)s
   AND (%(restaurant_id)s::uuid IS NULL OR s.restaurant_id = %(restaurant_id)s::uuid)
   AND (%(target)s::text IS NULL OR s.target = %(target)s::text)
   AND CASE %(state)s::text
           WHEN 'failed' THEN s.status = 'failed'
           WHEN 'dead' THEN s.status = 'dead' AND h.last_action IS DISTINCT FROM 'resolve'
           WHEN 'resolved' THEN s.status = 'dead' AND h.last_action = 'resolve'
           ELSE h.last_action IS DISTINCT FROM 'resolve' END
 ORDER BY s.id DESC
 LIMIT %(limit)s;

-- name: retry_sync_row
-- A retry by hand: a failed or dead row (resolved or not) becomes due now with a fresh attempt
-- budget, and the retry joins the row's history with who asked.
WITH retried AS (
    UPDATE sync_log
       SET status = 'failed', attempts = 0, next_attempt_at = now(), updated_at = now()
     WHERE id = %(id)s AND status IN ('failed', 'dead')
    RETURNING id, restaurant_id, target)
INSERT INTO sync_log_actions (restaurant_id, sync_log_id, target, action, actor)
SELECT restaurant_id, id, target, 'retry', %(actor)s FROM retried
RETURNING sync_log_id AS id, target, action, actor, reason, at;

-- name: resolve_sync_row
-- A resolution by hand (the change was made another way, or is not wanted): a failed or dead
-- row becomes dead, so nothing retries it, and the resolution joins its history with who and why.
WITH resolved AS (
    UPDATE sync_log
       SET status = 'dead', updated_at = now()
     WHERE id = %(id)s AND status IN ('failed', 'dead')
    RETURNING id, restaurant_id, target)
INSERT INTO sync_log_actions (restaurant_id, sync_log_id, target, action, actor, reason)
SELECT restaurant_id, id, target, 'resolve', %(actor)s, %(reason)s FROM resolved
RETURNING sync_log_id AS id, target, action, actor, reason, at;

-- name: targets_of_restaurant
-- Every target the schema routes changes to, and whether it takes this restaurant's (Convex
-- takes every restaurant's; the others once connected or registered).
SELECT t.name, t.all_restaurants OR r.target IS NOT NULL AS connected
  FROM sync_targets t
  LEFT JOIN restaurant_targets r ON r.target = t.name AND r.restaurant_id = %(restaurant_id)s
 ORDER BY t.name;

-- name: prune_synced
-- Deletes synced rows older than the retention period, a bounded batch at a time.
DELETE FROM sync_log
 WHERE id IN (SELECT id FROM sync_log
               WHERE status = 'synced' AND synced_at < now() - make_interval(secs => %(retention_s)s)
               LIMIT %(limit)s);

-- name: try_rebuild_lock
-- One worker at a time rebuilds a target: a session advisory lock, held for the rebuild (false when another holds it).
SELECT pg_try_advisory_lock(hashtext('tabletop.rebuild.' || %(target)s)) AS locked;

-- name: release_rebuild_lock
-- Releases try_rebuild_lock's lock (a session that ends releases it too).
SELECT pg_advisory_unlock(hashtext('tabletop.rebuild.' || %(target)s)) AS released;
