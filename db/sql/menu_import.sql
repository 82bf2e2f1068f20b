-- Menu import (db/menu_import.py). Each statement takes a whole list as JSON and works on
-- every row of it at once. Upserts key on (restaurant_id, external_id) and write only rows
-- that really change; rows made here by hand (external_id NULL) are left alone.
-- RETURNING (xmax = 0) tells an inserted row from an updated one. The big lists (items,
-- variations, addons, links) are first compared with what is stored through a join, so an
-- unchanged row never reaches ON CONFLICT (which would lock it even when its WHERE fails).

-- name: import_lock
-- Serialises the menu imports of one restaurant (a pull racing a push) until the transaction ends.
SELECT pg_advisory_xact_lock(hashtext('menu_import'), hashtext(%(restaurant_id)s::text));

-- name: import_upsert_taxes
-- Creates, updates or revives the menu's taxes; returns the rows written.
INSERT INTO menu_taxes AS t (restaurant_id, external_id, name, rate_bps)
SELECT %(restaurant_id)s, n.external_id, n.name, n.rate_bps
  FROM jsonb_to_recordset(%(taxes)s::jsonb) AS n(external_id text, name text, rate_bps int)
ON CONFLICT (restaurant_id, external_id) DO UPDATE
   SET name = excluded.name, rate_bps = excluded.rate_bps, deleted_at = NULL
 WHERE (t.name, t.rate_bps, t.deleted_at) IS DISTINCT FROM (excluded.name, excluded.rate_bps, NULL)
RETURNING t.id, (t.xmax = 0) AS created;

-- name: import_delete_vanished_taxes
-- Soft-deletes the imported taxes the menu no longer has.
UPDATE menu_taxes SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL
   AND external_id <> ALL(%(external_ids)s::text[]);

-- name: import_upsert_addon_groups
-- Creates, updates or revives the menu's addon groups; returns the rows written.
INSERT INTO menu_addon_groups AS g (restaurant_id, external_id, name, rank)
SELECT %(restaurant_id)s, n.external_id, n.name, n.rank
  FROM jsonb_to_recordset(%(groups)s::jsonb) AS n(external_id text, name text, rank int)
ON CONFLICT (restaurant_id, external_id) DO UPDATE
   SET name = excluded.name, rank = excluded.rank, deleted_at = NULL
 WHERE (g.name, g.rank, g.deleted_at) IS DISTINCT FROM (excluded.name, excluded.rank, NULL)
RETURNING g.id, (g.xmax = 0) AS created;

-- name: import_delete_vanished_addon_groups
-- Soft-deletes the imported addon groups the menu no longer has.
UPDATE menu_addon_groups SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL AND external_id IS NOT NULL
   AND external_id <> ALL(%(external_ids)s::text[]);

