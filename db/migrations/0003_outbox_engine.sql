-- One outbox engine: which targets a restaurant's changes go to becomes data, read by one
-- trigger function; outbox rows carry the trace context of the request that wrote them and
-- whether they wait for a target that was down; each target may record the epoch it was
-- last rebuilt under (Convex); indexes for the worker's housekeeping.

CREATE TABLE sync_targets (
    name            text PRIMARY KEY CONSTRAINT sync_targets_name_valid CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    entity_types    text[] NOT NULL
                    CONSTRAINT sync_targets_entity_types_valid CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table']),
    events          text[] NOT NULL
                    CONSTRAINT sync_targets_events_valid
                    CHECK (events <@ ARRAY['created', 'changed', 'deleted', 'status_changed', 'cancelled']),
    all_restaurants boolean NOT NULL DEFAULT false,
    wake            boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('convex', '{order,menu_item,table}', '{created,changed,deleted}', true, false),
    ('petpooja', '{order}', '{created,cancelled}', false, true),
    ('webhook', '{order}', '{created,status_changed}', false, true);

CREATE TABLE restaurant_targets (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    target        text NOT NULL CONSTRAINT restaurant_targets_target_fkey REFERENCES sync_targets (name),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT restaurant_targets_pkey PRIMARY KEY (restaurant_id, target)
);
-- Restaurants connected before targets were data keep their integrations.
INSERT INTO restaurant_targets (restaurant_id, target) SELECT restaurant_id, 'petpooja' FROM petpooja_outlets;
INSERT INTO restaurant_targets (restaurant_id, target) SELECT restaurant_id, 'webhook' FROM restaurant_webhooks;

CREATE TABLE sync_target_state (
    target       text PRIMARY KEY CONSTRAINT sync_target_state_target_fkey REFERENCES sync_targets (name),
    epoch        text NOT NULL,
    epoch_set_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE sync_log ADD COLUMN trace_context text,
                     ADD COLUMN target_down boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION enqueue_outbox(rid uuid, tgt text, etype text, eid uuid, ver bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, trace_context)
    VALUES (rid, tgt, etype, eid, ver, nullif(current_setting('app.trace_context', true), ''))
    ON CONFLICT (target, entity_type, entity_id) WHERE status = 'pending'
    DO UPDATE SET entity_version = greatest(sync_log.entity_version, EXCLUDED.entity_version),
                  trace_context = coalesce(sync_log.trace_context, EXCLUDED.trace_context),
                  updated_at = now();
END
$$;

CREATE OR REPLACE FUNCTION enqueue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    etype text := TG_ARGV[0];
    rid uuid;
    eid uuid;
    ver bigint;
    happened text[];
    t record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        rid := OLD.restaurant_id; eid := OLD.id; ver := OLD.version + 1; happened := '{deleted}';
    ELSIF TG_OP = 'INSERT' THEN
        rid := NEW.restaurant_id; eid := NEW.id; ver := NEW.version; happened := '{created}';
    ELSE
        rid := NEW.restaurant_id; eid := NEW.id; ver := NEW.version; happened := '{changed}';
        IF etype = 'order' THEN
            IF NEW.status IS DISTINCT FROM OLD.status THEN
                happened := happened || '{status_changed}'::text[];
                IF NEW.status = 'cancelled' THEN
                    happened := happened || '{cancelled}'::text[];
                END IF;
            END IF;
        END IF;
    END IF;
    FOR t IN SELECT s.name, s.wake
               FROM sync_targets s
              WHERE etype = ANY (s.entity_types) AND s.events && happened
                AND (s.all_restaurants
                     OR EXISTS (SELECT FROM restaurant_targets r WHERE r.restaurant_id = rid AND r.target = s.name))
              ORDER BY s.name
    LOOP
        PERFORM enqueue_outbox(rid, t.name, etype, eid, ver);
        IF t.wake THEN
            PERFORM pg_notify('sync_wake', t.name);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER orders_enqueue_integrations ON orders;
DROP FUNCTION enqueue_order_integrations();

ALTER TABLE restaurant_targets ENABLE ROW LEVEL SECURITY;
ALTER TABLE restaurant_targets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON restaurant_targets USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON restaurant_targets, sync_target_state TO tabletop_app;
GRANT SELECT ON sync_targets TO tabletop_app;

-- The worker's housekeeping finds expired and old rows through these.
CREATE INDEX guest_sessions_expires_idx ON guest_sessions (expires_at);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys USING brin (created_at);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries USING brin (received_at);

-- Callbacks are append-only for the app role; the worker prunes old ones through this.
CREATE FUNCTION prune_webhook_deliveries(retention_s float8, max_rows int) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH old AS (
        SELECT restaurant_id, id FROM webhook_deliveries
         WHERE received_at < now() - make_interval(secs => retention_s)
         LIMIT max_rows
           FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM webhook_deliveries d USING old
         WHERE d.restaurant_id = old.restaurant_id AND d.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM deleted
$$;
REVOKE ALL ON FUNCTION prune_webhook_deliveries(float8, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prune_webhook_deliveries(float8, int) TO tabletop_app;
