-- Delivery platforms, second part (issue 13): orders placed on a platform arrive as ours.
--
-- A platform's signed order webhook is answered at once: the route records the event (its id
-- deduplicates the platform's retries) and the platform order it names, and the platform
-- order's outbox row hands the work to the platform's target, which fetches the order, maps it
-- to our menu, creates our order and accepts it back (or denies it, saying why).

ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid
        CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order'));
ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order']);
-- Orders have a target of their own: menus wait out a debounce window (the menu target's grace
-- period), an order must not (Uber gives 11.5 minutes to accept it, the guest less patience).
INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('ubereats_orders', '{platform_order}', '{created}', false, true);

-- A platform is one more kind of actor in an order's history (its order created it).
ALTER TABLE order_events DROP CONSTRAINT order_events_actor_type_valid,
    ADD CONSTRAINT order_events_actor_type_valid CHECK (actor_type IN ('user', 'guest', 'system', 'petpooja', 'ubereats'));

-- Every webhook event a platform delivered, by the platform's event id: a retry of one is
-- answered without doing anything again. Not a tenant table: the event names its store,
-- and the route looks the store up before it knows the restaurant.
CREATE TABLE platform_webhook_events (
    platform    text NOT NULL CONSTRAINT platform_webhook_events_platform_valid CHECK (platform IN ('ubereats')),
    event_id    text NOT NULL CONSTRAINT platform_webhook_events_event_id_valid CHECK (event_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    event_type  text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_webhook_events_pkey PRIMARY KEY (platform, event_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_webhook_events TO tabletop_app;

-- An order placed on a platform: received (the webhook named it), then ours created
-- (order_id), then accepted or denied back to the platform. The platform's own order and
-- totals are kept as it sent them; totals_differ flags an order whose items the platform
-- charged differently from our menu.
CREATE TABLE platform_orders (
    restaurant_id  uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    platform       text NOT NULL CONSTRAINT platform_orders_platform_valid CHECK (platform IN ('ubereats')),
    external_id    text NOT NULL CONSTRAINT platform_orders_external_id_valid CHECK (external_id ~ '^[A-Za-z0-9_.:-]{1,128}$'),
    state          text NOT NULL DEFAULT 'received'
                   CONSTRAINT platform_orders_state_valid CHECK (state IN ('received', 'accepted', 'denied')),
    order_id       uuid,
    platform_order jsonb,
    platform_total bigint,
    totals_differ  boolean,
    error          text,
    version        bigint NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT platform_orders_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT platform_orders_id_key UNIQUE (id),
    CONSTRAINT platform_orders_external_key UNIQUE (platform, external_id),
    CONSTRAINT platform_orders_order_fkey FOREIGN KEY (restaurant_id, order_id)
        REFERENCES orders (restaurant_id, id) ON DELETE SET NULL (order_id)
);
CREATE TRIGGER platform_orders_bump_version BEFORE UPDATE ON platform_orders
    FOR EACH ROW EXECUTE FUNCTION bump_version();
-- Only its arrival routes it: the target's own updates (created, accepted) need no delivery.
CREATE TRIGGER platform_orders_enqueue_sync AFTER INSERT ON platform_orders
    FOR EACH ROW EXECUTE FUNCTION enqueue_sync('platform_order');
ALTER TABLE platform_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE platform_orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON platform_orders USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON platform_orders TO tabletop_app;
