-- Delivery platforms, third part (issue 13): DoorDash and Grubhub beside Uber Eats, and our
-- order's status going back to the platform that placed it.
--
-- Each platform has the two targets Uber Eats has: its menus (debounced) and its orders. The
-- orders target now also takes a platform order's 'changed' event: our order's status moved
-- (the trigger below copies it onto the platform order), and the platform hears of it.

ALTER TABLE platform_connections DROP CONSTRAINT platform_connections_platform_valid,
    ADD CONSTRAINT platform_connections_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub'));
ALTER TABLE platform_webhook_events DROP CONSTRAINT platform_webhook_events_platform_valid,
    ADD CONSTRAINT platform_webhook_events_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub'));
ALTER TABLE platform_orders DROP CONSTRAINT platform_orders_platform_valid,
    ADD CONSTRAINT platform_orders_platform_valid CHECK (platform IN ('ubereats', 'doordash', 'grubhub'));
ALTER TABLE order_events DROP CONSTRAINT order_events_actor_type_valid,
    ADD CONSTRAINT order_events_actor_type_valid
        CHECK (actor_type IN ('user', 'guest', 'system', 'petpooja', 'ubereats', 'doordash', 'grubhub'));

-- The menu of the last publish that failed (sent and refused, or refused before sending), for
-- the operator's error queue: the exact snapshot beside the platform's answer (last_response).
ALTER TABLE platform_connections ADD COLUMN failed_menu jsonb;

INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('doordash', '{menu_item,menu}', '{created,changed,deleted}', false, true),
    ('doordash_orders', '{platform_order}', '{created,changed}', false, true),
    ('grubhub', '{menu_item,menu}', '{created,changed,deleted}', false, true),
    ('grubhub_orders', '{platform_order}', '{created,changed}', false, true);
UPDATE sync_targets SET events = '{created,changed}' WHERE name = 'ubereats_orders';

-- A platform order cancelled on the platform is 'cancelled' here too. order_status is our
-- order's status as last copied (by the trigger below); status_sent the last one the
-- platform was told of (or told us: a cancellation from the platform is not sent back).
ALTER TABLE platform_orders DROP CONSTRAINT platform_orders_state_valid,
    ADD CONSTRAINT platform_orders_state_valid CHECK (state IN ('received', 'accepted', 'denied', 'cancelled')),
    ADD COLUMN order_status text,
    ADD COLUMN status_sent text;
CREATE INDEX platform_orders_order_idx ON platform_orders (restaurant_id, order_id);
CREATE TRIGGER platform_orders_status_changed AFTER UPDATE OF order_status ON platform_orders
    FOR EACH ROW WHEN (OLD.order_status IS DISTINCT FROM NEW.order_status)
    EXECUTE FUNCTION enqueue_sync('platform_order');

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
CREATE TRIGGER orders_copy_status_to_platform_order AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.table_id IS NULL AND NEW.session_id IS NULL AND NEW.placed_by_user IS NULL)
    EXECUTE FUNCTION copy_status_to_platform_order();
