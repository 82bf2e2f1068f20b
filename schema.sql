-- The whole Postgres schema of the restaurant backend.
--
-- Conventions:
-- * Every tenant table carries restaurant_id NOT NULL, and children point at their parents
--   through (restaurant_id, id), so no row can reference another restaurant's row.
-- * Row-level security is enabled AND forced on every tenant table. The API connects as
--   the unprivileged role tabletop_app and sets app.restaurant_id per transaction
--   (db/pool.py); without it a tenant table shows nothing.
-- * Synced entities (orders with their items, menu items, dining tables) carry a version
--   that a trigger raises on every real change, and a trigger writes their sync_log
--   (outbox) row in the same transaction, so no write path can forget one.
-- * Money is bigint minor units. Every constraint is named: db/errors.py switches on names.
-- * This file is the readable whole; the database evolves by the numbered files in
--   db/migrations (db/migrate.py, docs/migrations.md). A change goes into a new migration
--   AND here; tests/test_migrations.py proves both build the same catalog. The last
--   statement records every migration as applied, so a database made from this file is
--   at the newest version.

-- The role the API and worker connect as. Cluster-wide, hence the guard.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tabletop_app') THEN
        CREATE ROLE tabletop_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

-- The migration history (db/migrate.py creates it with this same DDL); checksum is the
-- sha256 of the applied file, NULL for rows this file or a baseline recorded.
CREATE TABLE schema_migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    checksum   text,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Tenant visibility used by every policy: the transaction's restaurant, or the system
-- scope that the worker and cross-tenant lookups (QR token, login, /me) set explicitly.
CREATE FUNCTION app_tenant_visible(rid uuid) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT rid = nullif(current_setting('app.restaurant_id', true), '')::uuid
        OR coalesce(current_setting('app.scope', true), '') = 'system'
$$;

