-- name: upsert_platform_connection
-- Connects a restaurant's store on a platform, or replaces its store id and credentials; a
-- new store starts pending (its menu not yet published there, and the old store's menu id,
-- DoorDash's, not its own).
INSERT INTO platform_connections (restaurant_id, platform, store_id, credentials, key_id)
VALUES (%(restaurant_id)s, %(platform)s, %(store_id)s, %(credentials)s, %(key_id)s)
ON CONFLICT (restaurant_id, platform) DO UPDATE
   SET store_id = excluded.store_id,
       credentials = excluded.credentials,
       key_id = excluded.key_id,
       sync_status = CASE WHEN platform_connections.store_id = excluded.store_id
                          THEN platform_connections.sync_status ELSE 'pending' END,
       published_menu = CASE WHEN platform_connections.store_id = excluded.store_id
                             THEN platform_connections.published_menu END,
       external_menu_id = CASE WHEN platform_connections.store_id = excluded.store_id
                               THEN platform_connections.external_menu_id END
RETURNING platform, store_id, sync_status, last_sync_at, item_count, external_menu_id, last_error,
          retry_count, created_at, updated_at;

-- name: get_platform_connection
-- A restaurant's store on a platform and its menu's state there, without credentials.
SELECT platform, store_id, sync_status, last_sync_at, item_count, external_menu_id, last_error,
       retry_count, created_at, updated_at
  FROM platform_connections
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s;

-- name: delete_platform_connection
-- Forgets a restaurant's store on a platform.
DELETE FROM platform_connections
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s;

-- name: lock_platform_connection
-- The store with its sealed credentials and last accepted menu, locked until the transaction
-- ends, so two workers never publish one restaurant's menu at once (the later one then reads
-- the later menu). NULL row: not connected any more.
SELECT store_id, credentials, key_id, published_menu, external_menu_id, retry_count
  FROM platform_connections
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s
   FOR UPDATE;

-- name: read_platform_connection
-- The store with its sealed credentials, unlocked (an order's delivery reads it beside a publish).
SELECT store_id, credentials, key_id, published_menu, external_menu_id, retry_count
  FROM platform_connections
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s;

-- name: record_platform_publish
-- What the platform answered to a publish: synced (with the menu it now has) or failed (with
-- the menu that failed, for the operator).
UPDATE platform_connections
   SET sync_status = CASE WHEN %(ok)s THEN 'synced' ELSE 'failed' END,
       last_sync_at = CASE WHEN %(ok)s THEN now() ELSE last_sync_at END,
       item_count = CASE WHEN %(ok)s THEN %(item_count)s ELSE item_count END,
       published_menu = CASE WHEN %(ok)s THEN %(published_menu)s ELSE published_menu END,
       failed_menu = CASE WHEN %(ok)s THEN NULL ELSE %(published_menu)s END,
       last_error = CASE WHEN %(ok)s THEN NULL ELSE %(error)s END,
       last_response = %(response)s,
       retry_count = CASE WHEN %(ok)s THEN 0 ELSE retry_count + 1 END,
       external_menu_id = coalesce(%(external_menu_id)s, external_menu_id)
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s;

-- name: enqueue_full_menu
-- A publish of the restaurant's whole menu to one target (connecting, a full refresh).
SELECT enqueue_outbox(%(restaurant_id)s, %(target)s, 'menu', %(restaurant_id)s, 0), pg_notify('sync_wake', %(target)s);

-- name: platform_store_by_id
-- The restaurant holding a platform store, with the store's sealed credentials (a webhook names
-- the store, not the restaurant: read in the system scope). NULL row: no such store here.
SELECT restaurant_id, credentials, key_id
  FROM platform_connections
 WHERE platform = %(platform)s AND store_id = %(store_id)s;

