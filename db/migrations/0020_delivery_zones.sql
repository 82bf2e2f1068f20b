-- Delivery addresses, geocoding and delivery zones (issue 15 item 3; docs/delivery-zones.md).
--
-- * delivery_zones: per restaurant, where it is (lat/lng, given or geocoded from its address),
--   the area it delivers to (a radius in meters, or a polygon of [lng, lat] points), its fee
--   bands by distance, and whether delivery is on. Read by order_context for delivery orders.
-- * orders.delivery (the address as given, Google's formatted address, the point, the distance)
--   and orders.delivery_fee, which the total now includes (orders_total_sum).
-- * order_context answers the restaurant's zone when asked for a delivery order (p_delivery);
--   place_order writes delivery and delivery_fee. Both otherwise as in 0019 (payments); the new
--   parameters have defaults, so a call written for 0019's signatures means the same.

CREATE TABLE delivery_zones (
    restaurant_id uuid PRIMARY KEY REFERENCES restaurants (id) ON DELETE CASCADE,
    enabled       boolean NOT NULL,
    lat           double precision NOT NULL CONSTRAINT delivery_zones_lat_range CHECK (lat BETWEEN -90 AND 90),
    lng           double precision NOT NULL CONSTRAINT delivery_zones_lng_range CHECK (lng BETWEEN -180 AND 180),
    -- Where lat/lng came from: 'given' by the owner, or 'geocoded' from the restaurant's address
    -- (formatted_address then says what the geocoder understood).
    location_source   text NOT NULL CONSTRAINT delivery_zones_location_source_valid
                      CHECK (location_source IN ('given', 'geocoded')),
    formatted_address text,
    radius_m      integer CONSTRAINT delivery_zones_radius_range CHECK (radius_m BETWEEN 1 AND 100000),
    -- A closed ring of [lng, lat] points (GeoJSON's order), validated by the API (shapely).
    polygon       jsonb CONSTRAINT delivery_zones_polygon_array CHECK (jsonb_typeof(polygon) = 'array'),
    -- [{up_to_m, fee}], up_to_m ascending, fee in the restaurant's currency's minor units.
    fee_bands     jsonb NOT NULL DEFAULT '[]' CONSTRAINT delivery_zones_fee_bands_array
                  CHECK (jsonb_typeof(fee_bands) = 'array'),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_zones_one_shape CHECK ((radius_m IS NULL) <> (polygon IS NULL))
);
ALTER TABLE delivery_zones ENABLE ROW LEVEL SECURITY;
ALTER TABLE delivery_zones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON delivery_zones USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_zones TO tabletop_app;

ALTER TABLE orders
    ADD COLUMN delivery     jsonb,
    ADD COLUMN delivery_fee bigint NOT NULL DEFAULT 0
                            CONSTRAINT orders_delivery_fee_range CHECK (delivery_fee >= 0),
    ADD CONSTRAINT orders_delivery_is_delivery CHECK (delivery IS NULL OR order_type = 'delivery'),
    DROP CONSTRAINT orders_total_sum,
    ADD CONSTRAINT orders_total_sum CHECK (total = subtotal + tax + tip - discount + delivery_fee);

CREATE OR REPLACE VIEW order_documents WITH (security_invoker = true) AS
SELECT o.id, o.restaurant_id, o.number, o.table_id, t.label AS table_label, o.session_id,
       o.status, o.order_type, o.customer_name, o.customer_phone, o.notes, o.subtotal, o.tax,
       o.tip, o.discount, o.total, o.currency, o.version, o.created_at, o.updated_at,
       coalesce((SELECT json_agg(json_build_object(
                            'id', i.id, 'menu_item_id', i.menu_item_id, 'name', i.name,
                            'unit_price', i.unit_price, 'quantity', i.quantity,
                            'line_total', i.line_total, 'notes', i.notes,
                            'variation_id', i.variation_id, 'variation_name', i.variation_name,
                            'addons', i.addons)
                        ORDER BY i.position)
                   FROM order_items i
                  WHERE i.restaurant_id = o.restaurant_id AND i.order_id = o.id), '[]') AS items,
       o.pickup_at, o.payment_status, o.reservation_id, o.fire_at, o.payment_method, o.delivery, o.delivery_fee
  FROM orders o
  LEFT JOIN dining_tables t ON t.restaurant_id = o.restaurant_id AND t.id = o.table_id;

-- order_context also answers the restaurant's delivery zone for a delivery order.
DROP FUNCTION order_context(uuid, text, uuid, uuid, text, uuid[], timestamptz);
-- Everything the API needs to judge and price an order, in one statement: whether the caller
-- may order here (enter_restaurant), the earlier use of the request's Idempotency-Key (key_*
-- NULL when unused), whether opening hours have it closed now and when it opens (opening_state;
-- never closed without hours), the same for a takeaway order's pickup time (NULL without one),
-- for a delivery order (p_delivery) the restaurant's delivery zone (NULL: none set; the same on
-- every row), and order_menu's rows (one row with NULL menu columns when the
-- restaurant does not exist). Writes nothing.
CREATE FUNCTION order_context(p_restaurant_id uuid, p_trace_context text, p_session_id uuid, p_user_id uuid,
                              p_key text, p_item_ids uuid[], p_pickup_at timestamptz,
                              p_delivery boolean DEFAULT false)
