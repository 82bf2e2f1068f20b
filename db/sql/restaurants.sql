-- name: insert_restaurant
-- Creates a restaurant with an id chosen by the caller (already set as the tenant).
INSERT INTO restaurants (id, name, currency, timezone, tax_rate_bps)
VALUES (%(id)s, %(name)s, %(currency)s, %(timezone)s, %(tax_rate_bps)s)
RETURNING id, name, currency, timezone, tax_rate_bps, created_at, updated_at;

-- name: insert_order_counter
-- Starts the restaurant's human order numbers at 1.
INSERT INTO order_counters (restaurant_id) VALUES (%(restaurant_id)s);

-- name: get_restaurant
-- One restaurant.
SELECT id, name, currency, timezone, tax_rate_bps, created_at, updated_at
  FROM restaurants
 WHERE id = %(restaurant_id)s;

-- name: update_restaurant
-- Partial update: a NULL parameter keeps the stored value (no field here is nullable).
UPDATE restaurants
   SET name = coalesce(%(name)s, name),
       currency = coalesce(%(currency)s, currency),
       timezone = coalesce(%(timezone)s, timezone),
       tax_rate_bps = coalesce(%(tax_rate_bps)s, tax_rate_bps)
 WHERE id = %(restaurant_id)s
RETURNING id, name, currency, timezone, tax_rate_bps, created_at, updated_at;

-- name: insert_membership
-- Gives a user a role in the restaurant.
INSERT INTO memberships (restaurant_id, user_id, role)
VALUES (%(restaurant_id)s, %(user_id)s, %(role)s)
RETURNING restaurant_id, user_id, role, created_at;