-- name: import_upsert_addons
-- Creates, updates or revives the addons in their groups (by the groups' PetPooja ids).
INSERT INTO menu_addons AS a (restaurant_id, external_id, group_id, name, price, is_available, is_veg, rank)
SELECT %(restaurant_id)s, n.external_id, g.id, n.name, n.price, n.is_available, n.is_veg, n.rank
  FROM jsonb_to_recordset(%(addons)s::jsonb)
       AS n(external_id text, "group" text, name text, price bigint, is_available boolean, is_veg boolean, rank int)
  JOIN menu_addon_groups g ON g.restaurant_id = %(restaurant_id)s AND g.external_id = n."group"
  LEFT JOIN menu_addons o ON o.restaurant_id = %(restaurant_id)s AND o.external_id = n.external_id
 WHERE o.id IS NULL
    OR (o.group_id, o.name, o.price, o.is_available, o.is_veg, o.rank, o.deleted_at)
       IS DISTINCT FROM (g.id, n.name, n.price, n.is_available, n.is_veg, n.rank, NULL)
ON CONFLICT (restaurant_id, external_id) DO UPDATE
   SET group_id = excluded.group_id, name = excluded.name, price = excluded.price,
       is_available = excluded.is_available, is_veg = excluded.is_veg, rank = excluded.rank, deleted_at = NULL
 WHERE (a.group_id, a.name, a.price, a.is_available, a.is_veg, a.rank, a.deleted_at)
       IS DISTINCT FROM (excluded.group_id, excluded.name, excluded.price, excluded.is_available, excluded.is_veg,
                         excluded.rank, NULL)
RETURNING a.id, (a.xmax = 0) AS created;

-- name: import_delete_vanished_addons
-- Soft-deletes the imported addons the menu no longer has.
UPDATE menu_addons SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL AND external_id IS NOT NULL
   AND external_id <> ALL(%(external_ids)s::text[]);

-- name: import_delete_vanished_categories
-- Soft-deletes the imported categories the menu no longer has, unless items made here still live in them.
UPDATE menu_categories c SET deleted_at = now()
 WHERE c.restaurant_id = %(restaurant_id)s AND c.deleted_at IS NULL AND c.external_id IS NOT NULL
   AND c.external_id <> ALL(%(external_ids)s::text[])
   AND NOT EXISTS (SELECT FROM menu_items i
                    WHERE i.restaurant_id = c.restaurant_id AND i.category_id = c.id
                      AND i.deleted_at IS NULL AND i.external_id IS NULL);

-- name: import_detach_deleted_categories
-- A deleted imported category that re-appears under a name a live category now holds gives its PetPooja id up to that one (adopted next).
UPDATE menu_categories d SET external_id = NULL
  FROM jsonb_to_recordset(%(categories)s::jsonb) AS n(external_id text, name text, rank int)
 WHERE d.restaurant_id = %(restaurant_id)s AND d.external_id = n.external_id AND d.deleted_at IS NOT NULL
   AND EXISTS (SELECT FROM menu_categories c
                WHERE c.restaurant_id = d.restaurant_id AND c.deleted_at IS NULL
                  AND lower(c.name) = lower(n.name)
                  AND (c.external_id IS NULL OR c.external_id <> ALL(
                        SELECT x.external_id FROM jsonb_to_recordset(%(categories)s::jsonb) AS x(external_id text))));

-- name: import_adopt_categories
-- A live category made here (or one PetPooja dropped) named like an incoming category with no row of its own becomes that category.
UPDATE menu_categories c SET external_id = n.external_id
  FROM jsonb_to_recordset(%(categories)s::jsonb) AS n(external_id text, name text, rank int)
 WHERE c.restaurant_id = %(restaurant_id)s AND c.deleted_at IS NULL AND lower(c.name) = lower(n.name)
   AND (c.external_id IS NULL OR c.external_id <> ALL(
         SELECT x.external_id FROM jsonb_to_recordset(%(categories)s::jsonb) AS x(external_id text)))
   AND NOT EXISTS (SELECT FROM menu_categories e
                    WHERE e.restaurant_id = c.restaurant_id AND e.external_id = n.external_id)
RETURNING c.id;

-- name: import_upsert_categories
-- Creates, updates or revives the menu's categories (rows with an id); an existing one keeps its name when another live category holds the new one (name <> wanted_name).
WITH incoming AS (
    SELECT n.external_id, n.name AS wanted_name, n.rank,
           CASE WHEN EXISTS (SELECT FROM menu_categories o
                              WHERE o.restaurant_id = %(restaurant_id)s AND o.deleted_at IS NULL
                                AND lower(o.name) = lower(n.name) AND o.external_id IS DISTINCT FROM n.external_id)
                THEN coalesce((SELECT e.name FROM menu_categories e
                                WHERE e.restaurant_id = %(restaurant_id)s AND e.external_id = n.external_id), n.name)
                ELSE n.name END AS name
      FROM jsonb_to_recordset(%(categories)s::jsonb) AS n(external_id text, name text, rank int)
), before AS (
    SELECT id, name FROM menu_categories WHERE restaurant_id = %(restaurant_id)s
), up AS (
    INSERT INTO menu_categories AS c (restaurant_id, external_id, name, rank)
    SELECT %(restaurant_id)s, external_id, name, rank FROM incoming
    ON CONFLICT (restaurant_id, external_id) DO UPDATE
       SET name = excluded.name, rank = excluded.rank, deleted_at = NULL
     WHERE (c.name, c.rank, c.deleted_at) IS DISTINCT FROM (excluded.name, excluded.rank, NULL)
    RETURNING c.id, c.external_id, (c.xmax = 0) AS created
)
SELECT i.external_id, i.name, i.wanted_name, up.id, coalesce(up.created, false) AS created,
       (up.id IS NOT NULL AND NOT up.created AND b.name IS DISTINCT FROM i.name) AS renamed
  FROM incoming i
  LEFT JOIN up ON up.external_id = i.external_id
  LEFT JOIN before b ON b.id = up.id;

-- name: import_upsert_items
-- Creates, updates or revives the menu's items in their categories (by PetPooja ids); returns the rows written.
INSERT INTO menu_items AS m (restaurant_id, external_id, category_id, name, description, price, is_available,
                             is_veg, rank, order_types)
SELECT %(restaurant_id)s, n.external_id, c.id, n.name, n.description, n.price, n.is_available, n.is_veg, n.rank,
       n.order_types
  FROM jsonb_to_recordset(%(items)s::jsonb)
       AS n(external_id text, category text, name text, description text, price bigint, is_available boolean,
            is_veg boolean, rank int, order_types text[])
  JOIN menu_categories c ON c.restaurant_id = %(restaurant_id)s AND c.external_id = n.category
  LEFT JOIN menu_items o ON o.restaurant_id = %(restaurant_id)s AND o.external_id = n.external_id
 WHERE o.id IS NULL
    OR (o.category_id, o.name, o.description, o.price, o.is_available, o.is_veg, o.rank, o.order_types, o.deleted_at)
       IS DISTINCT FROM (c.id, n.name, n.description, n.price, n.is_available, n.is_veg, n.rank, n.order_types, NULL)
ON CONFLICT (restaurant_id, external_id) DO UPDATE
   SET category_id = excluded.category_id, name = excluded.name, description = excluded.description,
       price = excluded.price, is_available = excluded.is_available, is_veg = excluded.is_veg,
       rank = excluded.rank, order_types = excluded.order_types, deleted_at = NULL
 WHERE (m.category_id, m.name, m.description, m.price, m.is_available, m.is_veg, m.rank, m.order_types,
        m.deleted_at)
       IS DISTINCT FROM (excluded.category_id, excluded.name, excluded.description, excluded.price,
                         excluded.is_available, excluded.is_veg, excluded.rank, excluded.order_types, NULL)
RETURNING m.id, (m.xmax = 0) AS created;

-- name: import_delete_vanished_items
-- Soft-deletes the imported items the menu no longer has; returns them.
UPDATE menu_items SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL AND external_id IS NOT NULL
   AND external_id <> ALL(%(external_ids)s::text[])
RETURNING id;

-- name: import_items_of_categories
-- The live items of some categories.
SELECT id FROM menu_items
 WHERE restaurant_id = %(restaurant_id)s AND category_id = ANY(%(category_ids)s::uuid[]) AND deleted_at IS NULL;

-- name: import_upsert_variations
-- Creates, updates or revives the items' variations (by the items' PetPooja ids); returns the rows written.
INSERT INTO menu_variations AS v (restaurant_id, external_id, item_id, name, price, is_available, rank,
                                  external_variation_id)
