-- name: user_notifications
-- A page of an account's notifications across restaurants, newest first (user scope); the
-- cursor is the (created_at, id) of the previous page's last one.
SELECT n.id, n.restaurant_id, r.name AS restaurant_name, n.type, n.title, n.message, n.reference_type,
       n.reference_id, n.status, n.read_at, n.created_at
  FROM notifications n
  JOIN restaurants r ON r.id = n.restaurant_id
 WHERE n.user_id = %(user_id)s
   AND (n.created_at, n.id) < (%(cursor_created_at)s, %(cursor_id)s)
 ORDER BY n.created_at DESC, n.id DESC
 LIMIT %(limit)s;

-- name: session_notifications
-- A page of a guest session's notifications, newest first (the restaurant's tenant scope).
SELECT n.id, n.restaurant_id, r.name AS restaurant_name, n.type, n.title, n.message, n.reference_type,
       n.reference_id, n.status, n.read_at, n.created_at
  FROM notifications n
  JOIN restaurants r ON r.id = n.restaurant_id
 WHERE n.restaurant_id = %(restaurant_id)s AND n.session_id = %(session_id)s
   AND (n.created_at, n.id) < (%(cursor_created_at)s, %(cursor_id)s)
 ORDER BY n.created_at DESC, n.id DESC
 LIMIT %(limit)s;

-- name: unread_notifications
-- How many of a recipient's notifications are unread (an account's, or a guest session's).
SELECT count(*) AS unread
  FROM notifications
 WHERE read_at IS NULL
   AND (user_id = %(user_id)s OR (restaurant_id = %(restaurant_id)s AND session_id = %(session_id)s));

-- name: mark_notification_read
-- Marks one of a recipient's notifications read (once: a second call keeps the first time)
-- and returns it; no row when the recipient has no such notification.
WITH marked AS (
    UPDATE notifications n SET read_at = now()
     WHERE n.id = %(id)s AND n.read_at IS NULL
       AND (n.user_id = %(user_id)s OR (n.restaurant_id = %(restaurant_id)s AND n.session_id = %(session_id)s))
    RETURNING n.*
)
SELECT m.id, m.restaurant_id, r.name AS restaurant_name, m.type, m.title, m.message, m.reference_type,
       m.reference_id, m.status, m.read_at, m.created_at
  FROM marked m JOIN restaurants r ON r.id = m.restaurant_id
UNION ALL
SELECT n.id, n.restaurant_id, r.name, n.type, n.title, n.message, n.reference_type, n.reference_id, n.status,
       n.read_at, n.created_at
  FROM notifications n JOIN restaurants r ON r.id = n.restaurant_id
 WHERE n.id = %(id)s AND NOT EXISTS (SELECT FROM marked)
   AND (n.user_id = %(user_id)s OR (n.restaurant_id = %(restaurant_id)s AND n.session_id = %(session_id)s));

-- name: mark_all_notifications_read
-- Marks every unread notification of a recipient read; returns their ids.
UPDATE notifications SET read_at = now()
 WHERE read_at IS NULL
   AND (user_id = %(user_id)s OR (restaurant_id = %(restaurant_id)s AND session_id = %(session_id)s))
RETURNING id;

-- name: delete_notification
-- Deletes one of a recipient's notifications; no row when the recipient has no such notification.
DELETE FROM notifications
 WHERE id = %(id)s
   AND (user_id = %(user_id)s OR (restaurant_id = %(restaurant_id)s AND session_id = %(session_id)s))
RETURNING id;
