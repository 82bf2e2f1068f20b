-- Richer menus, the order timeline's details, and the menu's version (issue 14, items 8 and 9).
--
-- * Menu items gain an image URL (https, at most 500 characters), ingredients (free text, at
--   most 50 of at most 80 characters each), allergens (the 14 allergens of EU regulation
--   1169/2011 as codes, docs/menu.md) and a preparation time in minutes (0..600); categories
--   gain a description (at most 1000 characters).
-- * order_events gain details: what a partner's callback said beside the move (PetPooja's
--   rider name and phone, cancel reason, minimum preparation time), as a JSON object.
-- * menu_versions: one counter per restaurant that rises in the transaction of every change to
--   anything its menu shows (categories, items, variations, addon groups, addons, their links,
--   taxes), whatever wrote it. The API's menu cache (api/menu_cache.py) and the menu's ETag
--   are keyed by it: checking it is one primary-key read.

ALTER TABLE menu_items
    ADD COLUMN image_url text CONSTRAINT menu_items_image_url_https
        CHECK (image_url ~ '^https://' AND length(image_url) <= 500),
    ADD COLUMN ingredients text[] NOT NULL DEFAULT '{}' CONSTRAINT menu_items_ingredients_valid
        CHECK (cardinality(ingredients) <= 50),
    ADD COLUMN allergens text[] NOT NULL DEFAULT '{}' CONSTRAINT menu_items_allergens_valid
        CHECK (allergens <@ ARRAY['celery', 'gluten', 'crustaceans', 'eggs', 'fish', 'lupin', 'milk', 'molluscs',
                                  'mustard', 'tree_nuts', 'peanuts', 'sesame', 'soybeans', 'sulphites']),
    ADD COLUMN prep_minutes int CONSTRAINT menu_items_prep_minutes_range CHECK (prep_minutes BETWEEN 0 AND 600);

ALTER TABLE menu_categories
    ADD COLUMN description text CONSTRAINT menu_categories_description_length CHECK (length(description) <= 1000);

ALTER TABLE order_events ADD COLUMN details jsonb;

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
