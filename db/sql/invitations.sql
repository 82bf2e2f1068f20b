-- name: upsert_invitation
-- Invites an email to the restaurant, or renews its pending invitation (new role, expiry and inviter) when the caller may grant the role it holds.
INSERT INTO member_invitations (restaurant_id, email, role, invited_by, expires_at)
VALUES (%(restaurant_id)s, %(email)s, %(role)s, %(invited_by)s, now() + make_interval(secs => %(ttl_s)s))
ON CONFLICT (restaurant_id, email) WHERE status = 'pending'
DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by, created_at = now(),
              expires_at = EXCLUDED.expires_at
        WHERE member_invitations.role = ANY(%(replaceable)s)
RETURNING restaurant_id, id, email, role, status, invited_by, created_at, expires_at;

-- name: pending_invitations
-- The restaurant's unanswered invitations (expired ones included, flagged), newest first.
SELECT restaurant_id, id, email, role,
       CASE WHEN expires_at <= now() THEN 'expired' ELSE status END AS status,
       invited_by, created_at, expires_at
  FROM member_invitations
 WHERE restaurant_id = %(restaurant_id)s AND status = 'pending'
 ORDER BY created_at DESC, id
 LIMIT %(limit)s;

-- name: invitation_in_restaurant
-- One of the restaurant's invitations, locked while it is answered or revoked.
SELECT restaurant_id, id, email, role, status, expires_at <= now() AS expired
  FROM member_invitations
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s
   FOR UPDATE;

-- name: invitation_by_id
-- An invitation wherever it is (system scope: its invitee is not a member yet), locked while it is answered.
SELECT restaurant_id, id, email, role, status, expires_at <= now() AS expired
  FROM member_invitations
 WHERE id = %(id)s
   FOR UPDATE;

-- name: answer_invitation
-- Records an invitation's answer (accepted, declined) or its revocation, and who gave it.
UPDATE member_invitations
   SET status = %(status)s, answered_by = %(user_id)s, answered_at = now()
 WHERE restaurant_id = %(restaurant_id)s AND id = %(id)s AND status = 'pending'
RETURNING restaurant_id, id, email, role, status, invited_by, created_at, expires_at, answered_at;

-- name: invitations_for_email
-- An invitee's open invitations across restaurants (system scope), with each restaurant's name.
SELECT i.id, i.restaurant_id, r.name AS restaurant_name, i.role, i.created_at, i.expires_at
  FROM member_invitations i
  JOIN restaurants r ON r.id = i.restaurant_id
 WHERE i.email = %(email)s AND i.status = 'pending' AND i.expires_at > now()
 ORDER BY i.created_at, i.id;
