-- name: set_tenant
-- Binds the transaction to one restaurant; row-level security shows only its rows.
SELECT set_config('app.restaurant_id', %(restaurant_id)s::text, true);

-- name: set_system_scope
-- Lets a trusted, cross-tenant transaction (worker, QR lookup, login) see every restaurant.
SELECT set_config('app.scope', 'system', true);
