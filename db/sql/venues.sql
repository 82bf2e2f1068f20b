-- name: list_venues
-- Public venues, by name then id after the cursor, with the filters that are set (NULL: any):
-- a name substring, a city (case-insensitive), dine-in, and open now (the store switch on and,
-- when it has hours, inside them in its time zone).
SELECT r.id, r.name, r.description, r.address, r.city, r.phone, r.website, r.logo_url, r.timezone, r.currency,
       r.dine_in_enabled,
       (r.accepting_orders OR coalesce(r.reopens_at <= now(), false))
           AND (NOT s.has_hours OR s.open_now) AS open_now,
       s.opens_at AS next_opens_at,
       (SELECT coalesce(json_agg(json_build_object('weekday', h.weekday, 'opens', to_char(h.opens, 'HH24:MI'),
                                                   'closes', to_char(h.closes, 'HH24:MI'))
                                 ORDER BY h.weekday, h.opens), '[]')
          FROM opening_hours h WHERE h.restaurant_id = r.id) AS opening_hours
  FROM restaurants r
 CROSS JOIN LATERAL opening_state(r.id, now()) s
 WHERE (%(q)s::text IS NULL OR r.name ILIKE '%%' || %(q)s || '%%')
   AND (%(city)s::text IS NULL OR lower(r.city) = lower(%(city)s))
   AND (%(dine_in)s::boolean IS NULL OR r.dine_in_enabled = %(dine_in)s)
   AND (%(open_now)s::boolean IS NULL
        OR ((r.accepting_orders OR coalesce(r.reopens_at <= now(), false))
            AND (NOT s.has_hours OR s.open_now)) = %(open_now)s)
   AND (%(venue_id)s::uuid IS NULL OR r.id = %(venue_id)s)
   AND (r.name, r.id) > (%(after_name)s::text, %(after_id)s::uuid)
 ORDER BY r.name, r.id
 LIMIT %(limit)s;

-- name: save_venue
-- Saves a venue for the user (app.user_id); saving it again sets its favourite flag.
INSERT INTO saved_venues (user_id, venue_id, favourite)
VALUES (%(user_id)s, %(venue_id)s, %(favourite)s)
ON CONFLICT (user_id, venue_id) DO UPDATE SET favourite = excluded.favourite
RETURNING venue_id, favourite, created_at;

-- name: list_saved_venues
-- The user's saved venues, favourites first, then newest.
SELECT s.venue_id, s.favourite, s.created_at, r.name, r.city, r.logo_url
  FROM saved_venues s
  JOIN restaurants r ON r.id = s.venue_id
 WHERE s.user_id = %(user_id)s
 ORDER BY s.favourite DESC, s.created_at DESC, s.venue_id;

-- name: set_saved_venue_favourite
-- Marks or unmarks a saved venue as a favourite.
UPDATE saved_venues SET favourite = %(favourite)s
 WHERE user_id = %(user_id)s AND venue_id = %(venue_id)s
RETURNING venue_id, favourite, created_at;

-- name: delete_saved_venue
-- Forgets a saved venue.
DELETE FROM saved_venues WHERE user_id = %(user_id)s AND venue_id = %(venue_id)s;

-- name: venue_by_share_token
-- The restaurant a share link names.
SELECT id FROM restaurants WHERE share_token = %(token)s;

-- name: share_link_restaurant
-- The restaurant a share link names, as a takeaway session opened from it shows it.
SELECT id, name, currency FROM restaurants WHERE share_token = %(token)s;
