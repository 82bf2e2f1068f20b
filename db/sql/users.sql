-- name: insert_user
-- Registers an account; the email is stored lower-cased.
INSERT INTO users (email, password_hash, full_name)
VALUES (%(email)s, %(password_hash)s, %(full_name)s)
RETURNING id, email, full_name, is_platform_admin, created_at;

-- name: user_by_email
-- Looks an account up for login.
SELECT id, email, full_name, password_hash, is_platform_admin
  FROM users
 WHERE email = %(email)s;

-- name: user_by_id
-- One account, without its password hash.
SELECT id, email, full_name, phone, is_platform_admin, created_at
  FROM users
 WHERE id = %(user_id)s;

-- name: set_platform_admin
-- Grants or withdraws platform administration (operator tooling and the demo seed only).
UPDATE users SET is_platform_admin = %(is_admin)s WHERE id = %(user_id)s;

-- name: user_memberships
-- Every restaurant a user belongs to (system scope: spans tenants by design).
SELECT restaurant_id, role
  FROM memberships
 WHERE user_id = %(user_id)s
 ORDER BY created_at, restaurant_id;

-- name: insert_refresh_token
-- Stores the hash of a new refresh token in its rotation family.
INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at)
VALUES (%(user_id)s, %(family_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_s)s));

-- name: refresh_token_for_update
-- Locks a presented refresh token so that two concurrent uses serialise.
SELECT id, user_id, family_id, expires_at, used_at, revoked_at, expires_at <= now() AS expired
  FROM refresh_tokens
 WHERE token_hash = %(token_hash)s
   FOR UPDATE;

-- name: mark_refresh_token_used
-- Spends a refresh token: it works once.
UPDATE refresh_tokens SET used_at = now() WHERE id = %(id)s;

-- name: revoke_refresh_family
-- Reuse of a spent token means it leaked: every token of its family stops working.
UPDATE refresh_tokens SET revoked_at = now()
 WHERE family_id = %(family_id)s AND revoked_at IS NULL;

-- name: user_profile
-- One account as its owner sees it (with the phone), and the password hash to check a change.
SELECT id, email, full_name, phone, is_platform_admin, created_at, password_hash
  FROM users
 WHERE id = %(user_id)s;

-- name: update_user_profile
-- Changes an account's name, phone and email; a NULL leaves a field as it is unless its
-- clear flag says to clear it (the phone). A taken email trips users_email_key (409).
UPDATE users
   SET full_name = coalesce(%(full_name)s, full_name),
       phone = CASE WHEN %(clear_phone)s THEN NULL ELSE coalesce(%(phone)s, phone) END,
       email = coalesce(%(email)s, email)
 WHERE id = %(user_id)s
RETURNING id, email, full_name, phone, is_platform_admin, created_at;

-- name: set_password_hash
-- A new password for an account.
UPDATE users SET password_hash = %(password_hash)s WHERE id = %(user_id)s;

-- name: revoke_user_refresh_families
-- Every refresh token of the user stops working, except those of the family kept (NULL: none
-- kept), which a password change keeps for the session that made it.
UPDATE refresh_tokens SET revoked_at = now()
 WHERE user_id = %(user_id)s AND revoked_at IS NULL
   AND family_id IS DISTINCT FROM %(keep_family_id)s;

-- name: refresh_token_family
-- The family of a presented refresh token that still works (the session a password change keeps).
SELECT family_id
  FROM refresh_tokens
 WHERE token_hash = %(token_hash)s AND user_id = %(user_id)s
   AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now();
