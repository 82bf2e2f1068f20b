-- name: voice_link_order
-- Links an order placed by phone to its Vapi call and caller; linking it again (a retried
-- tool call replayed the order) changes nothing.
INSERT INTO voice_orders (restaurant_id, order_id, call_id, caller_phone)
VALUES (%(restaurant_id)s, %(order_id)s, %(call_id)s, %(caller_phone)s)
ON CONFLICT (restaurant_id, order_id) DO NOTHING;

-- name: voice_caller_orders
-- The orders a caller may ask about, newest first: those this call placed, and those placed by
-- phone from the caller's number at this restaurant in the last day.
SELECT o.id, o.number, o.status, o.order_type, o.total, o.currency, o.pickup_at, o.created_at,
       order_status_phrase(o.status, o.order_type) AS phrase, v.call_id = %(call_id)s AS this_call
  FROM voice_orders v
  JOIN orders o ON o.restaurant_id = v.restaurant_id AND o.id = v.order_id
 WHERE v.restaurant_id = %(restaurant_id)s
   AND (v.call_id = %(call_id)s
        OR (v.caller_phone = %(caller_phone)s::text AND v.created_at > now() - interval '1 day'))
 ORDER BY v.created_at DESC, v.order_id
 LIMIT %(limit)s;

-- name: voice_record_call
-- Keeps a call's end-of-call report; no row when this call's report is already kept.
INSERT INTO voice_calls (restaurant_id, call_id, ended_reason, summary, transcript, transcript_truncated, cost_usd,
                         started_at, ended_at)
VALUES (%(restaurant_id)s, %(call_id)s, %(ended_reason)s, %(summary)s, %(transcript)s, %(transcript_truncated)s,
        %(cost_usd)s, %(started_at)s, %(ended_at)s)
ON CONFLICT (restaurant_id, call_id) DO NOTHING
RETURNING call_id;

-- name: voice_calls_page
-- A page of the restaurant's calls, newest report first, each with the orders it placed; the
-- cursor is the (received_at, call_id) of the previous page's last one.
SELECT c.call_id, c.ended_reason, c.summary, c.transcript, c.transcript_truncated, c.cost_usd, c.started_at,
       c.ended_at, c.received_at,
       coalesce((SELECT array_agg(v.order_id ORDER BY v.created_at, v.order_id)
                   FROM voice_orders v
                  WHERE v.restaurant_id = c.restaurant_id AND v.call_id = c.call_id), '{}') AS order_ids
  FROM voice_calls c
 WHERE c.restaurant_id = %(restaurant_id)s
   AND (c.received_at, c.call_id) < (%(cursor_received_at)s, %(cursor_call_id)s)
 ORDER BY c.received_at DESC, c.call_id DESC
 LIMIT %(limit)s;
