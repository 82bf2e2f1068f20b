-- Voice ordering through Vapi's server URL (issue 15, item 4; docs/voice.md).
--
-- * An order a caller placed by phone is placed by the same statements as every other order
--   (order_context, place_order) with the actor 'voice': its first order_events row says so.
-- * voice_orders links each such order to the Vapi call that placed it and the caller's number,
--   so order_status answers a caller about their own orders only: this call's, or this number's
--   recent ones at this restaurant. Written after the order, idempotently: a retried tool call
--   replays the order (its Idempotency key) and links it again, which changes nothing.
-- * voice_calls keeps Vapi's end-of-call report, one row per call (a repeated report changes
--   nothing): why it ended, Vapi's summary, the transcript (capped) and what it cost.

ALTER TABLE order_events DROP CONSTRAINT order_events_actor_type_valid,
    ADD CONSTRAINT order_events_actor_type_valid
        CHECK (actor_type IN ('user', 'guest', 'system', 'petpooja', 'ubereats', 'doordash', 'grubhub', 'stripe',
                              'voice'));

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