SELECT %(restaurant_id)s, n.external_id, i.id, n.name, n.price, n.is_available, n.rank, n.external_variation_id
  FROM jsonb_to_recordset(%(variations)s::jsonb)
       AS n(external_id text, item text, name text, price bigint, is_available boolean, rank int,
            external_variation_id text)
  JOIN menu_items i ON i.restaurant_id = %(restaurant_id)s AND i.external_id = n.item
  LEFT JOIN menu_variations o ON o.restaurant_id = %(restaurant_id)s AND o.external_id = n.external_id
 WHERE o.id IS NULL
    OR (o.item_id, o.name, o.price, o.is_available, o.rank, o.external_variation_id, o.deleted_at)
       IS DISTINCT FROM (i.id, n.name, n.price, n.is_available, n.rank, n.external_variation_id, NULL)
ON CONFLICT (restaurant_id, external_id) DO UPDATE
   SET item_id = excluded.item_id, name = excluded.name, price = excluded.price,
       is_available = excluded.is_available, rank = excluded.rank,
       external_variation_id = excluded.external_variation_id, deleted_at = NULL
 WHERE (v.item_id, v.name, v.price, v.is_available, v.rank, v.external_variation_id, v.deleted_at)
       IS DISTINCT FROM (excluded.item_id, excluded.name, excluded.price, excluded.is_available, excluded.rank,
                         excluded.external_variation_id, NULL)
RETURNING v.id, (v.xmax = 0) AS created;

-- name: import_delete_vanished_variations
-- Soft-deletes the imported variations the menu no longer has (those of vanished items too).
UPDATE menu_variations SET deleted_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND deleted_at IS NULL AND external_id IS NOT NULL
   AND external_id <> ALL(%(external_ids)s::text[]);