-- Raises version and updated_at on a real change; a no-op UPDATE is skipped entirely, so
-- it neither bumps the version nor writes an outbox row.
CREATE FUNCTION bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- updated_at for tables that are not synced and so carry no version.
CREATE FUNCTION touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NULL;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Writes (or coalesces into) the pending outbox row of an entity for one target: one
-- pending row per (target, entity) at most, carrying the highest version seen and the
-- trace context of the request that first wrote it (app.trace_context, set per
-- transaction by db/pool.py when tracing is on), so a delivery continues that trace.
-- ``due`` holds a new row until then (a reservation's pre-order until it fires; NULL: due
-- now); a change coalescing into a held row keeps it held unless its own due is sooner, so
-- pulling the entity's due forward pulls its pending row forward in the same transaction.
-- (plpgsql: its body is checked when first run, after sync_log exists.)
CREATE FUNCTION enqueue_outbox(rid uuid, tgt text, etype text, eid uuid, ver bigint, due timestamptz DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_log (restaurant_id, target, entity_type, entity_id, entity_version, trace_context,
                          next_attempt_at)
    VALUES (rid, tgt, etype, eid, ver, nullif(current_setting('app.trace_context', true), ''), greatest(now(), due))
    ON CONFLICT (target, entity_type, entity_id) WHERE status = 'pending'
    DO UPDATE SET entity_version = greatest(sync_log.entity_version, EXCLUDED.entity_version),
                  trace_context = coalesce(sync_log.trace_context, EXCLUDED.trace_context),
                  next_attempt_at = least(sync_log.next_attempt_at, EXCLUDED.next_attempt_at),
                  updated_at = now();
END
$$;

-- The one routing loop: writes (or coalesces into) the pending outbox row of an entity for
-- every target that takes this kind of change (sync_targets) from this restaurant
-- (all_restaurants, or a restaurant_targets row), due at ``due`` (NULL: now), and wakes the
-- workers at commit for targets without a post-commit pusher. enqueue_sync (a synced entity's
-- row changed) and enqueue_menu (anything else a menu shows changed) call it.
CREATE FUNCTION enqueue_targets(rid uuid, etype text, eid uuid, ver bigint, happened text[],
                                due timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT s.name, s.wake
               FROM sync_targets s
              WHERE etype = ANY (s.entity_types) AND s.events && happened
                AND (s.all_restaurants
                     OR EXISTS (SELECT FROM restaurant_targets r WHERE r.restaurant_id = rid AND r.target = s.name))
              ORDER BY s.name
    LOOP
        PERFORM enqueue_outbox(rid, t.name, etype, eid, ver, due);
        IF t.wake THEN
            PERFORM pg_notify('sync_wake', t.name);
        END IF;
    END LOOP;
END
$$;

-- The routing trigger of synced entities: works out what happened (created, changed or
-- deleted, and for an order status_changed and cancelled; a delete is recorded one version
-- above the last state so that it outranks every earlier upsert) and routes it, an order's
-- changes due at its fire_at (a reservation's pre-order is held until it fires), or at the end
-- of time while it awaits its payment (payment_hold; the payment pulls them forward).
CREATE FUNCTION enqueue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    etype text := TG_ARGV[0];
    happened text[];
    due timestamptz;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM enqueue_targets(OLD.restaurant_id, etype, OLD.id, OLD.version + 1, '{deleted}');
        RETURN NULL;
    END IF;
    happened := CASE WHEN TG_OP = 'INSERT' THEN '{created}'::text[] ELSE '{changed}'::text[] END;
    -- Nested: only an order has a status and a fire_at, and NEW.status is resolved when the
    -- expression is planned, so an AND in the same expression cannot guard it.
    IF etype = 'order' THEN
        due := CASE WHEN NEW.payment_hold THEN '9999-12-31 00:00:00+00'::timestamptz ELSE NEW.fire_at END;
        IF TG_OP = 'UPDATE' THEN
            IF NEW.status IS DISTINCT FROM OLD.status THEN
                happened := happened || '{status_changed}'::text[];
                IF NEW.status = 'cancelled' THEN
                    happened := happened || '{cancelled}'::text[];
                END IF;
            END IF;
        END IF;
    END IF;
    PERFORM enqueue_targets(NEW.restaurant_id, etype, NEW.id, NEW.version, happened, due);
    RETURN NULL;
END
$$;

-- An email's arrival routes it (its outbox row under the nil restaurant id: emails belong to
-- no restaurant, so only system-scope transactions write or read them).
CREATE FUNCTION enqueue_email() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM enqueue_targets('00000000-0000-0000-0000-000000000000'::uuid, 'email', NEW.id, 1, '{created}');
    RETURN NULL;
END
$$;

-- Our order's status onto its platform order. Only an order without a table, a guest session
-- or a user who placed it can be a platform's, so our own orders never run this function.
CREATE FUNCTION copy_status_to_platform_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE platform_orders SET order_status = NEW.status
     WHERE restaurant_id = NEW.restaurant_id AND order_id = NEW.id;
    RETURN NULL;
END
$$;

-- A change to anything a menu shows besides its items: the restaurant's 'menu' entity (its id
-- the restaurant's) changed, for the targets that take whole menus.
CREATE FUNCTION enqueue_menu() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rid uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.restaurant_id ELSE NEW.restaurant_id END;
BEGIN
    PERFORM enqueue_targets(rid, 'menu', rid, 0, '{changed}');
    RETURN NULL;
END
$$;

-- An order's items are part of the order entity: changing them raises the order's
-- version (through bump_version) unless the order was already touched in this
-- transaction, in which case that touch is an identical row and is skipped.
CREATE FUNCTION touch_parent_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE orders o SET updated_at = now()
          FROM (SELECT DISTINCT restaurant_id, order_id FROM old_items) c
         WHERE o.restaurant_id = c.restaurant_id AND o.id = c.order_id;
    ELSE
        UPDATE orders o SET updated_at = now()
          FROM (SELECT DISTINCT restaurant_id, order_id FROM new_items) c
         WHERE o.restaurant_id = c.restaurant_id AND o.id = c.order_id;
    END IF;
    RETURN NULL;
END
$$;

-- Documents in Convex copy a parent's name: an order its table's label, a menu item its
-- category's name. Renaming the parent touches the copies' owners so that their version
-- rises and they are pushed again (a rename is rare; the outbox batches the pushes).
CREATE FUNCTION touch_orders_of_table() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE orders SET updated_at = now()
     WHERE restaurant_id = NEW.restaurant_id AND table_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION touch_items_of_category() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE menu_items SET updated_at = now()
     WHERE restaurant_id = NEW.restaurant_id AND category_id = NEW.id AND deleted_at IS NULL;
    RETURN NULL;
END
$$;

-- Closing a table or replacing its QR code ends the table's guest sessions, whatever wrote
-- the change (the API checks a guest's session on every request).
CREATE FUNCTION end_table_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE guest_sessions
       SET ended_at = now(),
           ended_reason = CASE WHEN NOT NEW.is_active THEN 'table_closed' ELSE 'qr_rotated' END
     WHERE restaurant_id = NEW.restaurant_id AND table_id = NEW.id
       AND ended_at IS NULL AND expires_at > now();
    RETURN NULL;
END
$$;

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email             text NOT NULL CONSTRAINT users_email_lowercase CHECK (email = lower(email)),
    password_hash     text NOT NULL,
    full_name         text NOT NULL,
    is_platform_admin boolean NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    phone             text CONSTRAINT users_phone_valid CHECK (phone ~ '^\+?[0-9 ()-]{5,20}$'),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL CONSTRAINT refresh_tokens_hash_key UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
-- Housekeeping prunes expired tokens (sync/housekeeping.py).
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Password reset (docs/accounts.md): a token is 256 random bits, only its sha256 is stored; it
-- works once (used_at) and until expires_at.
CREATE TABLE password_reset_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL CONSTRAINT password_reset_tokens_hash_key UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- Email to send (the 'email' outbox target, sync/email/). Belongs to no restaurant: its outbox
-- rows carry the nil restaurant id (enqueue_email). The body is sealed (db/credentials.py,
-- purpose 'email', bound to the row's id): a reset mail carries a live token. sent_at is set
-- once the SMTP server accepted it; a row with it is never sent again.
CREATE TABLE outbound_emails (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT outbound_emails_kind_valid CHECK (kind IN ('password_reset')),
    recipient   text NOT NULL CONSTRAINT outbound_emails_recipient_valid CHECK (length(recipient) BETWEEN 3 AND 254),
    subject     text NOT NULL,
    body        bytea NOT NULL CONSTRAINT outbound_emails_body_sealed CHECK (octet_length(body) > 28),
    key_id      text NOT NULL CONSTRAINT outbound_emails_key_id_valid CHECK (key_id <> ''),
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_emails_user_idx ON outbound_emails (user_id);

CREATE TABLE restaurants (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    currency     char(3) NOT NULL CONSTRAINT restaurants_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    timezone     text NOT NULL,
    tax_rate_bps int NOT NULL DEFAULT 0
                 CONSTRAINT restaurants_tax_rate_range CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    address      text,
    phone        text,
    -- The store switch PetPooja's store-status callback flips: while off, guests' QR orders
    -- are refused with closed_reason (and reopens_at when PetPooja gave a turn-on time).
    accepting_orders boolean NOT NULL DEFAULT true,
    closed_reason    text,
    reopens_at       timestamptz,
    -- The public profile (GET /api/venues) and the takeaway share link's token.
    description  text,
    city         text,
    website      text,
    logo_url     text CONSTRAINT restaurants_logo_url_https CHECK (logo_url ~ '^https://'),
    dine_in_enabled boolean NOT NULL DEFAULT true,
    share_token  text CONSTRAINT restaurants_share_token_key UNIQUE,
    -- Online orders reach the kitchen and the POS only once paid (docs/payments.md).
    payment_required boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
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

-- A restaurant's delivery: where it is, the area it delivers to (a radius, or a polygon of
-- [lng, lat] points), its fee bands by distance, and whether it is on (docs/delivery-zones.md).
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

-- Kept apart from restaurants so that numbering orders does not lock the restaurant row.
CREATE TABLE order_counters (
    restaurant_id     uuid PRIMARY KEY REFERENCES restaurants (id) ON DELETE CASCADE,
    last_order_number bigint NOT NULL DEFAULT 0
);

CREATE TABLE memberships (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL
                  CONSTRAINT memberships_role_valid CHECK (role IN ('owner', 'manager', 'staff', 'kitchen')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memberships_pkey PRIMARY KEY (restaurant_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

-- A user's saved venues: the user's own rows (app.user_id), not a restaurant's (its staff do
-- not see who saved it), hence venue_id rather than a tenant restaurant_id.
CREATE TABLE saved_venues (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    venue_id   uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    favourite  boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT saved_venues_pkey PRIMARY KEY (user_id, venue_id)
);

-- Membership is an invitation the invitee accepts (api/routes/invitations.py): inviting
-- never reads users, so the answer is the same whether the email has an account or not.
CREATE TABLE member_invitations (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    email         text NOT NULL CONSTRAINT member_invitations_email_lowercase CHECK (email = lower(email)),
    role          text NOT NULL
                  CONSTRAINT member_invitations_role_valid CHECK (role IN ('owner', 'manager', 'staff', 'kitchen')),
    status        text NOT NULL DEFAULT 'pending'
                  CONSTRAINT member_invitations_status_valid
                  CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    invited_by    uuid CONSTRAINT member_invitations_invited_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    -- Who accepted, declined or revoked it, and when.
    answered_by   uuid CONSTRAINT member_invitations_answered_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    answered_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT member_invitations_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT member_invitations_id_key UNIQUE (id),
    CONSTRAINT member_invitations_answered CHECK ((status = 'pending') = (answered_at IS NULL))
);
-- One pending invitation per email and restaurant: inviting again renews it.
CREATE UNIQUE INDEX member_invitations_pending_key ON member_invitations (restaurant_id, email)
    WHERE status = 'pending';
-- An invitee's pending invitations, across restaurants (GET /api/auth/me).
CREATE INDEX member_invitations_email_idx ON member_invitations (email) WHERE status = 'pending';

CREATE TABLE dining_tables (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    label         text NOT NULL,
    seats         int CONSTRAINT dining_tables_seats_range CHECK (seats BETWEEN 1 AND 100),
    qr_token      text NOT NULL CONSTRAINT dining_tables_qr_token_key UNIQUE,
    is_active     boolean NOT NULL DEFAULT true,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dining_tables_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT dining_tables_id_key UNIQUE (id),
    CONSTRAINT dining_tables_label_key UNIQUE (restaurant_id, label)
);

CREATE TABLE guest_sessions (
    restaurant_id uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    -- NULL: a takeaway session opened from the restaurant's share link.
    table_id      uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    -- A session ends when its table is closed or its QR code replaced (end_table_sessions);
    -- the API checks it on every guest request (api/access.py).
    ended_at      timestamptz,
    ended_reason  text CONSTRAINT guest_sessions_ended_reason_valid CHECK (ended_reason IN ('table_closed', 'qr_rotated')),
    CONSTRAINT guest_sessions_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT guest_sessions_table_fkey FOREIGN KEY (restaurant_id, table_id)
        REFERENCES dining_tables (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT guest_sessions_ended_together CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
);
CREATE INDEX guest_sessions_expires_idx ON guest_sessions (expires_at);
-- end_table_sessions, and the cascade when a table is deleted, find a table's sessions by it.
CREATE INDEX guest_sessions_table_idx ON guest_sessions (restaurant_id, table_id);

CREATE TABLE menu_categories (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    rank          int NOT NULL DEFAULT 0,
    -- The POS's id (PetPooja categoryid) of an imported category; NULL when made here.
    external_id   text,
    description   text CONSTRAINT menu_categories_description_length CHECK (length(description) <= 1000),
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_categories_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_categories_external_id_key UNIQUE (restaurant_id, external_id)
);
CREATE UNIQUE INDEX menu_categories_name_key ON menu_categories (restaurant_id, lower(name))
    WHERE deleted_at IS NULL;

-- Menu items are soft-deleted: past orders keep pointing at them.
CREATE TABLE menu_items (
    restaurant_id uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    category_id   uuid NOT NULL,
    name          text NOT NULL,
    description   text,
    price         bigint NOT NULL CONSTRAINT menu_items_price_range CHECK (price >= 0),
    is_available  boolean NOT NULL DEFAULT true,
    rank          int NOT NULL DEFAULT 0,
    -- NULL: not said. PetPooja's item_attributeid (veg / non-veg / egg) of an imported item.
    is_veg        boolean,
    -- The order types the item may be ordered for: PetPooja's item_ordertype of an imported
    -- item, every type for one made here. An order of another type is refused (422).
    order_types   text[] NOT NULL DEFAULT '{dine_in,takeaway,delivery}'
                  CONSTRAINT menu_items_order_types_valid CHECK (order_types <@ ARRAY['dine_in', 'takeaway', 'delivery']),
    -- The POS's id (PetPooja itemid) of an imported item; NULL when made here.
    external_id   text,
    -- What a guest reads about the dish (docs/menu.md): a picture, what is in it, the EU's 14
    -- allergens it contains (as codes), and how long the kitchen takes.
    image_url     text CONSTRAINT menu_items_image_url_https CHECK (image_url ~ '^https://' AND length(image_url) <= 500),
    ingredients   text[] NOT NULL DEFAULT '{}'
                  CONSTRAINT menu_items_ingredients_valid CHECK (cardinality(ingredients) <= 50),
    allergens     text[] NOT NULL DEFAULT '{}'
                  CONSTRAINT menu_items_allergens_valid
                  CHECK (allergens <@ ARRAY['celery', 'gluten', 'crustaceans', 'eggs', 'fish', 'lupin', 'milk', 'molluscs',
                                            'mustard', 'tree_nuts', 'peanuts', 'sesame', 'soybeans', 'sulphites']),
    prep_minutes  int CONSTRAINT menu_items_prep_minutes_range CHECK (prep_minutes BETWEEN 0 AND 600),
    deleted_at    timestamptz,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_items_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_items_id_key UNIQUE (id),
    CONSTRAINT menu_items_external_id_key UNIQUE (restaurant_id, external_id),
    CONSTRAINT menu_items_category_fkey FOREIGN KEY (restaurant_id, category_id)
        REFERENCES menu_categories (restaurant_id, id)
);
CREATE INDEX menu_items_category_idx ON menu_items (restaurant_id, category_id) WHERE deleted_at IS NULL;

-- Taxes of an imported menu (PetPooja's taxes: CGST, SGST, ...). An item linked to taxes
-- is taxed at their rates, line by line; an item linked to none at the restaurant's rate.
CREATE TABLE menu_taxes (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    external_id   text NOT NULL,
    name          text NOT NULL,
    rate_bps      int NOT NULL CONSTRAINT menu_taxes_rate_range CHECK (rate_bps BETWEEN 0 AND 10000),
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_taxes_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_taxes_external_id_key UNIQUE (restaurant_id, external_id)
);

CREATE TABLE menu_item_taxes (
    restaurant_id uuid NOT NULL,
    item_id       uuid NOT NULL,
    tax_id        uuid NOT NULL,
    CONSTRAINT menu_item_taxes_pkey PRIMARY KEY (restaurant_id, item_id, tax_id),
    CONSTRAINT menu_item_taxes_item_fkey FOREIGN KEY (restaurant_id, item_id)
        REFERENCES menu_items (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT menu_item_taxes_tax_fkey FOREIGN KEY (restaurant_id, tax_id)
        REFERENCES menu_taxes (restaurant_id, id) ON DELETE CASCADE
);

-- Variations of an item (Half / Full, Small / Large): each has its own full price, which
-- replaces the item's price on an order line that chooses it.
CREATE TABLE menu_variations (
    restaurant_id uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    item_id       uuid NOT NULL,
    name          text NOT NULL,
    price         bigint NOT NULL CONSTRAINT menu_variations_price_range CHECK (price >= 0),
    is_available  boolean NOT NULL DEFAULT true,
    rank          int NOT NULL DEFAULT 0,
    -- PetPooja's id of this item's variation (variation[].id, unique per item) ...
    external_id   text,
    -- ... and of the variation kind it is (variationid: "Half", shared by every item that
    -- offers it), which save_order's variation_id carries.
    external_variation_id text,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_variations_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_variations_item_fkey FOREIGN KEY (restaurant_id, item_id)
        REFERENCES menu_items (restaurant_id, id),
    CONSTRAINT menu_variations_external_id_key UNIQUE (restaurant_id, external_id)
);
CREATE INDEX menu_variations_item_idx ON menu_variations (restaurant_id, item_id) WHERE deleted_at IS NULL;

-- Addon groups ("Extra toppings") and their addons; an item offers a group with its own
-- minimum and maximum number of choices.
CREATE TABLE menu_addon_groups (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    name          text NOT NULL,
    rank          int NOT NULL DEFAULT 0,
    external_id   text,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_addon_groups_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_addon_groups_external_id_key UNIQUE (restaurant_id, external_id)
);

CREATE TABLE menu_addons (
    restaurant_id uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    group_id      uuid NOT NULL,
    name          text NOT NULL,
    price         bigint NOT NULL CONSTRAINT menu_addons_price_range CHECK (price >= 0),
    is_available  boolean NOT NULL DEFAULT true,
    is_veg        boolean,
    rank          int NOT NULL DEFAULT 0,
    external_id   text,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_addons_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT menu_addons_group_fkey FOREIGN KEY (restaurant_id, group_id)
        REFERENCES menu_addon_groups (restaurant_id, id),
    CONSTRAINT menu_addons_external_id_key UNIQUE (restaurant_id, external_id)
);
CREATE INDEX menu_addons_group_idx ON menu_addons (restaurant_id, group_id) WHERE deleted_at IS NULL;

CREATE TABLE menu_item_addon_groups (
    restaurant_id uuid NOT NULL,
    item_id       uuid NOT NULL,
    group_id      uuid NOT NULL,
    min_select    int NOT NULL DEFAULT 0 CONSTRAINT menu_item_addon_groups_min_range CHECK (min_select >= 0),
    max_select    int NOT NULL CONSTRAINT menu_item_addon_groups_max_range CHECK (max_select >= min_select AND max_select <= 100),
    rank          int NOT NULL DEFAULT 0,
    CONSTRAINT menu_item_addon_groups_pkey PRIMARY KEY (restaurant_id, item_id, group_id),
    CONSTRAINT menu_item_addon_groups_item_fkey FOREIGN KEY (restaurant_id, item_id)
        REFERENCES menu_items (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT menu_item_addon_groups_group_fkey FOREIGN KEY (restaurant_id, group_id)
        REFERENCES menu_addon_groups (restaurant_id, id) ON DELETE CASCADE
);

-- Every menu import (a pull we asked for, or PetPooja's push): what changed, how long it
-- took, and what could not be imported.
CREATE TABLE menu_syncs (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    source        text NOT NULL CONSTRAINT menu_syncs_source_valid CHECK (source IN ('pull', 'push')),
    status        text NOT NULL CONSTRAINT menu_syncs_status_valid CHECK (status IN ('ok', 'failed')),
    counts        jsonb NOT NULL DEFAULT '{}',
    errors        jsonb NOT NULL DEFAULT '[]',
    duration_ms   int NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_syncs_pkey PRIMARY KEY (restaurant_id, id)
);

CREATE TABLE orders (
    restaurant_id  uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    number         bigint NOT NULL,
    table_id       uuid,
    session_id     uuid,
    placed_by_user uuid REFERENCES users (id),
    status         text NOT NULL DEFAULT 'pending'
                   CONSTRAINT orders_status_valid CHECK (status IN (
                       'pending', 'confirmed', 'preparing', 'ready', 'served', 'completed',
                       'dispatched', 'delivered', 'cancelled', 'rejected')),
    order_type     text NOT NULL
                   CONSTRAINT orders_type_valid CHECK (order_type IN ('dine_in', 'takeaway', 'delivery')),
    customer_name  text,
    customer_phone text,
    notes          text,
    currency       char(3) NOT NULL,
    subtotal       bigint NOT NULL CONSTRAINT orders_subtotal_range CHECK (subtotal >= 0),
    tax            bigint NOT NULL CONSTRAINT orders_tax_range CHECK (tax >= 0),
    tip            bigint NOT NULL DEFAULT 0 CONSTRAINT orders_tip_range CHECK (tip >= 0),
    discount       bigint NOT NULL DEFAULT 0 CONSTRAINT orders_discount_range CHECK (discount >= 0),
    total          bigint NOT NULL CONSTRAINT orders_total_range CHECK (total >= 0),
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- When a takeaway order is to be collected (docs/orders.md).
    pickup_at      timestamptz,
    -- Moved forward only (guard_payment_status; docs/payments.md).
    payment_status text NOT NULL DEFAULT 'unpaid' CONSTRAINT orders_payment_status_valid
                   CHECK (payment_status IN ('unpaid', 'pending', 'paid', 'failed', 'refunded')),
    -- online (Stripe), cash or counter (paid to the staff, the default).
    payment_method text NOT NULL DEFAULT 'counter' CONSTRAINT orders_payment_method_valid
                   CHECK (payment_method IN ('online', 'cash', 'counter')),
    -- An online order of a restaurant with payment_required, held from every outbox target until paid.
    payment_hold   boolean NOT NULL DEFAULT false,
    -- A reservation's pre-order (orders_reservation_fkey, after reservations below), held from
    -- every outbox target until fire_at (enqueue_sync; docs/reservations.md).
    reservation_id uuid,
    fire_at        timestamptz,
    -- A delivery order's address as given, where the geocoder put it and how far it is
    -- (docs/delivery-zones.md), and its fee from the restaurant's fee bands (in the total).
    delivery       jsonb,
    delivery_fee   bigint NOT NULL DEFAULT 0 CONSTRAINT orders_delivery_fee_range CHECK (delivery_fee >= 0),
    CONSTRAINT orders_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT orders_id_key UNIQUE (id),
    CONSTRAINT orders_number_key UNIQUE (restaurant_id, number),
    CONSTRAINT orders_table_fkey FOREIGN KEY (restaurant_id, table_id)
        REFERENCES dining_tables (restaurant_id, id),
    CONSTRAINT orders_session_fkey FOREIGN KEY (restaurant_id, session_id)
        REFERENCES guest_sessions (restaurant_id, id),
    CONSTRAINT orders_total_sum CHECK (total = subtotal + tax + tip - discount + delivery_fee),
    CONSTRAINT orders_pickup_takeaway CHECK (pickup_at IS NULL OR order_type = 'takeaway'),
    CONSTRAINT orders_fire_at_with_reservation CHECK ((fire_at IS NULL) = (reservation_id IS NULL)),
    CONSTRAINT orders_delivery_is_delivery CHECK (delivery IS NULL OR order_type = 'delivery')
);
-- Live orders by status (kitchen screens, GET .../orders?status=) and the plain listing.
CREATE INDEX orders_status_created_idx ON orders (restaurant_id, status, created_at DESC, id DESC);
CREATE INDEX orders_created_idx ON orders (restaurant_id, created_at DESC, id DESC);
CREATE INDEX orders_session_idx ON orders (restaurant_id, session_id) WHERE session_id IS NOT NULL;
-- A table's orders (relabelling a table re-pushes them).
CREATE INDEX orders_table_idx ON orders (restaurant_id, table_id) WHERE table_id IS NOT NULL;
-- A customer's own orders across restaurants, newest first (GET /api/me/orders).
-- One live pre-order per reservation (a cancelled one may be replaced).
CREATE UNIQUE INDEX orders_reservation_key ON orders (restaurant_id, reservation_id)
    WHERE reservation_id IS NOT NULL AND status NOT IN ('cancelled', 'rejected');
CREATE INDEX orders_placed_by_user_idx ON orders (placed_by_user, created_at DESC, id DESC)
    WHERE placed_by_user IS NOT NULL;

CREATE TABLE order_items (
    restaurant_id uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id      uuid NOT NULL,
    position      int NOT NULL,
    menu_item_id  uuid NOT NULL,
    name          text NOT NULL,
    unit_price    bigint NOT NULL CONSTRAINT order_items_unit_price_range CHECK (unit_price >= 0),
    quantity      int NOT NULL CONSTRAINT order_items_quantity_range CHECK (quantity BETWEEN 1 AND 99),
    line_total    bigint NOT NULL,
    notes         text,
    -- The chosen variation (its price replaced the item's) and addons (their prices are in
    -- unit_price), copied at order time: [{id, external_id, group_id, group_name, name, price}].
    variation_id   uuid,
    variation_name text,
    addons        jsonb NOT NULL DEFAULT '[]',
    -- The line's taxes when its item has its own (imported) taxes:
    -- [{id, external_id, name, rate_bps, amount}]; empty when the restaurant's rate applied.
    taxes         jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT order_items_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT order_items_variation_fkey FOREIGN KEY (restaurant_id, variation_id)
        REFERENCES menu_variations (restaurant_id, id),
    CONSTRAINT order_items_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT order_items_menu_item_fkey FOREIGN KEY (restaurant_id, menu_item_id)
        REFERENCES menu_items (restaurant_id, id),
    CONSTRAINT order_items_position_key UNIQUE (restaurant_id, order_id, position),
    CONSTRAINT order_items_line_total_product CHECK (line_total = unit_price * quantity)
);

-- An order with its lines and table label, in the shape the API and the pushers send.
-- security_invoker: the caller's row-level security applies through the view.
CREATE VIEW order_documents WITH (security_invoker = true) AS
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

-- Append-only audit of every status move: who, when, from, to, why.
CREATE TABLE order_events (
    restaurant_id uuid NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    order_id      uuid NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    actor_type    text NOT NULL CONSTRAINT order_events_actor_type_valid
                  CHECK (actor_type IN ('user', 'guest', 'system', 'petpooja', 'ubereats', 'doordash', 'grubhub',
                                        'stripe', 'voice')),
    actor_id      uuid,
    reason        text,
    -- What a partner's callback said beside the move (PetPooja: rider_name, rider_phone,
    -- cancel_reason, minimum_prep_time), shown by GET .../orders/{oid}/events.
    details       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_events_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT order_events_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
CREATE INDEX order_events_order_idx ON order_events (restaurant_id, order_id, id);

-- One row per (restaurant, client key). principal is who used the key: another caller
-- presenting the same key is refused rather than shown somebody else's order.
CREATE TABLE idempotency_keys (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    key           text NOT NULL,
    principal     text NOT NULL,
    request_hash  bytea NOT NULL,
    order_id      uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (restaurant_id, key),
    CONSTRAINT idempotency_keys_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
-- Keys past the replay window are pruned; BRIN: rows arrive in time order and the index stays tiny.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys USING brin (created_at);

-- A restaurant's PetPooja outlet. credentials holds app_key, app_secret and access_token as
-- one JSON document sealed with AES-256-GCM (db/credentials.py): a random 96-bit nonce, then
-- the ciphertext and tag, with the restaurant id as associated data so a sealed value copied
-- to another restaurant's row does not open. key_id names the key that sealed it.
-- callback_secret is the per-restaurant part of the callback URLs registered in PetPooja.
CREATE TABLE petpooja_outlets (
    restaurant_id   uuid PRIMARY KEY REFERENCES restaurants (id) ON DELETE CASCADE,
    rest_id         text NOT NULL CONSTRAINT petpooja_outlets_rest_id_valid CHECK (rest_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    environment     text NOT NULL
                    CONSTRAINT petpooja_outlets_environment_valid CHECK (environment IN ('sandbox', 'production')),
    credentials     bytea NOT NULL
                    CONSTRAINT petpooja_outlets_credentials_sealed CHECK (octet_length(credentials) > 28),
    key_id          text NOT NULL CONSTRAINT petpooja_outlets_key_id_valid CHECK (key_id <> ''),
    callback_secret text NOT NULL
                    CONSTRAINT petpooja_outlets_callback_secret_valid CHECK (callback_secret ~ '^[A-Za-z0-9_-]{43,}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT petpooja_outlets_callback_secret_key UNIQUE (callback_secret)
);

-- What PetPooja knows of an order: created when the worker first claims the order's
-- petpooja outbox row (sync/petpooja/target.py). The first push freezes the body (without credentials) in
-- payload; every resend sends exactly that, so an order never reaches PetPooja twice with
-- different content. response and petpooja_order_id record PetPooja's answer.
CREATE TABLE petpooja_orders (
    restaurant_id     uuid NOT NULL,
    order_id          uuid NOT NULL,
    payload           jsonb,
    response          jsonb,
    petpooja_order_id text,
    pushed_at         timestamptz,
    cancel_response   jsonb,
    cancel_pushed_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT petpooja_orders_pkey PRIMARY KEY (restaurant_id, order_id),
    CONSTRAINT petpooja_orders_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
-- PetPooja's order callbacks may name an order by PetPooja's own id.
CREATE INDEX petpooja_orders_petpooja_order_id_idx ON petpooja_orders (restaurant_id, petpooja_order_id)
    WHERE petpooja_order_id IS NOT NULL;

-- Every callback delivery a restaurant's secret URL received: the raw body, what we made
-- of it, and when. A delivery whose body repeats the previous one of its kind (PetPooja
-- retrying) is stored with duplicate_of and changes nothing.
CREATE TABLE webhook_deliveries (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    source        text NOT NULL CONSTRAINT webhook_deliveries_source_valid CHECK (source IN ('petpooja')),
    kind          text NOT NULL,
    body          bytea NOT NULL,
    body_sha256   bytea NOT NULL,
    result        text NOT NULL,
    detail        jsonb,
    duplicate_of  bigint,
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (restaurant_id, id)
);
CREATE INDEX webhook_deliveries_kind_idx ON webhook_deliveries (restaurant_id, source, kind, id DESC);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries USING brin (received_at);

-- Callbacks are append-only for the app role; the worker prunes old ones through this.
CREATE FUNCTION prune_webhook_deliveries(retention_s float8, max_rows int) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH old AS (
        SELECT restaurant_id, id FROM webhook_deliveries
         WHERE received_at < now() - make_interval(secs => retention_s)
         LIMIT max_rows
           FOR UPDATE SKIP LOCKED
    ), deleted AS (
        DELETE FROM webhook_deliveries d USING old
         WHERE d.restaurant_id = old.restaurant_id AND d.id = old.id
        RETURNING 1
    )
    SELECT count(*) FROM deleted
$$;

-- A restaurant's own backend: order status changes are POSTed to url through the outbox
-- (target 'webhook'), signed with HMAC-SHA256 under the sealed secret (db/credentials.py).
CREATE TABLE restaurant_webhooks (
    restaurant_id uuid PRIMARY KEY REFERENCES restaurants (id) ON DELETE CASCADE,
    url           text NOT NULL CONSTRAINT restaurant_webhooks_url_valid CHECK (url ~ '^https?://' AND length(url) <= 2000),
    secret        bytea NOT NULL,
    key_id        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Outbox targets and what each takes: the entity types and what happened to them (see
-- enqueue_sync). A target with all_restaurants takes every restaurant's changes (Convex);
-- the others those of the restaurants listed in restaurant_targets. wake: notify the
-- workers at commit (a target that has no post-commit pusher in the API).
CREATE TABLE sync_targets (
    name            text PRIMARY KEY CONSTRAINT sync_targets_name_valid CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    entity_types    text[] NOT NULL
                    CONSTRAINT sync_targets_entity_types_valid
                    CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                                                 'notification', 'refund']),
    events          text[] NOT NULL
                    CONSTRAINT sync_targets_events_valid
                    CHECK (events <@ ARRAY['created', 'changed', 'deleted', 'status_changed', 'cancelled']),
    all_restaurants boolean NOT NULL DEFAULT false,
    wake            boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('convex', '{order,menu_item,table,reservation,notification}', '{created,changed,deleted}', true, false),
    ('petpooja', '{order}', '{created,cancelled}', false, true),
    ('webhook', '{order}', '{created,status_changed}', false, true),
    ('ubereats', '{menu_item,menu}', '{created,changed,deleted}', false, true),
    ('ubereats_orders', '{platform_order}', '{created,changed}', false, true),
    ('doordash', '{menu_item,menu}', '{created,changed,deleted}', false, true),
    ('doordash_orders', '{platform_order}', '{created,changed}', false, true),
    ('grubhub', '{menu_item,menu}', '{created,changed,deleted}', false, true),
    ('grubhub_orders', '{platform_order}', '{created,changed}', false, true),
    ('email', '{email}', '{created}', true, true),
    ('stripe_refund', '{refund}', '{created}', true, true);

-- The targets a restaurant enabled (connecting PetPooja, registering a webhook).
CREATE TABLE restaurant_targets (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    target        text NOT NULL CONSTRAINT restaurant_targets_target_fkey REFERENCES sync_targets (name),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT restaurant_targets_pkey PRIMARY KEY (restaurant_id, target)
);

-- A restaurant's store on a delivery platform: the platform's store id, the sealed
-- credentials (db/credentials.py, purpose = the platform), and the state of its menu there:
-- pending until the first publish, then synced or failed, with what the platform last
-- answered. published_menu is the payload the platform last accepted, so a change of
-- availability alone can go as the platform's cheaper suspend call.
CREATE TABLE platform_connections (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    platform         text NOT NULL CONSTRAINT platform_connections_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub')),
    store_id         text NOT NULL
                     CONSTRAINT platform_connections_store_id_valid CHECK (store_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    credentials      bytea NOT NULL CONSTRAINT platform_connections_credentials_sealed CHECK (octet_length(credentials) > 28),
    key_id           text NOT NULL CONSTRAINT platform_connections_key_id_valid CHECK (key_id <> ''),
    sync_status      text NOT NULL DEFAULT 'pending'
                     CONSTRAINT platform_connections_sync_status_valid CHECK (sync_status IN ('pending', 'synced', 'failed')),
    last_sync_at     timestamptz,
    item_count       int,
    external_menu_id text,
    last_error       text,
    last_response    jsonb,
    retry_count      int NOT NULL DEFAULT 0,
    published_menu   jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- The menu of the last publish that failed (sent and refused, or refused before sending),
    -- for the operator's error queue: the exact snapshot beside the platform's answer.
    failed_menu      jsonb,
    CONSTRAINT platform_connections_pkey PRIMARY KEY (restaurant_id, platform),
    -- A platform's webhooks name the store: one restaurant per store.
    CONSTRAINT platform_connections_store_key UNIQUE (platform, store_id)
);
-- Every webhook event a platform delivered, by the platform's event id: a retry of one is
-- answered without doing anything again. Not a tenant table: the event names its store,
-- and the route looks the store up before it knows the restaurant.
CREATE TABLE platform_webhook_events (
    platform    text NOT NULL CONSTRAINT platform_webhook_events_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub')),
    event_id    text NOT NULL CONSTRAINT platform_webhook_events_event_id_valid CHECK (event_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_webhook_events_pkey PRIMARY KEY (platform, event_id)
);
-- An order placed on a platform: received (the webhook named it), then ours created
-- (order_id), then accepted or denied back to the platform. The platform's own order and
-- totals are kept as it sent them; totals_differ flags an order whose items the platform
-- charged differently from our menu.
CREATE TABLE platform_orders (
    restaurant_id  uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    platform       text NOT NULL CONSTRAINT platform_orders_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub')),
    external_id    text NOT NULL CONSTRAINT platform_orders_external_id_valid CHECK (external_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    state          text NOT NULL DEFAULT 'received'
                   CONSTRAINT platform_orders_state_valid CHECK (state IN ('received', 'accepted', 'denied', 'cancelled')),
    order_id       uuid,
    platform_order jsonb,
    platform_total bigint,
    totals_differ  boolean,
    error          text,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- Our order's status as last copied onto it, and the last one the platform was told of
    -- (or told us: a cancellation from the platform is not sent back).
    order_status   text,
    status_sent    text,
    CONSTRAINT platform_orders_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT platform_orders_id_key UNIQUE (id),
    CONSTRAINT platform_orders_external_key UNIQUE (platform, external_id),
    CONSTRAINT platform_orders_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE SET NULL (order_id)
);
CREATE INDEX platform_orders_order_idx ON platform_orders (restaurant_id, order_id);
-- The epoch a target was last rebuilt under: fullSync writes a new one to Convex and here,
-- and a worker that finds Convex at another epoch (wiped, restored from an old backup,
-- replaced) rebuilds it.
CREATE TABLE sync_target_state (
    target       text PRIMARY KEY CONSTRAINT sync_target_state_target_fkey REFERENCES sync_targets (name),
    epoch        text NOT NULL,
    epoch_set_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox. One pending row per (target, entity) at most: later changes coalesce into
-- it, and the pusher always sends the entity's current state read from Postgres.
CREATE TABLE sync_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    restaurant_id  uuid NOT NULL,
    target         text NOT NULL CONSTRAINT sync_log_target_valid CHECK (target ~ '^[a-z][a-z0-9_]*$'),
    entity_type    text NOT NULL
                   CONSTRAINT sync_log_entity_type_valid
                   CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order', 'email', 'reservation',
                                          'notification', 'refund')),
    entity_id      uuid NOT NULL,
    entity_version bigint NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CONSTRAINT sync_log_status_valid
                   CHECK (status IN ('pending', 'in_flight', 'synced', 'failed', 'dead')),
    attempts       int NOT NULL DEFAULT 0,
    -- When the row is next due; for an in_flight row, when its lease expires.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner    text,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    synced_at      timestamptz,
    -- W3C traceparent of the request that wrote the row (NULL when tracing was off).
    trace_context  text,
    -- Failed because its target was down: due at once when the target answers again.
    target_down    boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX sync_log_pending_key ON sync_log (target, entity_type, entity_id)
    WHERE status = 'pending';
CREATE INDEX sync_log_due_idx ON sync_log (next_attempt_at)
    WHERE status IN ('pending', 'failed', 'in_flight');
CREATE INDEX sync_log_restaurant_status_idx ON sync_log (restaurant_id, target, status);
-- An order's rows across targets (the staff's order read shows each target's latest).
CREATE INDEX sync_log_entity_idx ON sync_log (entity_id);

-- What people and machines did about a failed or dead outbox row: retried it, resolved it by
-- hand; who, why, when (docs/operator.md). An audit trail: append-only for the app role, and
-- it outlives the rows housekeeping prunes (no foreign key, like sync_log's restaurant_id). A
-- resolved row is dead and its latest action a resolve; a retry after it starts it over.
CREATE TABLE sync_log_actions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    restaurant_id uuid NOT NULL,
    sync_log_id   bigint NOT NULL,
    target        text NOT NULL,
    action        text NOT NULL CONSTRAINT sync_log_actions_action_valid CHECK (action IN ('retry', 'resolve')),
    -- 'user:<uuid>' or 'api_key:<first 8 hex of the key's sha256>', never a key.
    actor         text NOT NULL CONSTRAINT sync_log_actions_actor_valid CHECK (actor ~ '^(user|api_key):[0-9a-f-]{8,36}$'),
    reason        text CONSTRAINT sync_log_actions_reason_valid CHECK (char_length(reason) BETWEEN 1 AND 500),
    at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_log_actions_resolve_has_reason CHECK (action <> 'resolve' OR reason IS NOT NULL)
);
CREATE INDEX sync_log_actions_row_idx ON sync_log_actions (sync_log_id, id);

CREATE TRIGGER dining_tables_bump_version BEFORE UPDATE ON dining_tables
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER dining_tables_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON dining_tables
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('table');

CREATE TRIGGER menu_items_bump_version BEFORE UPDATE ON menu_items
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER menu_items_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON menu_items
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('menu_item');

CREATE TRIGGER orders_bump_version BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER orders_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('order');

CREATE TRIGGER order_items_touch_order_insert AFTER INSERT ON order_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION touch_parent_order();
CREATE TRIGGER order_items_touch_order_update AFTER UPDATE ON order_items
    REFERENCING NEW TABLE AS new_items
    FOR EACH STATEMENT EXECUTE FUNCTION touch_parent_order();
CREATE TRIGGER order_items_touch_order_delete AFTER DELETE ON order_items
    REFERENCING OLD TABLE AS old_items
    FOR EACH STATEMENT EXECUTE FUNCTION touch_parent_order();

CREATE TRIGGER restaurants_touch BEFORE UPDATE ON restaurants
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_categories_touch BEFORE UPDATE ON menu_categories
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER petpooja_outlets_touch BEFORE UPDATE ON petpooja_outlets
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER petpooja_orders_touch BEFORE UPDATE ON petpooja_orders
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER restaurant_webhooks_touch BEFORE UPDATE ON restaurant_webhooks
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_taxes_touch BEFORE UPDATE ON menu_taxes
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_variations_touch BEFORE UPDATE ON menu_variations
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_addon_groups_touch BEFORE UPDATE ON menu_addon_groups
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_addons_touch BEFORE UPDATE ON menu_addons
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

CREATE TRIGGER dining_tables_relabel_orders AFTER UPDATE OF label ON dining_tables
    FOR EACH ROW WHEN (OLD.label IS DISTINCT FROM NEW.label) EXECUTE FUNCTION touch_orders_of_table();
CREATE TRIGGER dining_tables_end_sessions AFTER UPDATE OF is_active, qr_token ON dining_tables
    FOR EACH ROW WHEN ((OLD.is_active AND NOT NEW.is_active) OR OLD.qr_token IS DISTINCT FROM NEW.qr_token)
    EXECUTE FUNCTION end_table_sessions();
CREATE TRIGGER platform_connections_touch BEFORE UPDATE ON platform_connections
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER menu_categories_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_categories
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_variations_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_variations
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_addon_groups_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_addon_groups
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_addons_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_addons
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_item_addon_groups_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_item_addon_groups
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_taxes_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_taxes
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER menu_item_taxes_enqueue_menu AFTER INSERT OR UPDATE OR DELETE ON menu_item_taxes
    FOR EACH ROW EXECUTE FUNCTION enqueue_menu();
CREATE TRIGGER platform_orders_bump_version BEFORE UPDATE ON platform_orders
    FOR EACH ROW EXECUTE FUNCTION bump_version();
-- Its arrival routes it, and our order's status moving (the platform hears of it); the
-- target's own updates (created, accepted) need no delivery.
CREATE TRIGGER platform_orders_enqueue_sync AFTER INSERT ON platform_orders
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('platform_order');
CREATE TRIGGER platform_orders_status_changed AFTER UPDATE OF order_status ON platform_orders
    FOR EACH ROW WHEN (OLD.order_status IS DISTINCT FROM NEW.order_status)
    EXECUTE FUNCTION enqueue_sync('platform_order');
CREATE TRIGGER orders_copy_status_to_platform_order AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.table_id IS NULL AND NEW.session_id IS NULL AND NEW.placed_by_user IS NULL)
    EXECUTE FUNCTION copy_status_to_platform_order();
CREATE TRIGGER outbound_emails_enqueue_sync AFTER INSERT ON outbound_emails
    FOR EACH ROW EXECUTE FUNCTION enqueue_email();
CREATE TRIGGER menu_categories_rename_items AFTER UPDATE OF name ON menu_categories
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION touch_items_of_category();

-- Row-level security: the second wall behind the API's own restaurant filters.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['memberships', 'order_counters', 'dining_tables', 'guest_sessions',
                             'menu_categories', 'menu_items', 'orders', 'order_items',
                             'order_events', 'idempotency_keys', 'sync_log', 'petpooja_outlets',
                             'menu_taxes', 'menu_item_taxes', 'menu_variations', 'menu_addon_groups',
                             'menu_addons', 'menu_item_addon_groups', 'menu_syncs', 'petpooja_orders',
                             'webhook_deliveries', 'restaurant_webhooks', 'restaurant_targets',
                             'member_invitations', 'platform_connections', 'platform_orders',
                             'sync_log_actions', 'opening_hours', 'delivery_zones']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (app_tenant_visible(restaurant_id))'
                       ' WITH CHECK (app_tenant_visible(restaurant_id))', t);
    END LOOP;
END
$$;
-- A new restaurant's id is chosen by the app, which sets it as the tenant before inserting.
ALTER TABLE restaurants ENABLE ROW LEVEL SECURITY;
ALTER TABLE restaurants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON restaurants USING (app_tenant_visible(id))
    WITH CHECK (app_tenant_visible(id));
-- A user's own rows, whatever the restaurant (db/pool.py's user scope sets app.user_id).
ALTER TABLE saved_venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE saved_venues FORCE ROW LEVEL SECURITY;
CREATE POLICY user_isolation ON saved_venues
    USING (user_id = nullif(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = nullif(current_setting('app.user_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO tabletop_app;
REVOKE UPDATE, DELETE ON order_events FROM tabletop_app;
REVOKE UPDATE, DELETE ON webhook_deliveries FROM tabletop_app;
REVOKE UPDATE, DELETE ON sync_log_actions FROM tabletop_app;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM tabletop_app;
REVOKE INSERT, UPDATE, DELETE ON sync_targets FROM tabletop_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO tabletop_app;
REVOKE ALL ON FUNCTION prune_webhook_deliveries(float8, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION prune_webhook_deliveries(float8, int) TO tabletop_app;

-- Order creation in two statements, and one statement to enter a restaurant: each
-- statement costs the API about as much CPU as a small statement costs Postgres
-- (db/migrations/0006_order_statements.sql).

-- Whether a guest session still lets its guest in (its primary key: one index probe).
CREATE FUNCTION guest_session_state(p_restaurant_id uuid, p_session_id uuid)
RETURNS TABLE (ended_reason text, expired boolean)
LANGUAGE sql STABLE AS $$
    SELECT s.ended_reason, s.expires_at <= now()
      FROM guest_sessions s
     WHERE s.restaurant_id = p_restaurant_id AND s.id = p_session_id
$$;

-- The caller's account flags and role in a restaurant (no row: no such account; NULL role:
-- not a member).
CREATE FUNCTION caller_role(p_restaurant_id uuid, p_user_id uuid)
RETURNS TABLE (is_platform_admin boolean, role text)
LANGUAGE sql STABLE AS $$
    SELECT u.is_platform_admin, m.role
      FROM users u
      LEFT JOIN memberships m ON m.user_id = u.id AND m.restaurant_id = p_restaurant_id
     WHERE u.id = p_user_id
$$;

-- Binds the transaction to one restaurant (row-level security shows only its rows), records
-- the trace it belongs to (enqueue_outbox keeps it on outbox rows), and says whether the
-- caller may be let in: a guest session's end (table_closed, qr_rotated, expired, gone; NULL
-- while it lets its guest in), or an account's existence, platform-admin flag and role.
CREATE FUNCTION enter_restaurant(p_restaurant_id uuid, p_trace_context text, p_session_id uuid, p_user_id uuid,
                                 OUT session_end text, OUT user_found boolean, OUT is_platform_admin boolean,
                                 OUT role text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('app.restaurant_id', p_restaurant_id::text, true),
            set_config('app.trace_context', p_trace_context, true);
    IF p_session_id IS NOT NULL THEN
        SELECT coalesce(s.ended_reason, CASE WHEN s.expired THEN 'expired' END)
          INTO session_end
          FROM guest_session_state(p_restaurant_id, p_session_id) s;
        IF NOT FOUND THEN
            session_end := 'gone';
        END IF;
    END IF;
    IF p_user_id IS NOT NULL THEN
        SELECT c.is_platform_admin, c.role INTO is_platform_admin, role
          FROM caller_role(p_restaurant_id, p_user_id) c;
        user_found := FOUND;
    END IF;
END
$$;

-- The restaurant's pricing settings and store switch with the live items an order names,
-- each with the order types it is offered for, whether it came from the POS (then its taxes
-- are exactly the POS's), its live variations, the live addon groups it offers (its own
-- min/max, with their live addons) and its live taxes (one row with NULL item columns when
-- the order names none of them). The store is closed while accepting_orders is off, until
-- reopens_at.
CREATE FUNCTION order_menu(p_restaurant_id uuid, p_item_ids uuid[])
RETURNS TABLE (currency char(3), tax_rate_bps int, store_closed boolean, closed_reason text,
               reopens_at timestamptz, id uuid, name text, price bigint, is_available boolean,
               order_types text[], imported boolean, variations json, addon_groups json, taxes json)
LANGUAGE sql STABLE AS $$
SELECT r.currency, r.tax_rate_bps,
       NOT r.accepting_orders AND (r.reopens_at IS NULL OR r.reopens_at > now()) AS store_closed,
       r.closed_reason, r.reopens_at,
       m.id, m.name, m.price, m.is_available, m.order_types, m.external_id IS NOT NULL AS imported,
       coalesce((SELECT json_agg(json_build_object(
                            'id', v.id, 'name', v.name, 'price', v.price, 'is_available', v.is_available)
                        ORDER BY v.rank, v.name, v.id)
                   FROM menu_variations v
                  WHERE v.restaurant_id = m.restaurant_id AND v.item_id = m.id AND v.deleted_at IS NULL),
                '[]') AS variations,
       coalesce((SELECT json_agg(json_build_object(
                            'id', g.id, 'external_id', g.external_id, 'name', g.name,
                            'min_select', l.min_select, 'max_select', l.max_select,
                            'addons', coalesce((SELECT json_agg(json_build_object(
                                                         'id', a.id, 'external_id', a.external_id, 'name', a.name,
                                                         'price', a.price, 'is_available', a.is_available)
                                                     ORDER BY a.rank, a.name, a.id)
                                                  FROM menu_addons a
                                                 WHERE a.restaurant_id = g.restaurant_id AND a.group_id = g.id
                                                   AND a.deleted_at IS NULL), '[]'))
                        ORDER BY l.rank, g.name, g.id)
                   FROM menu_item_addon_groups l
                   JOIN menu_addon_groups g
                     ON g.restaurant_id = l.restaurant_id AND g.id = l.group_id AND g.deleted_at IS NULL
                  WHERE l.restaurant_id = m.restaurant_id AND l.item_id = m.id),
                '[]') AS addon_groups,
       coalesce((SELECT json_agg(json_build_object(
                            'id', t.id, 'external_id', t.external_id, 'name', t.name, 'rate_bps', t.rate_bps)
                        ORDER BY t.name, t.id)
                   FROM menu_item_taxes it
                   JOIN menu_taxes t ON t.restaurant_id = it.restaurant_id AND t.id = it.tax_id AND t.deleted_at IS NULL
                  WHERE it.restaurant_id = m.restaurant_id AND it.item_id = m.id),
                '[]') AS taxes
  FROM restaurants r
  LEFT JOIN menu_items m
         ON m.restaurant_id = r.id AND m.id = ANY(p_item_ids) AND m.deleted_at IS NULL
 WHERE r.id = p_restaurant_id
$$;

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

-- The post-commit pusher's round in two statements: the claim scopes itself and returns
-- the claimed entities' state, and a round whose every row was delivered is recorded in
-- one statement (db/migrations/0007_sync_round_statements.sql).

-- What the Convex target sends of menu items (with their category's name) and tables (never
-- their QR tokens), by id: one definition for the worker's read (sync.sql) and the claim below.
CREATE FUNCTION menu_item_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, category_id uuid, category_name text, name text, description text,
               price bigint, is_available boolean, rank int, version bigint, deleted_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT i.id, i.restaurant_id, i.category_id, c.name, i.name, i.description, i.price, i.is_available, i.rank,
           i.version, i.deleted_at
      FROM menu_items i
      JOIN menu_categories c ON c.restaurant_id = i.restaurant_id AND c.id = i.category_id
     WHERE i.id = ANY(p_ids)
$$;

CREATE FUNCTION table_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, label text, seats int, is_active boolean, version bigint)
LANGUAGE sql STABLE AS $$
    SELECT t.id, t.restaurant_id, t.label, t.seats, t.is_active, t.version
      FROM dining_tables t
     WHERE t.id = ANY(p_ids)
$$;

-- Claims the due pending rows of entities just committed (the pusher's claim, sync.sql
-- claim_entities; a reservation's held pre-order is not due until it fires) after binding the transaction to the system scope and the caller's trace
-- (as set_system_scope does). With p_with_state, each row also carries its entity's current
-- state as JSON (order_convex_documents, menu_item_documents, table_documents, reservation_documents,
-- notification_documents; NULL once the entity
-- is gone), read by a statement after the claim's: it sees every change committed before
-- it, so at least the version each claimed row records (a change that coalesced into a
-- pending row after the claim's snapshot was taken is one the claim then locked and returns).
-- Run alone on an autocommit connection, claim and read are one transaction and one round trip.
CREATE FUNCTION sync_claim_entities(p_target text, p_owner text, p_lease_s float8, p_entity_types text[],
                                    p_entity_ids uuid[], p_trace_context text, p_with_state boolean)
RETURNS TABLE (id bigint, restaurant_id uuid, entity_type text, entity_id uuid, entity_version bigint,
               attempts int, trace_context text, state json)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    claimed sync_log[];
BEGIN
    PERFORM set_config('app.scope', 'system', true),
            set_config('app.trace_context', p_trace_context, true);
    WITH c AS (
        UPDATE sync_log s
           SET status = 'in_flight', next_attempt_at = now() + make_interval(secs => p_lease_s),
               lease_owner = p_owner, updated_at = now()
          FROM (SELECT l.id FROM sync_log l
                 WHERE l.target = p_target AND l.status = 'pending' AND l.next_attempt_at <= now()
                   AND (l.entity_type, l.entity_id) IN (SELECT * FROM unnest(p_entity_types, p_entity_ids))
                   FOR UPDATE SKIP LOCKED) due
         WHERE s.id = due.id
        RETURNING s AS claimed_row
    )
    SELECT coalesce(array_agg(c.claimed_row ORDER BY (c.claimed_row).id), '{}') INTO claimed FROM c;
    RETURN QUERY
        SELECT r.id, r.restaurant_id, r.entity_type, r.entity_id, r.entity_version, r.attempts, r.trace_context,
               CASE WHEN NOT p_with_state THEN NULL
                    WHEN r.entity_type = 'order' THEN
                        (SELECT d FROM order_convex_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'menu_item' THEN
                        (SELECT to_json(d) FROM menu_item_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'table' THEN
                        (SELECT to_json(d) FROM table_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'reservation' THEN
                        (SELECT to_json(d) FROM reservation_documents(ARRAY[r.entity_id]) d)
                    WHEN r.entity_type = 'notification' THEN
                        (SELECT to_json(d) FROM notification_documents(ARRAY[r.entity_id]) d)
               END
          FROM unnest(claimed) r;
END
$$;

-- Rows whose change the target holds now (sync.sql mark_synced) in one statement that scopes
-- itself: run on an autocommit connection, it is its own transaction. Returns how many.
CREATE FUNCTION sync_mark_synced(p_ids bigint[], p_owner text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    marked bigint;
BEGIN
    PERFORM set_config('app.scope', 'system', true);
    UPDATE sync_log
       SET status = 'synced', synced_at = now(), last_error = NULL, target_down = false, updated_at = now()
     WHERE id = ANY(p_ids) AND status = 'in_flight' AND lease_owner = p_owner;
    GET DIAGNOSTICS marked = ROW_COUNT;
    RETURN marked;
END
$$;

-- Time slots and reservations (db/migrations/0012_reservations.sql says how capacity holds).
CREATE TABLE slot_rules (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id               bigint GENERATED ALWAYS AS IDENTITY,
    -- 0 Monday .. 6 Sunday (Python's date.weekday()), in the restaurant's time zone.
    weekday          smallint NOT NULL CONSTRAINT slot_rules_weekday_valid CHECK (weekday BETWEEN 0 AND 6),
    start_time       time NOT NULL,
    end_time         time NOT NULL,
    interval_minutes int NOT NULL CONSTRAINT slot_rules_interval_valid CHECK (interval_minutes BETWEEN 5 AND 720),
    max_reservations int CONSTRAINT slot_rules_max_reservations_valid CHECK (max_reservations BETWEEN 1 AND 10000),
    max_covers       int CONSTRAINT slot_rules_max_covers_valid CHECK (max_covers BETWEEN 1 AND 100000),
    CONSTRAINT slot_rules_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT slot_rules_window_valid CHECK (start_time < end_time),
    CONSTRAINT slot_rules_limit_present CHECK (max_reservations IS NOT NULL OR max_covers IS NOT NULL)
);
CREATE INDEX slot_rules_weekday_idx ON slot_rules (restaurant_id, weekday, start_time);

CREATE TABLE reservations (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    slot_start       timestamptz NOT NULL,
    -- The slot's date in the restaurant's time zone when booked: the day's book is read by it.
    local_date       date NOT NULL,
    party_size       int NOT NULL CONSTRAINT reservations_party_size_valid CHECK (party_size BETWEEN 1 AND 50),
    status           text NOT NULL DEFAULT 'pending' CONSTRAINT reservations_status_valid
                     CHECK (status IN ('pending', 'confirmed', 'seated', 'completed', 'cancelled', 'no_show')),
    -- The customer who booked for themselves; NULL when staff booked for a guest.
    user_id          uuid CONSTRAINT reservations_user_fkey REFERENCES users (id) ON DELETE SET NULL,
    guest_name       text NOT NULL CONSTRAINT reservations_guest_name_valid CHECK (char_length(guest_name) BETWEEN 1 AND 200),
    guest_phone      text CONSTRAINT reservations_guest_phone_valid CHECK (char_length(guest_phone) BETWEEN 1 AND 40),
    table_preference text CONSTRAINT reservations_table_preference_valid CHECK (char_length(table_preference) <= 200),
    note             text CONSTRAINT reservations_note_valid CHECK (char_length(note) <= 500),
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservations_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT reservations_id_key UNIQUE (id)
);
CREATE INDEX reservations_day_idx ON reservations (restaurant_id, local_date, slot_start);
CREATE INDEX reservations_user_idx ON reservations (user_id, slot_start) WHERE user_id IS NOT NULL;

CREATE TABLE reservation_events (
    restaurant_id  uuid NOT NULL,
    id             bigint GENERATED ALWAYS AS IDENTITY,
    reservation_id uuid NOT NULL,
    from_status    text,
    to_status      text NOT NULL,
    actor_type     text NOT NULL CONSTRAINT reservation_events_actor_type_valid CHECK (actor_type IN ('user', 'system')),
    actor_id       uuid,
    reason         text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reservation_events_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT reservation_events_reservation_fkey FOREIGN KEY (restaurant_id, reservation_id)
        REFERENCES reservations (restaurant_id, id) ON DELETE CASCADE
);
CREATE INDEX reservation_events_reservation_idx ON reservation_events (restaurant_id, reservation_id, id);

-- Places taken in one slot (reservations not cancelled or no-show), with the limits of the rule
-- in force at the last booking. No row: nothing booked yet.
CREATE TABLE reservation_slots (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    slot_start       timestamptz NOT NULL,
    reservations     int NOT NULL DEFAULT 0,
    covers           int NOT NULL DEFAULT 0,
    max_reservations int,
    max_covers       int,
    CONSTRAINT reservation_slots_pkey PRIMARY KEY (restaurant_id, slot_start),
    CONSTRAINT reservation_slots_within_capacity CHECK (
        reservations >= 0 AND covers >= 0
        AND (max_reservations IS NULL OR reservations <= max_reservations)
        AND (max_covers IS NULL OR covers <= max_covers))
);

-- A cancelled or no-show reservation gives its places back.
CREATE FUNCTION free_reservation_places() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reservation_slots
       SET reservations = reservations - 1, covers = covers - OLD.party_size
     WHERE restaurant_id = OLD.restaurant_id AND slot_start = OLD.slot_start;
    RETURN NULL;
END
$$;
CREATE TRIGGER reservations_free_places AFTER UPDATE OF status ON reservations
    FOR EACH ROW
    WHEN (OLD.status NOT IN ('cancelled', 'no_show') AND NEW.status IN ('cancelled', 'no_show'))
    EXECUTE FUNCTION free_reservation_places();

CREATE TRIGGER reservations_bump_version BEFORE UPDATE ON reservations
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER reservations_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON reservations
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('reservation');

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['slot_rules', 'reservations', 'reservation_events', 'reservation_slots']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (app_tenant_visible(restaurant_id))'
                       ' WITH CHECK (app_tenant_visible(restaurant_id))', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON slot_rules, reservations, reservation_slots TO tabletop_app;
GRANT SELECT, INSERT ON reservation_events TO tabletop_app;
GRANT USAGE ON SEQUENCE slot_rules_id_seq, reservation_events_id_seq TO tabletop_app;

-- A pre-order's reservation (orders are defined before reservations).
ALTER TABLE orders ADD CONSTRAINT orders_reservation_fkey FOREIGN KEY (restaurant_id, reservation_id)
    REFERENCES reservations (restaurant_id, id);

-- Order exports (db/migrations/0015_exports.sql, docs/exports.md): the job and its file.
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

-- The menu's version (db/migrations/0016_menu_details.sql): one counter per restaurant that
-- rises in the transaction of every change to anything its menu shows, whatever wrote it. The
-- API's menu cache and the menu's ETag are keyed by it (one primary-key read).
CREATE TABLE menu_versions (
    restaurant_id uuid PRIMARY KEY REFERENCES restaurants (id) ON DELETE CASCADE,
    version       bigint NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Raises the restaurant's menu version (a restaurant without a row is at version 0), once per
-- transaction and restaurant: readers only need committed menus to differ in version, and a
-- menu import touching thousands of rows then writes the row once. The mark is a
-- transaction-local setting, which a rolled-back savepoint undoes with its bump. A restaurant
-- being deleted cascades into its menu; the guard keeps the row from coming back.
CREATE FUNCTION bump_menu_version() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    rid uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.restaurant_id ELSE NEW.restaurant_id END;
BEGIN
    IF current_setting('app.menu_version_bumped', true) = rid::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO menu_versions (restaurant_id)
    SELECT rid WHERE EXISTS (SELECT FROM restaurants WHERE id = rid)
    ON CONFLICT (restaurant_id) DO UPDATE SET version = menu_versions.version + 1, updated_at = now();
    PERFORM set_config('app.menu_version_bumped', rid::text, true);
    RETURN NULL;
END
$$;

CREATE TRIGGER menu_categories_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_categories
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_items_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_items
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_variations_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_variations
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_addon_groups_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_addon_groups
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_addons_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_addons
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_item_addon_groups_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_item_addon_groups
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_taxes_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_taxes
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();
CREATE TRIGGER menu_item_taxes_bump_menu_version AFTER INSERT OR UPDATE OR DELETE ON menu_item_taxes
    FOR EACH ROW EXECUTE FUNCTION bump_menu_version();

ALTER TABLE menu_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE menu_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON menu_versions USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON menu_versions TO tabletop_app;

-- Notifications, and what the Convex target sends of orders, reservations and notifications
-- (db/migrations/0017_notifications.sql says who is told what).
CREATE TABLE notifications (
    restaurant_id  uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Exactly one recipient: a customer's account, or a guest session of this restaurant.
    user_id        uuid CONSTRAINT notifications_user_fkey REFERENCES users (id) ON DELETE CASCADE,
    session_id     uuid,
    type           text NOT NULL CONSTRAINT notifications_type_valid CHECK (type IN ('order_status', 'reservation')),
    title          text NOT NULL CONSTRAINT notifications_title_valid CHECK (char_length(title) BETWEEN 1 AND 200),
    message        text NOT NULL CONSTRAINT notifications_message_valid CHECK (char_length(message) BETWEEN 1 AND 1000),
    reference_type text NOT NULL CONSTRAINT notifications_reference_type_valid CHECK (reference_type IN ('order', 'reservation')),
    reference_id   uuid NOT NULL,
    -- The status the referenced order or reservation moved to.
    status         text NOT NULL,
    read_at        timestamptz,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT notifications_id_key UNIQUE (id),
    CONSTRAINT notifications_session_fkey FOREIGN KEY (restaurant_id, session_id)
        REFERENCES guest_sessions (restaurant_id, id) ON DELETE CASCADE,
    CONSTRAINT notifications_one_recipient CHECK ((user_id IS NULL) <> (session_id IS NULL))
);
-- A recipient's list, newest first, and its unread count.
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC) WHERE user_id IS NOT NULL;
CREATE INDEX notifications_session_idx ON notifications (restaurant_id, session_id, created_at DESC, id DESC)
    WHERE session_id IS NOT NULL;

-- What an order's status means to the person who ordered it.
CREATE FUNCTION order_status_phrase(p_status text, p_order_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_status
        WHEN 'pending' THEN 'is waiting for the restaurant'
        WHEN 'confirmed' THEN 'is confirmed'
        WHEN 'preparing' THEN 'is being prepared'
        WHEN 'ready' THEN CASE WHEN p_order_type = 'takeaway' THEN 'is ready for pickup' ELSE 'is ready' END
        WHEN 'served' THEN 'has been served'
        WHEN 'completed' THEN 'is complete. Thank you!'
        WHEN 'dispatched' THEN 'is on its way'
        WHEN 'delivered' THEN 'has been delivered'
        WHEN 'cancelled' THEN 'was cancelled'
        WHEN 'rejected' THEN 'could not be accepted'
        ELSE 'is now ' || p_status
    END
$$;

CREATE FUNCTION notify_order_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    phrase text;
BEGIN
    SELECT d.number, d.order_type, d.session_id, d.placed_by_user, r.name AS restaurant_name,
           d.placed_by_user IS NOT NULL
           AND NOT EXISTS (SELECT FROM memberships m
                            WHERE m.restaurant_id = d.restaurant_id AND m.user_id = d.placed_by_user) AS customer
      INTO o
      FROM orders d
      JOIN restaurants r ON r.id = d.restaurant_id
     WHERE d.restaurant_id = NEW.restaurant_id AND d.id = NEW.order_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    phrase := order_status_phrase(NEW.to_status, o.order_type);
    INSERT INTO notifications (restaurant_id, user_id, session_id, type, title, message, reference_type,
                               reference_id, status)
    SELECT NEW.restaurant_id, who.user_id, who.session_id, 'order_status',
           left('Order #' || o.number || ' ' || split_part(phrase, '.', 1), 200),
           left('Your order #' || o.number || ' at ' || o.restaurant_name || ' ' || phrase
                || CASE WHEN right(phrase, 1) IN ('.', '!') THEN '' ELSE '.' END
                || coalesce(' Reason: ' || nullif(btrim(NEW.reason), ''), ''), 1000),
           'order', NEW.order_id, NEW.to_status
      FROM (VALUES (CASE WHEN o.customer THEN o.placed_by_user END, NULL::uuid),
                   (NULL::uuid, o.session_id)) AS who (user_id, session_id)
     WHERE coalesce(who.user_id, who.session_id) IS NOT NULL
       AND NEW.actor_id IS DISTINCT FROM coalesce(who.user_id, who.session_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER order_events_notify AFTER INSERT ON order_events
    FOR EACH ROW WHEN (NEW.from_status IS NOT NULL AND NEW.from_status IS DISTINCT FROM NEW.to_status)
    EXECUTE FUNCTION notify_order_status();

CREATE FUNCTION notify_reservation_status() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b record;
    booking text;
    title text;
    message text;
BEGIN
    SELECT x.user_id, x.party_size, r.name AS restaurant_name,
           to_char(x.slot_start AT TIME ZONE r.timezone, 'FMDay FMDD FMMonth "at" HH24:MI') AS local_start
      INTO b
      FROM reservations x
      JOIN restaurants r ON r.id = x.restaurant_id
     WHERE x.restaurant_id = NEW.restaurant_id AND x.id = NEW.reservation_id;
    IF NOT FOUND OR b.user_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM b.user_id THEN
        RETURN NULL;
    END IF;
    booking := 'Your reservation at ' || b.restaurant_name || ' for ' || b.party_size || ' on ' || b.local_start;
    SELECT t.title, t.message INTO title, message
      FROM (VALUES
          ('confirmed', 'Reservation confirmed', booking || ' is confirmed. See you then!'),
          ('seated', 'You are seated', 'Welcome to ' || b.restaurant_name || '! Your table for ' || b.party_size
                                       || ' is ready. Enjoy your meal.'),
          ('completed', 'Thank you for your visit', 'Thank you for dining at ' || b.restaurant_name || '.'),
          ('cancelled', 'Reservation cancelled', booking || ' was cancelled.'),
          ('no_show', 'Reservation missed', booking || ' was marked as a no-show.'),
          ('pending', 'Reservation pending', booking || ' is waiting for the restaurant.')
      ) AS t (status, title, message)
     WHERE t.status = NEW.to_status;
    IF NOT FOUND THEN
        title := 'Reservation updated';
        message := booking || ' is now ' || NEW.to_status || '.';
    END IF;
    INSERT INTO notifications (restaurant_id, user_id, type, title, message, reference_type, reference_id, status)
    VALUES (NEW.restaurant_id, b.user_id, 'reservation', title,
            left(message || coalesce(' Reason: ' || nullif(btrim(NEW.reason), ''), ''), 1000),
            'reservation', NEW.reservation_id, NEW.to_status);
    RETURN NULL;
END
$$;
CREATE TRIGGER reservation_events_notify AFTER INSERT ON reservation_events
    FOR EACH ROW WHEN (NEW.from_status IS NOT NULL AND NEW.from_status IS DISTINCT FROM NEW.to_status)
    EXECUTE FUNCTION notify_reservation_status();

CREATE TRIGGER notifications_bump_version BEFORE UPDATE ON notifications
    FOR EACH ROW EXECUTE FUNCTION bump_version();
CREATE TRIGGER notifications_enqueue_sync AFTER INSERT OR UPDATE OR DELETE ON notifications
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('notification');

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON notifications TO tabletop_app;

-- The reason of an order's latest status move (NULL when it gave none): one probe of
-- order_events_order_idx. A payment's events (details.payment_status) are not status moves.
CREATE FUNCTION order_status_reason(p_restaurant_id uuid, p_order_id uuid) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT e.reason FROM order_events e
     WHERE e.restaurant_id = p_restaurant_id AND e.order_id = p_order_id
       AND NOT coalesce(e.details ? 'payment_status', false)
     ORDER BY e.id DESC
     LIMIT 1
$$;

-- What the Convex target sends of orders (order_documents with the latest status reason),
-- reservations (with the restaurant's time zone) and notifications, by id.
CREATE FUNCTION order_convex_documents(p_ids uuid[])
RETURNS SETOF json
LANGUAGE sql STABLE AS $$
    SELECT (to_jsonb(d) || jsonb_build_object('status_reason', order_status_reason(d.restaurant_id, d.id)))::json
      FROM order_documents d
     WHERE d.id = ANY(p_ids)
$$;

CREATE FUNCTION reservation_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, slot_start timestamptz, local_date date, timezone text, party_size int,
               status text, user_id uuid, guest_name text, guest_phone text, table_preference text, note text,
               version bigint, created_at timestamptz, updated_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT x.id, x.restaurant_id, x.slot_start, x.local_date, r.timezone, x.party_size, x.status, x.user_id,
           x.guest_name, x.guest_phone, x.table_preference, x.note, x.version, x.created_at, x.updated_at
      FROM reservations x
      JOIN restaurants r ON r.id = x.restaurant_id
     WHERE x.id = ANY(p_ids)
$$;

CREATE FUNCTION notification_documents(p_ids uuid[])
RETURNS TABLE (id uuid, restaurant_id uuid, user_id uuid, session_id uuid, type text, title text, message text,
               reference_type text, reference_id uuid, status text, read_at timestamptz, version bigint,
               created_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT n.id, n.restaurant_id, n.user_id, n.session_id, n.type, n.title, n.message, n.reference_type,
           n.reference_id, n.status, n.read_at, n.version, n.created_at
      FROM notifications n
     WHERE n.id = ANY(p_ids)
$$;


-- Payments through Stripe (docs/payments.md): an order's PaymentIntent, the Stripe events
-- applied, and refunds (an outbox entity: the stripe_refund target sends them).
CREATE TABLE payments (
    restaurant_id uuid NOT NULL,
    order_id      uuid NOT NULL,
    intent_id     text NOT NULL CONSTRAINT payments_intent_id_valid CHECK (intent_id ~ '^pi_[A-Za-z0-9_]{1,250}$'),
    amount        bigint NOT NULL CONSTRAINT payments_amount_range CHECK (amount > 0),
    currency      char(3) NOT NULL,
    -- Stripe's PaymentIntent status as last seen (the creation's answer, then its events).
    intent_status text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_pkey PRIMARY KEY (restaurant_id, order_id),
    CONSTRAINT payments_intent_key UNIQUE (intent_id),
    CONSTRAINT payments_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
ALTER TABLE payments FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payments USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON payments TO tabletop_app;

-- Stripe's events as applied (Stripe delivers at least once): the first delivery of an id
-- wins, a replay finds its row. restaurant_id is the order's when the event named one of ours
-- (NULL otherwise): the webhook works in the system scope, a tenant sees its own rows only.
CREATE TABLE stripe_events (
    id            text NOT NULL CONSTRAINT stripe_events_id_valid CHECK (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type          text NOT NULL CONSTRAINT stripe_events_type_valid CHECK (char_length(type) BETWEEN 1 AND 200),
    restaurant_id uuid,
    order_id      uuid,
    -- What it did here: applied, stale (out of order, nothing moved), unknown (not our order), ignored.
    outcome       text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stripe_events_pkey PRIMARY KEY (id)
);
CREATE INDEX stripe_events_received_idx ON stripe_events (received_at);
ALTER TABLE stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE stripe_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stripe_events USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON stripe_events TO tabletop_app;

CREATE TABLE refunds (
    restaurant_id    uuid NOT NULL,
    id               uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id         uuid NOT NULL,
    intent_id        text NOT NULL,
    amount           bigint NOT NULL CONSTRAINT refunds_amount_range CHECK (amount > 0),
    currency         char(3) NOT NULL,
    -- queued until Stripe answers, then Stripe's Refund status.
    status           text NOT NULL DEFAULT 'queued' CONSTRAINT refunds_status_valid
                     CHECK (status IN ('queued', 'pending', 'requires_action', 'succeeded', 'failed', 'canceled')),
    stripe_refund_id text,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refunds_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT refunds_id_key UNIQUE (id),
    -- One refund per order: the whole payment, once.
    CONSTRAINT refunds_order_key UNIQUE (restaurant_id, order_id),
    CONSTRAINT refunds_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refunds USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON refunds TO tabletop_app;

CREATE TRIGGER refunds_enqueue_sync AFTER INSERT ON refunds
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('refund');

-- The payment status moves of an order: forward only (a paid order is refunded or stays paid).
CREATE FUNCTION payment_move_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_from = p_to
        OR (p_from, p_to) IN (('unpaid', 'pending'), ('unpaid', 'paid'), ('unpaid', 'failed'), ('pending', 'paid'),
                              ('pending', 'failed'), ('failed', 'pending'), ('failed', 'paid'), ('paid', 'refunded'))
$$;

-- Refuses a backward payment move from any path (the statements that move it only move
-- forward, so this fires only on a bug or a hand-written UPDATE), and releases a payment hold
-- once the order is paid.
CREATE FUNCTION guard_payment_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT payment_move_allowed(OLD.payment_status, NEW.payment_status) THEN
        RAISE EXCEPTION 'payment_status cannot move from % to %', OLD.payment_status, NEW.payment_status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_payment_status_forward';
    END IF;
    IF NEW.payment_status = 'paid' THEN
        NEW.payment_hold := false;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_payment_guard BEFORE UPDATE OF payment_status ON orders
    FOR EACH ROW EXECUTE FUNCTION guard_payment_status();

-- An online order of a restaurant that requires payment first is held until paid (one with
-- nothing to pay is not: no payment could ever release it).
CREATE FUNCTION hold_for_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.payment_hold := NEW.payment_status <> 'paid' AND NEW.total > 0
        AND EXISTS (SELECT FROM restaurants r WHERE r.id = NEW.restaurant_id AND r.payment_required);
    RETURN NEW;
END
$$;
CREATE TRIGGER orders_hold_for_payment BEFORE INSERT ON orders
    FOR EACH ROW WHEN (NEW.payment_method = 'online') EXECUTE FUNCTION hold_for_payment();

-- Paid (payment_hold cleared): every held outbox row of the order comes due now (or at its
-- fire_at, a pre-order's), whichever targets they are for; a target that takes only some
-- events (PetPooja: created, cancelled) heard nothing of the payment itself. Its workers are woken.
-- (Not UPDATE OF payment_hold: guard_payment_status clears it, and a column set by a trigger is
-- not in the statement's column list.)
CREATE FUNCTION release_payment_hold() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    released record;
BEGIN
    FOR released IN
        UPDATE sync_log s SET next_attempt_at = greatest(now(), NEW.fire_at), updated_at = now()
         WHERE s.restaurant_id = NEW.restaurant_id AND s.entity_type = 'order' AND s.entity_id = NEW.id
           AND s.status = 'pending' AND s.next_attempt_at > greatest(now(), NEW.fire_at)
        RETURNING s.target
    LOOP
        PERFORM pg_notify('sync_wake', t.name) FROM sync_targets t WHERE t.name = released.target AND t.wake;
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_release_payment_hold AFTER UPDATE ON orders
    FOR EACH ROW WHEN (OLD.payment_hold AND NOT NEW.payment_hold) EXECUTE FUNCTION release_payment_hold();

-- A paid online order that is cancelled or rejected (or cancelled first and paid after) queues
-- its refund: the whole payment, once.
CREATE FUNCTION queue_refund() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refunds (restaurant_id, order_id, intent_id, amount, currency)
    SELECT p.restaurant_id, p.order_id, p.intent_id, p.amount, p.currency
      FROM payments p
     WHERE p.restaurant_id = NEW.restaurant_id AND p.order_id = NEW.id
    ON CONFLICT ON CONSTRAINT refunds_order_key DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_queue_refund AFTER UPDATE OF status, payment_status ON orders
    FOR EACH ROW WHEN (NEW.status IN ('cancelled', 'rejected') AND NEW.payment_status = 'paid'
                       AND NEW.payment_method = 'online')
    EXECUTE FUNCTION queue_refund();

-- Voice ordering through Vapi's server URL (db/migrations/0021_voice.sql says what each table holds).
CREATE TABLE voice_orders (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    order_id      uuid NOT NULL,
    call_id       text NOT NULL CONSTRAINT voice_orders_call_id_valid CHECK (char_length(call_id) BETWEEN 1 AND 100),
    caller_phone  text CONSTRAINT voice_orders_caller_phone_valid CHECK (char_length(caller_phone) BETWEEN 1 AND 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT voice_orders_pkey PRIMARY KEY (restaurant_id, order_id),
    CONSTRAINT voice_orders_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE CASCADE
);
CREATE INDEX voice_orders_call_idx ON voice_orders (restaurant_id, call_id);
CREATE INDEX voice_orders_phone_idx ON voice_orders (restaurant_id, caller_phone, created_at DESC)
    WHERE caller_phone IS NOT NULL;

CREATE TABLE voice_calls (
    restaurant_id        uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    call_id              text NOT NULL CONSTRAINT voice_calls_call_id_valid CHECK (char_length(call_id) BETWEEN 1 AND 100),
    ended_reason         text NOT NULL
                         CONSTRAINT voice_calls_ended_reason_valid CHECK (char_length(ended_reason) BETWEEN 1 AND 200),
    summary              text CONSTRAINT voice_calls_summary_valid CHECK (char_length(summary) <= 4000),
    transcript           text CONSTRAINT voice_calls_transcript_valid CHECK (char_length(transcript) <= 20000),
    transcript_truncated boolean NOT NULL DEFAULT false,
    cost_usd             numeric(12, 4) CONSTRAINT voice_calls_cost_valid CHECK (cost_usd >= 0),
    started_at           timestamptz,
    ended_at             timestamptz,
    received_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT voice_calls_pkey PRIMARY KEY (restaurant_id, call_id)
);
-- The owners' list, newest first.
CREATE INDEX voice_calls_received_idx ON voice_calls (restaurant_id, received_at DESC, call_id);

ALTER TABLE voice_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE voice_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON voice_orders USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON voice_orders TO tabletop_app;

ALTER TABLE voice_calls ENABLE ROW LEVEL SECURITY;
ALTER TABLE voice_calls FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON voice_calls USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON voice_calls TO tabletop_app;

-- One row per file in db/migrations: this file is all of them.
INSERT INTO schema_migrations (version, name) VALUES
    (1, 'initial'),
    (2, 'migration_history'),
    (3, 'outbox_engine'),
    (4, 'petpooja_order_types'),
    (5, 'member_invitations'),
    (6, 'order_statements'),
    (7, 'sync_round_statements'),
    (8, 'platform_menus'),
    (9, 'platform_orders'),
    (10, 'more_platforms'),
    (11, 'operator'),
    (12, 'customer_accounts'),
    (13, 'venues'),
    (14, 'reservations'),
    (15, 'exports'),
    (16, 'menu_details'),
    (17, 'notifications'),
    (18, 'order_fields'),
    (19, 'payments'),
    (20, 'delivery_zones'),
    (21, 'voice');