-- name: record_webhook_event
-- Records a platform's webhook event by its id; no row when it was recorded before (a retry).
INSERT INTO platform_webhook_events (platform, event_id, event_type)
VALUES (%(platform)s, %(event_id)s, %(event_type)s)
ON CONFLICT (platform, event_id) DO NOTHING
RETURNING event_id;

-- name: receive_platform_order
-- An order the platform's webhook named; its insert routes it to the platform's target.
-- Named twice (two events of one order): one row.
INSERT INTO platform_orders (restaurant_id, platform, external_id, platform_order)
VALUES (%(restaurant_id)s, %(platform)s, %(external_id)s, %(platform_order)s)
ON CONFLICT (platform, external_id) DO NOTHING;

-- name: lock_platform_order
-- A platform order, locked until the transaction ends (one worker handles it at a time).
SELECT id, platform, external_id, state, order_id, platform_order, order_status, status_sent
  FROM platform_orders
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s
   FOR UPDATE;

-- name: record_platform_order
-- What became of a platform order: ours created, accepted or denied, the platform's order
-- and total as it sent them, and the last error.
UPDATE platform_orders
   SET state = %(state)s,
       order_id = coalesce(%(order_id)s, order_id),
       platform_order = coalesce(%(platform_order)s, platform_order),
       platform_total = coalesce(%(platform_total)s, platform_total),
       totals_differ = coalesce(%(totals_differ)s, totals_differ),
       error = %(error)s
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s;

-- name: record_platform_status_sent
-- The platform was told our order's status moved to this one.
UPDATE platform_orders SET status_sent = %(status)s
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s;

-- name: cancel_platform_order
-- The platform cancelled its order: cancelled here too, its cancellation recorded as already
-- told (status_sent), so our order's cancellation that follows is not sent back. An order the
-- platform cancels before it reached us is recorded cancelled, so it is never taken.
INSERT INTO platform_orders (restaurant_id, platform, external_id, state, status_sent)
VALUES (%(restaurant_id)s, %(platform)s, %(external_id)s, 'cancelled', 'cancelled')
ON CONFLICT (platform, external_id) DO UPDATE
   SET state = CASE WHEN platform_orders.state = 'denied' THEN 'denied' ELSE 'cancelled' END,
       status_sent = 'cancelled'
 WHERE platform_orders.restaurant_id = excluded.restaurant_id
RETURNING id, order_id, state;

-- name: record_platform_menu_status
-- What the platform's asynchronous menu job came to (DoorDash's menu status webhook, Grubhub's
-- ingestion status: only for the store's last job). Its menu
-- id is kept whatever the outcome (a failed job may still have created the menu); a failure
-- marks the menu failed with the platform's reason and forgets the published menu, so the
-- next publish sends the whole menu again rather than availability alone.
UPDATE platform_connections
   SET external_menu_id = coalesce(%(menu_id)s::text, external_menu_id),
       sync_status = CASE WHEN %(error)s::text IS NULL THEN sync_status ELSE 'failed' END,
       last_error = coalesce(%(error)s::text, last_error),
       published_menu = CASE WHEN %(error)s::text IS NULL THEN published_menu END
 WHERE restaurant_id = %(restaurant_id)s AND platform = %(platform)s
   AND (%(of_job)s::text IS NULL OR external_menu_id = %(of_job)s::text);

-- name: platform_connections_of_restaurant
-- Every store the restaurant connected, and its menu's state there, without credentials.
SELECT platform, store_id, sync_status, last_sync_at, item_count, external_menu_id, last_error,
       retry_count, created_at, updated_at
  FROM platform_connections
 WHERE restaurant_id = %(restaurant_id)s
 ORDER BY platform;

-- name: full_menu_queued
-- Whether a publish of the restaurant's whole menu waits for the target (its pending 'menu' row).
SELECT EXISTS (SELECT FROM sync_log
                WHERE target = %(target)s AND entity_type = 'menu' AND entity_id = %(restaurant_id)s
                  AND status = 'pending') AS queued;
