-- The operator's error queue (issue 13): what people and machines did about a failed or dead
-- outbox row (retried it, resolved it by hand), who, why and when; and the index the order
-- read uses to show, per target, what became of the order.
--
-- A row's history outlives the row: housekeeping prunes synced sync_log rows, never their
-- actions (an audit trail, append-only for the app role; no foreign key, like sync_log's own
-- restaurant_id). A resolved row is dead (never claimed again) and its latest action is a
-- resolve; a retry after it starts it over.

CREATE TABLE sync_log_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    restaurant_id uuid NOT NULL,
    sync_log_id   bigint NOT NULL,
    target        text NOT NULL,
    action        text NOT NULL CONSTRAINT sync_log_actions_action_valid CHECK (action IN ('retry', 'resolve')),
    -- 'user:<uuid>' or 'api_key:<first 8 hex of the key's sha256>', never a key.
    actor         text NOT NULL CONSTRAINT sync_log_actions_actor_valid CHECK (actor ~ '^(user|api_key):[0-9a-f-]{8,36}$'),
    reason        text CONSTRAINT sync_log_actions_reason_valid CHECK (char_length(reason) BETWEEN 1 AND 500),
    at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_log_actions_resolve_has_reason CHECK (action <> 'resolve' OR reason IS NOT NULL)
);
CREATE INDEX sync_log_actions_row_idx ON sync_log_actions (sync_log_id, id);
ALTER TABLE sync_log_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_log_actions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sync_log_actions USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT ON sync_log_actions TO tabletop_app;
GRANT USAGE ON SEQUENCE sync_log_actions_id_seq TO tabletop_app;

-- An order's rows across targets (the staff's order read shows each target's latest).
CREATE INDEX sync_log_entity_idx ON sync_log (entity_id);
