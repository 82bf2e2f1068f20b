-- Delivery platforms, first part (issue 13): a restaurant's store on a platform, and its
-- menu published there through the outbox.
--
-- A platform takes a restaurant's whole menu, so its outbox rows name the restaurant's
-- menu: menu items route to it as they route to Convex (enqueue_sync, entity 'menu_item'),
-- and a change to anything else the menu shows (categories, variations, addons and their
-- groups, taxes, and the links between them) writes one 'menu' row whose entity id is the
-- restaurant's (enqueue_menu). The target publishes the restaurant's current menu once for
-- all the rows a round claims, and its grace period (the debounce window) lets a burst of
-- edits coalesce before a round claims them.

ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu'));
ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu']);

INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('ubereats', '{menu_item,menu}', '{created,changed,deleted}', false, true);

-- A restaurant's store on a delivery platform: the platform's store id, the sealed
-- credentials (db/credentials.py, purpose = the platform), and the state of its menu there:
-- pending until the first publish, then synced or failed, with what the platform last
-- answered. published_menu is the payload the platform last accepted, so a change of
-- availability alone can go as the platform's cheaper suspend call.
CREATE TABLE platform_connections (
    restaurant_id    uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    platform         text NOT NULL CONSTRAINT platform_connections_platform_valid CHECK (platform IN ('ubereats')),
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
    CONSTRAINT platform_connections_pkey PRIMARY KEY (restaurant_id, platform),
    -- A platform's webhooks name the store: one restaurant per store.
    CONSTRAINT platform_connections_store_key UNIQUE (platform, store_id)
);
CREATE TRIGGER platform_connections_touch BEFORE UPDATE ON platform_connections
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
ALTER TABLE platform_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON platform_connections USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_connections TO tabletop_app;

-- The one routing loop: writes (or coalesces into) the pending outbox row of an entity for
-- every target that takes this kind of change (sync_targets) from this restaurant
-- (all_restaurants, or a restaurant_targets row), and wakes the workers at commit for targets
-- without a post-commit pusher. enqueue_sync (a synced entity's row changed) and enqueue_menu
-- (anything else a menu shows changed) call it.
CREATE FUNCTION enqueue_targets(rid uuid, etype text, eid uuid, ver bigint, happened text[]) RETURNS void
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
        PERFORM enqueue_outbox(rid, t.name, etype, eid, ver);
        IF t.wake THEN
            PERFORM pg_notify('sync_wake', t.name);
        END IF;
    END LOOP;
END
$$;

-- The routing trigger of synced entities: works out what happened (created, changed or
-- deleted, and for an order status_changed and cancelled; a delete is recorded one version
-- above the last state so that it outranks every earlier upsert) and routes it.
CREATE OR REPLACE FUNCTION enqueue_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    etype text := TG_ARGV[0];
    happened text[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM enqueue_targets(OLD.restaurant_id, etype, OLD.id, OLD.version + 1, '{deleted}');
        RETURN NULL;
    END IF;
    happened := CASE WHEN TG_OP = 'INSERT' THEN '{created}'::text[] ELSE '{changed}'::text[] END;
    -- Nested: only an order has a status, and NEW.status is resolved when the expression is
    -- planned, so an AND in the same expression cannot guard it.
    IF TG_OP = 'UPDATE' AND etype = 'order' THEN
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            happened := happened || '{status_changed}'::text[];
            IF NEW.status = 'cancelled' THEN
                happened := happened || '{cancelled}'::text[];
            END IF;
        END IF;
    END IF;
    PERFORM enqueue_targets(NEW.restaurant_id, etype, NEW.id, NEW.version, happened);
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
