-- name: insert_restaurant
-- Creates a restaurant with an id chosen by the caller (already set as the tenant).
INSERT INTO restaurants (id, name, currency, timezone, tax_rate_bps, address, phone)
VALUES (%(id)s, %(name)s, %(currency)s, %(timezone)s, %(tax_rate_bps)s, %(address)s, %(phone)s)
RETURNING id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       description, city, website, logo_url, dine_in_enabled, payment_required,
       (SELECT coalesce(json_agg(json_build_object('weekday', h.weekday, 'opens', to_char(h.opens, 'HH24:MI'),
                                              'closes', to_char(h.closes, 'HH24:MI'))
                            ORDER BY h.weekday, h.opens), '[]')
          FROM opening_hours h WHERE h.restaurant_id = restaurants.id) AS opening_hours,
       created_at, updated_at;

-- name: insert_order_counter
-- Starts the restaurant's human order numbers at 1.
INSERT INTO order_counters (restaurant_id) VALUES (%(restaurant_id)s);

-- name: get_restaurant
-- One restaurant, with its store switch as PetPooja last set it: accepting_orders says
-- whether guests may order now (a switch-off ends at reopens_at when it has one).
SELECT id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       description, city, website, logo_url, dine_in_enabled, payment_required,
       (SELECT coalesce(json_agg(json_build_object('weekday', h.weekday, 'opens', to_char(h.opens, 'HH24:MI'),
                                              'closes', to_char(h.closes, 'HH24:MI'))
                            ORDER BY h.weekday, h.opens), '[]')
          FROM opening_hours h WHERE h.restaurant_id = restaurants.id) AS opening_hours,
       created_at, updated_at
  FROM restaurants
 WHERE id = %(restaurant_id)s;

-- name: update_restaurant
-- Partial update: a NULL parameter keeps the stored value, except for the nullable profile
-- fields (address, phone, description, city, website, logo_url), which have their own flags.
UPDATE restaurants
   SET name = coalesce(%(name)s, name),
       currency = coalesce(%(currency)s, currency),
       timezone = coalesce(%(timezone)s, timezone),
       tax_rate_bps = coalesce(%(tax_rate_bps)s, tax_rate_bps),
       address = CASE WHEN %(set_address)s THEN %(address)s ELSE address END,
       phone = CASE WHEN %(set_phone)s THEN %(phone)s ELSE phone END,
       dine_in_enabled = coalesce(%(dine_in_enabled)s, dine_in_enabled),
       payment_required = coalesce(%(payment_required)s, payment_required),
       description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
       city = CASE WHEN %(set_city)s THEN %(city)s ELSE city END,
       website = CASE WHEN %(set_website)s THEN %(website)s ELSE website END,
       logo_url = CASE WHEN %(set_logo_url)s THEN %(logo_url)s ELSE logo_url END
 WHERE id = %(restaurant_id)s
RETURNING id, name, currency, timezone, tax_rate_bps, address, phone,
       accepting_orders OR coalesce(reopens_at <= now(), false) AS accepting_orders, closed_reason, reopens_at,
       description, city, website, logo_url, dine_in_enabled, payment_required,
       (SELECT coalesce(json_agg(json_build_object('weekday', h.weekday, 'opens', to_char(h.opens, 'HH24:MI'),
                                              'closes', to_char(h.closes, 'HH24:MI'))
                            ORDER BY h.weekday, h.opens), '[]')
          FROM opening_hours h WHERE h.restaurant_id = restaurants.id) AS opening_hours,
       created_at, updated_at;

-- name: insert_membership
-- Gives a user a role in the restaurant.
INSERT INTO memberships (restaurant_id, user_id, role)
VALUES (%(restaurant_id)s, %(user_id)s, %(role)s)
RETURNING restaurant_id, user_id, role, created_at;

-- name: delete_opening_hours
-- Empties the restaurant's week before replace_opening_hours writes the new one.
DELETE FROM opening_hours WHERE restaurant_id = %(restaurant_id)s;

-- name: insert_opening_hours
-- The week's ranges, as parallel arrays (weekday, opens, closes).
INSERT INTO opening_hours (restaurant_id, weekday, opens, closes)
SELECT %(restaurant_id)s, w, o, c
  FROM unnest(%(weekdays)s::smallint[], %(opens)s::time[], %(closes)s::time[]) AS t (w, o, c);

-- name: set_share_token
-- Stores a new share-link token when there is none or when rotating; answers the token in force.
WITH stored AS (
    UPDATE restaurants SET share_token = %(token)s
     WHERE id = %(restaurant_id)s AND (share_token IS NULL OR %(rotate)s)
    RETURNING share_token
)
SELECT share_token FROM stored
UNION ALL
SELECT share_token FROM restaurants WHERE id = %(restaurant_id)s AND NOT EXISTS (SELECT FROM stored);
