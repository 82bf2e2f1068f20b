-- name: insert_restaurant
-- Creates a restaurant with an id chosen by the caller (already set as the tenant).
INSERT INTO restaurants (id, name, currency, timezone, tax_rate_bps, address, phone)
VALUES (%(id)s, %(name)s, %(currency)s, %(timezone)s, %(tax_rate_bps)s, %(address)s, %(phone)s)
RETURNING id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       created_at, updated_at;

-- name: insert_order_counter
-- Starts the restaurant's human order numbers at 1.
INSERT INTO order_counters (restaurant_id) VALUES (%(restaurant_id)s);

-- name: get_restaurant
-- One restaurant, with its store switch as PetPooja last set it: accepting_orders says
-- whether guests may order now (a switch-off ends at reopens_at when it has one).
SELECT id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       created_at, updated_at
  FROM restaurants
 WHERE id = %(restaurant_id)s;

-- name: update_restaurant
-- Partial update: a NULL parameter keeps the stored value, except for the nullable address
-- and phone, which have their own flags.
UPDATE restaurants
   SET name = coalesce(%(name)s, name),
       currency = coalesce(%(currency)s, currency),
       timezone = coalesce(%(timezone)s, timezone),
       tax_rate_bps = coalesce(%(tax_rate_bps)s, tax_rate_bps),
       address = CASE WHEN %(set_address)s THEN %(address)s ELSE address END,
       phone = CASE WHEN %(set_phone)s THEN %(phone)s ELSE phone END
 WHERE id = %(restaurant_id)s
RETURNING id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       created_at, updated_at;

-- name: insert_membership
-- Gives a user a role in the restaurant.
INSERT INTO memberships (restaurant_id, user_id, role)
VALUES (%(restaurant_id)s, %(user_id)s, %(role)s)
RETURNING restaurant_id, user_id, role, created_at;
