-- Venues for customers (issue 14): a restaurant's public profile, its opening hours per
-- weekday in its own time zone, a share link for takeaway without a table, and the venues
-- each user saved. Orders outside opening hours are refused by the order read itself
-- (order_context gains outside_hours and opens_at); a restaurant without hours is always open.

ALTER TABLE restaurants
    ADD COLUMN description  text,
    ADD COLUMN city         text,
    ADD COLUMN website      text,
    ADD COLUMN logo_url     text CONSTRAINT restaurants_logo_url_https CHECK (logo_url ~ '^https://'),
    ADD COLUMN dine_in_enabled boolean NOT NULL DEFAULT true,
    ADD COLUMN share_token  text CONSTRAINT restaurants_share_token_key UNIQUE;
CREATE INDEX restaurants_city_idx ON restaurants (lower(city));

-- A weekday's opening range in the restaurant's local time (weekday 0 = Monday). A range whose
-- closes is at or before its opens ends on the next day (18:00-02:00; 00:00-00:00 is 24 hours).
CREATE TABLE opening_hours (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    weekday       smallint NOT NULL CONSTRAINT opening_hours_weekday_range CHECK (weekday BETWEEN 0 AND 6),
    opens         time NOT NULL,
    closes        time NOT NULL,
    CONSTRAINT opening_hours_pkey PRIMARY KEY (restaurant_id, weekday, opens)
);
ALTER TABLE opening_hours ENABLE ROW LEVEL SECURITY;
ALTER TABLE opening_hours FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opening_hours USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON opening_hours TO tabletop_app;

-- A user's saved venues: the user's own rows (app.user_id), not a restaurant's (its staff do
-- not see who saved it), hence venue_id rather than a tenant restaurant_id.
CREATE TABLE saved_venues (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id   uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    favourite  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT saved_venues_pkey PRIMARY KEY (user_id, venue_id)
);
ALTER TABLE saved_venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE saved_venues FORCE ROW LEVEL SECURITY;
CREATE POLICY user_isolation ON saved_venues
    USING (user_id = nullif(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('app.user_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON saved_venues TO tabletop_app;

-- Whether the restaurant's hours have it open at p_at, and when it next opens after p_at
-- (NULL without hours). Spans are built from local dates and times and converted with the
-- restaurant's time zone, so a DST change moves them as the clock on the wall does.
CREATE FUNCTION opening_state(p_restaurant_id uuid, p_at timestamptz)
RETURNS TABLE (has_hours boolean, open_now boolean, opens_at timestamptz)
LANGUAGE sql STABLE AS $$
WITH spans AS (
    SELECT (d + h.opens) AT TIME ZONE r.timezone AS starts,
           (d + h.closes + CASE WHEN h.closes <= h.opens THEN interval '1 day' ELSE interval '0' END)
               AT TIME ZONE r.timezone AS ends
      FROM restaurants r
      JOIN opening_hours h ON h.restaurant_id = r.id
     CROSS JOIN generate_series(((p_at AT TIME ZONE r.timezone)::date - 1)::timestamp,
                                ((p_at AT TIME ZONE r.timezone)::date + 7)::timestamp, interval '1 day') d
     WHERE r.id = p_restaurant_id AND h.weekday = extract(isodow FROM d)::int - 1
)
SELECT count(*) > 0, coalesce(bool_or(starts <= p_at AND p_at < ends), false),
       min(starts) FILTER (WHERE starts > p_at)
  FROM spans
$$;

-- order_context answers whether the order comes outside opening hours, and when it opens.
DROP FUNCTION order_context(uuid, text, uuid, uuid, text, uuid[]);
CREATE FUNCTION order_context(p_restaurant_id uuid, p_trace_context text, p_session_id uuid, p_user_id uuid,
                              p_key text, p_item_ids uuid[])
RETURNS TABLE (session_end text, user_found boolean, is_platform_admin boolean, role text,
               key_principal text, key_request_hash bytea, key_order_id uuid,
               outside_hours boolean, opens_at timestamptz,
               currency char(3), tax_rate_bps int, store_closed boolean, closed_reason text,
               reopens_at timestamptz, id uuid, name text, price bigint, is_available boolean,
               order_types text[], imported boolean, variations json, addon_groups json, taxes json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    caller record;
BEGIN
    SELECT * INTO caller FROM enter_restaurant(p_restaurant_id, p_trace_context, p_session_id, p_user_id);
    RETURN QUERY
        SELECT caller.session_end, caller.user_found, caller.is_platform_admin, caller.role,
               k.principal, k.request_hash, k.order_id,
               h.has_hours AND NOT h.open_now, h.opens_at, m.*
          FROM (SELECT 1) one
          LEFT JOIN idempotency_keys k ON k.restaurant_id = p_restaurant_id AND k.key = p_key
          LEFT JOIN opening_state(p_restaurant_id, now()) h ON true
          LEFT JOIN order_menu(p_restaurant_id, p_item_ids) m ON true;
END
$$;
