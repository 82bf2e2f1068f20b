-- name: get_delivery_zone
-- A restaurant's delivery zone with its currency (no row: none set).
SELECT z.enabled, json_build_object('lat', z.lat, 'lng', z.lng) AS location, z.location_source,
       z.formatted_address, z.radius_m, z.polygon, z.fee_bands, r.currency, z.updated_at
  FROM delivery_zones z
  JOIN restaurants r ON r.id = z.restaurant_id
 WHERE z.restaurant_id = %(restaurant_id)s;

-- name: put_delivery_zone
-- Sets (creates or replaces) a restaurant's delivery zone, answered as get_delivery_zone answers it.
WITH z AS (
    INSERT INTO delivery_zones (restaurant_id, enabled, lat, lng, location_source, formatted_address, radius_m,
                                polygon, fee_bands, updated_at)
    VALUES (%(restaurant_id)s, %(enabled)s, %(lat)s, %(lng)s, %(location_source)s, %(formatted_address)s,
            %(radius_m)s, %(polygon)s::jsonb, %(fee_bands)s::jsonb, now())
    ON CONFLICT (restaurant_id) DO UPDATE
       SET enabled = EXCLUDED.enabled, lat = EXCLUDED.lat, lng = EXCLUDED.lng,
           location_source = EXCLUDED.location_source, formatted_address = EXCLUDED.formatted_address,
           radius_m = EXCLUDED.radius_m, polygon = EXCLUDED.polygon, fee_bands = EXCLUDED.fee_bands,
           updated_at = now()
    RETURNING *
)
SELECT z.enabled, json_build_object('lat', z.lat, 'lng', z.lng) AS location, z.location_source,
       z.formatted_address, z.radius_m, z.polygon, z.fee_bands, r.currency, z.updated_at
  FROM z
  JOIN restaurants r ON r.id = z.restaurant_id;
