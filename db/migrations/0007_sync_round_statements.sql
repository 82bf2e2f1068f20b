-- The post-commit pusher's round in two statements (issue 12).
--
-- The API's pusher runs one outbox round per few milliseconds in the event loop that serves
-- requests, and each statement costs that loop about 0.1 ms of CPU. A round took nine
-- (BEGIN, system scope, claim, read the entities, COMMIT; BEGIN, system scope, mark synced,
-- COMMIT). Now the claim scopes itself and returns each claimed entity's current state, and
-- recording a round whose every row was delivered is one statement: two, each its own
-- transaction on an autocommit connection.

-- What the Convex target sends of menu items (with their category's name) and tables (never
-- their QR tokens), by id: one definition for the worker's read (sync.sql) and the claim below.
CREATE FUNCTION menu_item_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, category_id uuid, category_name text, name text, description text,
               price bigint, is_available boolean, rank int, version bigint, deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT i.id, i.restaurant_id, i.category_id, c.name, i.name, i.description, i.price, i.is_available, i.rank,
           i.version, i.deleted_at
      FROM menu_items i
      JOIN menu_categories c ON c.restaurant_id = i.restaurant_id AND c.id = i.category_id
     WHERE i.id = ANY(p_ids)
$$;

CREATE FUNCTION table_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, label text, seats int, is_active boolean, version bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.id, t.restaurant_id, t.label, t.seats, t.is_active, t.version
      FROM dining_tables t
     WHERE t.id = ANY(p_ids)
$$;

-- Claims the pending rows of entities just committed (the pusher's claim, sync.sql
-- claim_entities) after binding the transaction to the system scope and the caller's trace
-- (as set_system_scope does). With p_with_state, each row also carries its entity's current
-- state as JSON (order_documents, menu_item_documents, table_documents; NULL once the entity
-- is gone), read by a statement after the claim's: it sees every change committed before
-- it, so at least the version each claimed row records (a change that coalesced into a
-- pending row after the claim's snapshot was taken is one the claim then locked and returns).
-- Run alone on an autocommit connection, claim and read are one transaction and one round trip.
CREATE FUNCTION sync_claim_entities(p_target text, p_owner text, p_lease_s float8, p_entity_types text[],
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
                        (SELECT to_json(d) FROM order_documents d WHERE d.id = r.entity_id)
                    WHEN r.entity_type = 'menu_item' THEN
                        (SELECT to_json(d) FROM menu_item_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'table' THEN
                        (SELECT to_json(d) FROM table_documents(ARRAY[r.entity_id]) d)
               END
          FROM unnest(claimed) r;
END
$$;

-- Rows whose change the target holds now (sync.sql mark_synced) in one statement that scopes
-- itself: run on an autocommit connection, it is its own transaction. Returns how many.
CREATE FUNCTION sync_mark_synced(p_ids bigint[], p_owner text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    marked bigint;
BEGIN
    PERFORM set_config('app.scope', 'system', true);
    UPDATE sync_log
       SET status = 'synced', synced_at = now(), last_error = NULL, target_down = false, updated_at = now()
     WHERE id = ANY(p_ids) AND status = 'in_flight' AND lease_owner = p_owner;
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;
