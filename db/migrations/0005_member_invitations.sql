-- Guest sessions and member invitations (issue 11).

-- A guest session ends when its table is closed or its QR code is replaced, whatever
-- changed the table (the API, manual SQL): the API checks the session on every guest
-- request (api/access.py), and a trigger ends the sessions in the changing transaction.
ALTER TABLE guest_sessions
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN ended_reason text
        CONSTRAINT guest_sessions_ended_reason_valid CHECK (ended_reason IN ('table_closed', 'qr_rotated')),
    ADD CONSTRAINT guest_sessions_ended_together CHECK ((ended_at IS NULL) = (ended_reason IS NULL));
-- The trigger below, and the cascade when a table is deleted, find a table's sessions by it.
CREATE INDEX guest_sessions_table_idx ON guest_sessions (restaurant_id, table_id);

CREATE FUNCTION end_table_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE guest_sessions
       SET ended_at = now(),
           ended_reason = CASE WHEN NOT NEW.is_active THEN 'table_closed' ELSE 'qr_rotated' END
     WHERE restaurant_id = NEW.restaurant_id AND table_id = NEW.id
       AND ended_at IS NULL AND expires_at > now();
    RETURN NULL;
END
$$;

CREATE TRIGGER dining_tables_end_sessions AFTER UPDATE OF is_active, qr_token ON dining_tables
    FOR EACH ROW WHEN ((OLD.is_active AND NOT NEW.is_active) OR OLD.qr_token IS DISTINCT FROM NEW.qr_token)
    EXECUTE FUNCTION end_table_sessions();

-- Membership is an invitation the invitee accepts (api/routes/invitations.py): inviting
-- never reads users, so the answer is the same whether the email has an account or not.
CREATE TABLE member_invitations (
    restaurant_id uuid NOT NULL REFERENCES restaurants (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    email         text NOT NULL CONSTRAINT member_invitations_email_lowercase CHECK (email = lower(email)),
    role          text NOT NULL
                  CONSTRAINT member_invitations_role_valid CHECK (role IN ('owner', 'manager', 'staff', 'kitchen')),
    status        text NOT NULL DEFAULT 'pending'
                  CONSTRAINT member_invitations_status_valid
                  CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    invited_by    uuid CONSTRAINT member_invitations_invited_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    -- Who accepted, declined or revoked it, and when.
    answered_by   uuid CONSTRAINT member_invitations_answered_by_fkey REFERENCES users (id) ON DELETE SET NULL,
    answered_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT member_invitations_pkey PRIMARY KEY (restaurant_id, id),
    CONSTRAINT member_invitations_id_key UNIQUE (id),
    CONSTRAINT member_invitations_answered CHECK ((status = 'pending') = (answered_at IS NULL))
);
-- One pending invitation per email and restaurant: inviting again renews it.
CREATE UNIQUE INDEX member_invitations_pending_key ON member_invitations (restaurant_id, email)
    WHERE status = 'pending';
-- An invitee's pending invitations, across restaurants (GET /api/auth/me).
CREATE INDEX member_invitations_email_idx ON member_invitations (email) WHERE status = 'pending';

ALTER TABLE member_invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE member_invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON member_invitations USING (app_tenant_visible(restaurant_id))
    WITH CHECK (app_tenant_visible(restaurant_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON member_invitations TO tabletop_app;
