-- name: set_tenant
-- Binds the transaction to one restaurant (row-level security shows only its rows) and records the trace it belongs to (enqueue_outbox keeps it on outbox rows).
SELECT set_config('app.restaurant_id', %(restaurant_id)s::text, true),
       set_config('app.trace_context', %(trace_context)s, true);

-- name: set_system_scope
-- Lets a trusted, cross-tenant transaction (worker, QR lookup, login) see every restaurant; records its trace like set_tenant.
SELECT set_config('app.scope', 'system', true),
       set_config('app.trace_context', %(trace_context)s, true);

-- name: set_user_scope
-- Binds the transaction to one user (saved_venues shows only theirs) and lets it read restaurants' public rows.
SELECT set_config('app.user_id', %(user_id)s::text, true),
       set_config('app.scope', 'system', true),
       set_config('app.trace_context', %(trace_context)s, true);

-- name: enter_restaurant
-- set_tenant for a caller, and whether it may come in: its guest session's end, or its account and role (enter_restaurant in schema.sql).
SELECT * FROM enter_restaurant(%(restaurant_id)s, %(trace_context)s, %(session_id)s, %(user_id)s);
