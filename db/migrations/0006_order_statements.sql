-- Order creation in two statements, and one statement to enter a restaurant (issue 12).
--
-- Each statement the API sends costs it about 0.1 ms of CPU (psycopg's per-statement work
-- and the event loop's), as much as Postgres spends on a small statement. An order took
-- seven (BEGIN, tenant, session check, key claim, menu read, insert, COMMIT); it now takes
-- two, each its own transaction: order_context reads what the API needs to judge and price
-- the order, place_order writes it. Both run as the app role under row-level security.

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

-- Everything the API needs to judge and price an order, in one statement: whether the caller
-- may order here (enter_restaurant), the earlier use of the request's Idempotency-Key (key_*
-- NULL when unused), and order_menu's rows (one row with NULL menu columns when the
-- restaurant does not exist). Writes nothing.
CREATE FUNCTION order_context(p_restaurant_id uuid, p_trace_context text, p_session_id uuid, p_user_id uuid,
                              p_key text, p_item_ids uuid[])
RETURNS TABLE (session_end text, user_found boolean, is_platform_admin boolean, role text,
               key_principal text, key_request_hash bytea, key_order_id uuid,
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
               k.principal, k.request_hash, k.order_id, m.*
          FROM (SELECT 1) one
          LEFT JOIN idempotency_keys k ON k.restaurant_id = p_restaurant_id AND k.key = p_key
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
    p_discount bigint, p_total bigint, p_lines jsonb, p_actor_type text, p_actor_id uuid)
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
                            discount, total)
        SELECT p_restaurant_id, n.last_order_number, p_table_id, p_session_id, p_placed_by_user,
               p_order_type, p_customer_name, p_customer_phone, p_notes, p_currency,
               p_subtotal, p_tax, p_tip, p_discount, p_total
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