RETURNS TABLE (session_end text, user_found boolean, is_platform_admin boolean, role text,
               key_principal text, key_request_hash bytea, key_order_id uuid,
               outside_hours boolean, opens_at timestamptz, pickup_closed boolean, pickup_opens_at timestamptz,
               delivery_zone json,
               currency char(3), tax_rate_bps int, store_closed boolean, closed_reason text,
               reopens_at timestamptz, id uuid, name text, price bigint, is_available boolean,
               order_types text[], imported boolean, variations json, addon_groups json, taxes json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    caller record;
    zone json;
BEGIN
    SELECT * INTO caller FROM enter_restaurant(p_restaurant_id, p_trace_context, p_session_id, p_user_id);
    IF p_delivery THEN
        SELECT json_build_object('enabled', z.enabled, 'lat', z.lat, 'lng', z.lng, 'radius_m', z.radius_m,
                                 'polygon', z.polygon, 'fee_bands', z.fee_bands)
          INTO zone
          FROM delivery_zones z
         WHERE z.restaurant_id = p_restaurant_id;
    END IF;
    RETURN QUERY
        SELECT caller.session_end, caller.user_found, caller.is_platform_admin, caller.role,
               k.principal, k.request_hash, k.order_id,
               h.has_hours AND NOT h.open_now, h.opens_at, p.has_hours AND NOT p.open_now, p.opens_at, zone, m.*
          FROM (SELECT 1) one
          LEFT JOIN idempotency_keys k ON k.restaurant_id = p_restaurant_id AND k.key = p_key
          LEFT JOIN opening_state(p_restaurant_id, now()) h ON true
          LEFT JOIN opening_state(p_restaurant_id, p_pickup_at) p ON p_pickup_at IS NOT NULL
          LEFT JOIN order_menu(p_restaurant_id, p_item_ids) m ON true;
END
$$;

-- place_order (0019's) writes delivery and delivery_fee too.
DROP FUNCTION place_order(uuid, text, text, text, bytea, uuid, uuid, uuid, text, text, text, text, char, bigint,
                          bigint, bigint, bigint, bigint, jsonb, text, uuid, timestamptz, uuid, timestamptz, text);
-- Writes an order priced by the API in one statement (its own transaction), its lines one JSON
-- array (one parameter instead of eleven arrays, which cost the API more to send): claims the
-- client's Idempotency-Key (returns nothing when an earlier request holds it: a concurrent one
-- waits here until that request's transaction ends; the caller then replays it), takes the
-- restaurant's next order number, creates the order with its lines, its first status event
-- and its key link, and returns it as order_documents shows it. The items' statement trigger
-- touches the order after the insert with an identical row, so a new order stays at
-- version 1 with one outbox row. The counter row is locked only until this statement commits.
CREATE FUNCTION place_order(
    p_restaurant_id uuid, p_trace_context text, p_key text, p_principal text, p_request_hash bytea,
    p_table_id uuid, p_session_id uuid, p_placed_by_user uuid, p_order_type text, p_customer_name text,
    p_customer_phone text, p_notes text, p_currency char(3), p_subtotal bigint, p_tax bigint, p_tip bigint,
    p_discount bigint, p_total bigint, p_lines jsonb, p_actor_type text, p_actor_id uuid, p_pickup_at timestamptz,
    p_reservation_id uuid, p_fire_at timestamptz, p_payment_method text, p_delivery jsonb DEFAULT NULL,
    p_delivery_fee bigint DEFAULT 0)
RETURNS SETOF order_documents
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id uuid;
BEGIN
    PERFORM enter_restaurant(p_restaurant_id, p_trace_context, NULL, NULL);
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (restaurant_id, key, principal, request_hash)
        VALUES (p_restaurant_id, p_key, p_principal, p_request_hash)
        ON CONFLICT (restaurant_id, key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    WITH n AS (
        UPDATE order_counters c SET last_order_number = c.last_order_number + 1
         WHERE c.restaurant_id = p_restaurant_id
        RETURNING c.last_order_number
    ), o AS (
        INSERT INTO orders (restaurant_id, number, table_id, session_id, placed_by_user, order_type,
                            customer_name, customer_phone, notes, currency, subtotal, tax, tip,
                            discount, total, pickup_at, reservation_id, fire_at, payment_method, delivery,
                            delivery_fee)
        SELECT p_restaurant_id, n.last_order_number, p_table_id, p_session_id, p_placed_by_user,
               p_order_type, p_customer_name, p_customer_phone, p_notes, p_currency,
               p_subtotal, p_tax, p_tip, p_discount, p_total, p_pickup_at, p_reservation_id, p_fire_at,
               p_payment_method, p_delivery, p_delivery_fee
          FROM n
        RETURNING id, restaurant_id, status
    ), lines AS (
        INSERT INTO order_items (restaurant_id, order_id, position, menu_item_id, name, unit_price,
                                 quantity, line_total, notes, variation_id, variation_name, addons, taxes)
        SELECT o.restaurant_id, o.id, l.position, l.menu_item_id, l.name, l.unit_price, l.quantity,
               l.line_total, l.notes, l.variation_id, l.variation_name, l.addons, l.taxes
          FROM o, jsonb_to_recordset(p_lines)
                  AS l(position int, menu_item_id uuid, name text, unit_price bigint, quantity int,
                       line_total bigint, notes text, variation_id uuid, variation_name text, addons jsonb,
                       taxes jsonb)
    ), event AS (
        INSERT INTO order_events (restaurant_id, order_id, from_status, to_status, actor_type, actor_id)
        SELECT o.restaurant_id, o.id, NULL, o.status, p_actor_type, p_actor_id FROM o
    ), idempotency AS (
        UPDATE idempotency_keys k SET order_id = o.id
          FROM o
         WHERE k.restaurant_id = o.restaurant_id AND k.key = p_key
    )
    SELECT o.id INTO new_id FROM o;
    -- A statement of its own, so the view sees the lines the one above wrote.
    RETURN QUERY SELECT * FROM order_documents d WHERE d.restaurant_id = p_restaurant_id AND d.id = new_id;
END
$$;
