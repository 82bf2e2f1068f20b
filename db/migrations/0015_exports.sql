-- Order exports (issue 15, item 5): a restaurant's orders and their lines between two local
-- dates, built by the worker into an xlsx workbook or a zip of two CSV files (docs/exports.md).
--
-- A row is the job and its result: queued by the API, claimed by a worker with FOR UPDATE
-- SKIP LOCKED (status running, owner, lease_until), and finished as ready (with the file's
-- name, counts and size) or failed. A build whose worker died is claimed again once its lease
-- has run out, at most max attempts times. Housekeeping deletes a ready file once expires_at
-- passes and marks the row expired.

CREATE TABLE exports (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    requested_by  uuid CONSTRAINT exports_requested_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    format        text NOT NULL CONSTRAINT exports_format_valid CHECK (format IN ('xlsx', 'csv')),
    -- Local dates in the restaurant's time zone, both included.
    from_date     date NOT NULL,
    to_date       date NOT NULL,
    status        text NOT NULL DEFAULT 'queued' CONSTRAINT exports_status_valid
                  CHECK (status IN ('queued', 'running', 'ready', 'failed', 'expired')),
    attempts      int NOT NULL DEFAULT 0,
    owner         text,
    lease_until   timestamptz,
    -- The built file's name inside EXPORT_DIR (never a path from outside).
    file_name     text,
    orders_count  int,
    lines_count   int,
    size_bytes    bigint,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    expires_at    timestamptz,
    CONSTRAINT exports_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT exports_id_key UNIQUE (id),
    CONSTRAINT exports_range_valid CHECK (from_date <= to_date)
);
CREATE INDEX exports_created_idx ON exports (restaurant_id, created_at DESC, id DESC);
-- What a worker claims and what housekeeping expires: few rows, read often.
CREATE INDEX exports_due_idx ON exports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX exports_expiry_idx ON exports (expires_at) WHERE status = 'ready';

ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
ALTER TABLE exports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exports USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON exports TO tabletop_app;
