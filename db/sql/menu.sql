-- name: insert_category
-- Creates a menu category.
INSERT INTO menu_categories (restaurant_id, name, rank, description)
VALUES (%(restaurant_id)s, %(name)s, %(rank)s, %(description)s)
RETURNING id, name, description, rank, created_at, updated_at;

-- name: update_category
-- Partial update of a live category; description is nullable, so it has its own flag.
UPDATE menu_categories
   SET name = coalesce(%(name)s, name),
       rank = coalesce(%(rank)s, rank),
       description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END
 WHERE restaurant_id = %(restaurant_id)s AND id = %(category_id)s AND deleted_at IS NULL
RETURNING id, name, description, rank, created_at, updated_at;

-- name: get_category
-- One live category.
SELECT id, name, description, rank, created_at, updated_at
  FROM menu_categories
 WHERE restaurant_id = %(restaurant_id)s AND id = %(category_id)s AND deleted_at IS NULL;

-- name: category_live_item_count
-- How many live items a live category still holds (NULL row: no such category).
SELECT count(i.id) AS live_items
  FROM menu_categories c
  LEFT JOIN menu_items i
         ON i.restaurant_id = c.restaurant_id AND i.category_id = c.id AND i.deleted_at IS NULL
 WHERE c.restaurant_id = %(restaurant_id)s AND c.id = %(category_id)s AND c.deleted_at IS NULL
 GROUP BY c.id;

-- name: delete_category
-- Soft-deletes a category (its past items keep their foreign key).
UPDATE menu_categories SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND id = %(category_id)s AND deleted_at IS NULL;

-- name: list_categories
-- Live categories in display order.
SELECT id, name, description, rank, created_at, updated_at
  FROM menu_categories
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL
 ORDER BY rank, name, id;

-- name: list_menu_items
-- Live items in display order, each with the order types it is offered for, its live
-- variations, the live addon groups it offers (with its own min/max and their live addons)
-- and its live taxes.
SELECT m.id, m.category_id, m.name, m.description, m.price, m.is_available, m.is_veg, m.rank, m.version,
       m.created_at, m.updated_at, m.image_url, m.ingredients, m.allergens, m.prep_minutes, m.order_types,
       coalesce((SELECT json_agg(json_build_object(
                            'id', v.id, 'name', v.name, 'price', v.price, 'is_available', v.is_available)
                        ORDER BY v.rank, v.name, v.id)
                   FROM menu_variations v
                  WHERE v.restaurant_id = m.restaurant_id AND v.item_id = m.id AND v.deleted_at IS NULL),
                '[]') AS variations,
       coalesce((SELECT json_agg(json_build_object(
                            'id', g.id, 'name', g.name, 'min_select', l.min_select, 'max_select', l.max_select,
                            'addons', coalesce((SELECT json_agg(json_build_object(
                                                         'id', a.id, 'name', a.name, 'price', a.price,
                                                         'is_available', a.is_available, 'is_veg', a.is_veg)
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
       coalesce((SELECT json_agg(json_build_object('id', t.id, 'name', t.name, 'rate_bps', t.rate_bps)
                        ORDER BY t.name, t.id)
                   FROM menu_item_taxes it
                   JOIN menu_taxes t ON t.restaurant_id = it.restaurant_id AND t.id = it.tax_id AND t.deleted_at IS NULL
                  WHERE it.restaurant_id = m.restaurant_id AND it.item_id = m.id),
                '[]') AS taxes
  FROM menu_items m
 WHERE m.restaurant_id = %(restaurant_id)s AND m.deleted_at IS NULL
 ORDER BY m.rank, m.name, m.id;

-- name: insert_menu_item
-- Creates a menu item in a live category (the category check guards soft-deleted ones).
INSERT INTO menu_items (restaurant_id, category_id, name, description, price, is_available, rank,
                        image_url, ingredients, allergens, prep_minutes)
SELECT %(restaurant_id)s, c.id, %(name)s, %(description)s, %(price)s, %(is_available)s, %(rank)s,
       %(image_url)s, %(ingredients)s::text[], %(allergens)s::text[], %(prep_minutes)s
  FROM menu_categories c
 WHERE c.restaurant_id = %(restaurant_id)s AND c.id = %(category_id)s AND c.deleted_at IS NULL
RETURNING id, category_id, name, description, price, is_available, is_veg, rank, version, created_at, updated_at,
          image_url, ingredients, allergens, prep_minutes;

-- name: live_category_exists
-- Whether a category id names a live category of the restaurant.
SELECT 1 AS found
  FROM menu_categories
 WHERE restaurant_id = %(restaurant_id)s AND id = %(category_id)s AND deleted_at IS NULL;

-- name: update_menu_item
-- Partial update of a live item; description is nullable, so it has its own flag.
UPDATE menu_items
   SET category_id = coalesce(%(category_id)s, category_id),
       name = coalesce(%(name)s, name),
       description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
       price = coalesce(%(price)s, price),
       is_available = coalesce(%(is_available)s, is_available),
       rank = coalesce(%(rank)s, rank),
       image_url = CASE WHEN %(set_image_url)s THEN %(image_url)s ELSE image_url END,
       ingredients = coalesce(%(ingredients)s::text[], ingredients),
       allergens = coalesce(%(allergens)s::text[], allergens),
       prep_minutes = CASE WHEN %(set_prep_minutes)s THEN %(prep_minutes)s ELSE prep_minutes END
 WHERE restaurant_id = %(restaurant_id)s AND id = %(item_id)s AND deleted_at IS NULL
RETURNING id, category_id, name, description, price, is_available, is_veg, rank, version, created_at, updated_at,
          image_url, ingredients, allergens, prep_minutes;

-- name: set_item_availability
-- 86-ing: marks an item (un)available; setting the current value changes nothing.
UPDATE menu_items SET is_available = %(is_available)s
 WHERE restaurant_id = %(restaurant_id)s AND id = %(item_id)s AND deleted_at IS NULL;

-- name: get_menu_item
-- One live item.
SELECT id, category_id, name, description, price, is_available, is_veg, rank, version, created_at, updated_at,
       image_url, ingredients, allergens, prep_minutes
  FROM menu_items
 WHERE restaurant_id = %(restaurant_id)s AND id = %(item_id)s AND deleted_at IS NULL;

-- name: delete_menu_item
-- Soft-deletes an item: it leaves the menu, past orders keep it.
UPDATE menu_items SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND id = %(item_id)s AND deleted_at IS NULL;

-- name: menu_version
-- The restaurant's menu version (0: its menu never changed since menu_versions existed).
SELECT coalesce((SELECT version FROM menu_versions WHERE restaurant_id = %(restaurant_id)s), 0) AS version;
