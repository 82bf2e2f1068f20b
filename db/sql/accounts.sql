-- name: insert_password_reset_token
-- A reset token for an account (its sha256 only), valid for ttl_s seconds.
INSERT INTO password_reset_tokens (user_id, token_hash, expires_at)
VALUES (%(user_id)s, %(token_hash)s, now() + make_interval(secs => %(ttl_s)s));

-- name: password_reset_token_for_update
-- Locks a presented reset token, so two confirmations of one token serialise (one wins).
SELECT id, user_id, used_at, expires_at <= now() AS expired
  FROM password_reset_tokens
 WHERE token_hash = %(token_hash)s
   FOR UPDATE;

-- name: spend_password_reset_tokens
-- A confirmed reset spends the token, and every other open token of the account with it.
UPDATE password_reset_tokens SET used_at = now()
 WHERE user_id = %(user_id)s AND used_at IS NULL;

-- name: insert_outbound_email
-- An email to send; its trigger (enqueue_email) routes it to the email target. System scope:
-- its outbox row carries the nil restaurant id.
INSERT INTO outbound_emails (id, user_id, kind, recipient, subject, body, key_id)
VALUES (%(id)s, %(user_id)s, %(kind)s, %(recipient)s, %(subject)s, %(body)s, %(key_id)s);

-- name: outbound_emails_by_id
-- The emails a round claimed, to build their messages.
SELECT id, kind, recipient, subject, body, key_id, sent_at
  FROM outbound_emails
 WHERE id = ANY(%(ids)s::uuid[]);

-- name: outbound_email_for_send
-- Holds one email while it is sent, so no two workers send it at once; NULL row: another
-- worker holds it, or it is gone.
SELECT id, sent_at
  FROM outbound_emails
 WHERE id = %(id)s
   FOR UPDATE SKIP LOCKED;

-- name: mark_email_sent
-- The SMTP server accepted it: never sent again.
UPDATE outbound_emails SET sent_at = now() WHERE id = %(id)s;

-- name: customer_orders
-- A page of the orders a customer placed, across restaurants, newest first (system scope);
-- the cursor is the (created_at, id) of the previous page's last order.
SELECT d.*
  FROM orders o
  JOIN order_documents d ON d.restaurant_id = o.restaurant_id AND d.id = o.id
 WHERE o.placed_by_user = %(user_id)s
   AND (o.created_at, o.id) < (%(cursor_created_at)s, %(cursor_id)s)
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT %(limit)s;

-- name: session_orders
-- Every order a guest session placed, newest first (a session lives hours: a few orders).
SELECT *
  FROM order_documents
 WHERE restaurant_id = %(restaurant_id)s AND session_id = %(session_id)s
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s;
