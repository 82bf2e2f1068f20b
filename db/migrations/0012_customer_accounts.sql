-- Customer accounts (issue 14): a phone on the account, password reset tokens, and email as one
-- more outbox target.
--
-- A reset token is 256 random bits; only its sha256 is stored, so a database leak hands out no
-- live token. It works once (used_at) and until expires_at.
--
-- An outbound email is a row here; inserting it routes it to the 'email' target through
-- sync_targets like every other change (enqueue_email below). Emails belong to no restaurant:
-- their outbox rows carry the nil restaurant id, so only a system-scope transaction (the
-- password reset's, the worker's) writes or reads them. The body is sealed
-- (db/credentials.py, purpose 'email', bound to the email's id): a reset mail carries a live
-- token. sent_at is set once the SMTP server accepted it; a row with it is never sent again.

ALTER TABLE users ADD COLUMN phone text
    CONSTRAINT users_phone_valid CHECK (phone ~ '^\+?[0-9 ()-]{5,20}$');

CREATE TABLE password_reset_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL CONSTRAINT password_reset_tokens_hash_key UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

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

ALTER TABLE sync_targets DROP CONSTRAINT sync_targets_entity_types_valid,
    ADD CONSTRAINT sync_targets_entity_types_valid
        CHECK (entity_types <@ ARRAY['order', 'menu_item', 'table', 'menu', 'platform_order', 'email']);
ALTER TABLE sync_log DROP CONSTRAINT sync_log_entity_type_valid,
    ADD CONSTRAINT sync_log_entity_type_valid
        CHECK (entity_type IN ('order', 'menu_item', 'table', 'menu', 'platform_order', 'email'));
INSERT INTO sync_targets (name, entity_types, events, all_restaurants, wake) VALUES
    ('email', '{email}', '{created}', true, true);

-- An email's arrival routes it (its outbox row under the nil restaurant id: emails belong to
-- no restaurant).
CREATE FUNCTION enqueue_email() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM enqueue_targets('00000000-0000-0000-0000-000000000000'::uuid, 'email', NEW.id, 1, '{created}');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbound_emails_enqueue_sync AFTER INSERT ON outbound_emails
    FOR EACH ROW EXECUTE FUNCTION enqueue_email();

-- A customer's own orders across restaurants, newest first (GET /api/me/orders).
CREATE INDEX orders_placed_by_user_idx ON orders (placed_by_user, created_at DESC, id DESC)
    WHERE placed_by_user IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON password_reset_tokens, outbound_emails TO tabletop_app;