-- name: import_replace_item_taxes
-- Makes the imported items' tax links exactly the menu's (links to live taxes only); how many it made and dropped.
WITH incoming AS (
    SELECT DISTINCT i.id AS item_id, t.id AS tax_id
      FROM jsonb_to_recordset(%(links)s::jsonb) AS n(item text, tax text)
      JOIN menu_items i ON i.restaurant_id = %(restaurant_id)s AND i.external_id = n.item
      JOIN menu_taxes t ON t.restaurant_id = %(restaurant_id)s AND t.external_id = n.tax AND t.deleted_at IS NULL
), dropped AS (
    DELETE FROM menu_item_taxes x
     USING menu_items i
     WHERE x.restaurant_id = %(restaurant_id)s AND i.restaurant_id = x.restaurant_id AND i.id = x.item_id
       AND i.external_id IS NOT NULL
       -- NOT IN hashes the incoming pairs (NOT EXISTS became a nested loop over them).
       AND (x.item_id, x.tax_id) NOT IN (SELECT item_id, tax_id FROM incoming)
    RETURNING 1
), added AS (
    INSERT INTO menu_item_taxes (restaurant_id, item_id, tax_id)
    SELECT %(restaurant_id)s, item_id, tax_id FROM incoming
     WHERE (item_id, tax_id) NOT IN (SELECT item_id, tax_id FROM menu_item_taxes
                                      WHERE restaurant_id = %(restaurant_id)s)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM added) AS created, 0 AS updated, (SELECT count(*) FROM dropped) AS deleted;

-- name: import_replace_item_addon_groups
-- Makes the imported items' addon-group links (with min/max) exactly the menu's (live groups only); how many it made, changed and dropped.
WITH incoming AS (
    SELECT DISTINCT ON (i.id, g.id) i.id AS item_id, g.id AS group_id, n.min_select, n.max_select, n.rank
      FROM jsonb_to_recordset(%(links)s::jsonb)
           AS n(item text, "group" text, min_select int, max_select int, rank int)
      JOIN menu_items i ON i.restaurant_id = %(restaurant_id)s AND i.external_id = n.item
      JOIN menu_addon_groups g ON g.restaurant_id = %(restaurant_id)s AND g.external_id = n."group"
                              AND g.deleted_at IS NULL
     ORDER BY i.id, g.id, n.rank
), dropped AS (
    DELETE FROM menu_item_addon_groups x
     USING menu_items i
     WHERE x.restaurant_id = %(restaurant_id)s AND i.restaurant_id = x.restaurant_id AND i.id = x.item_id
       AND i.external_id IS NOT NULL
       AND (x.item_id, x.group_id) NOT IN (SELECT item_id, group_id FROM incoming)
    RETURNING 1
), written AS (
    INSERT INTO menu_item_addon_groups AS l (restaurant_id, item_id, group_id, min_select, max_select, rank)
    SELECT %(restaurant_id)s, n.item_id, n.group_id, n.min_select, n.max_select, n.rank
      FROM incoming n
      LEFT JOIN menu_item_addon_groups o
             ON o.restaurant_id = %(restaurant_id)s AND o.item_id = n.item_id AND o.group_id = n.group_id
     WHERE o.item_id IS NULL
        OR (o.min_select, o.max_select, o.rank) IS DISTINCT FROM (n.min_select, n.max_select, n.rank)
    ON CONFLICT (restaurant_id, item_id, group_id) DO UPDATE
       SET min_select = excluded.min_select, max_select = excluded.max_select, rank = excluded.rank
     WHERE (l.min_select, l.max_select, l.rank) IS DISTINCT FROM (excluded.min_select, excluded.max_select, excluded.rank)
    RETURNING (l.xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created) AS created, count(*) FILTER (WHERE NOT created) AS updated,
       (SELECT count(*) FROM dropped) AS deleted
  FROM written;

-- name: insert_menu_sync
-- Records one menu sync (an import, or a failure that imported nothing).
INSERT INTO menu_syncs (restaurant_id, source, status, counts, errors, duration_ms)
VALUES (%(restaurant_id)s, %(source)s, %(status)s, %(counts)s, %(errors)s, %(duration_ms)s)
RETURNING id, source, status, counts, errors, duration_ms, created_at;

-- name: list_menu_syncs
-- A restaurant's latest menu syncs, newest first.
SELECT id, source, status, counts, errors, duration_ms, created_at
  FROM menu_syncs
 WHERE restaurant_id = %(restaurant_id)s
 ORDER BY id DESC
 LIMIT %(limit)s;
