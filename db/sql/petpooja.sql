-- name: upsert_petpooja_outlet
-- Connects a restaurant's PetPooja outlet, or replaces its credentials; a reconnect keeps the callback secret.
INSERT INTO petpooja_outlets (restaurant_id, rest_id, environment, credentials, key_id, callback_secret)
VALUES (%(restaurant_id)s, %(rest_id)s, %(environment)s, %(credentials)s, %(key_id)s, %(callback_secret)s)
ON CONFLICT (restaurant_id) DO UPDATE
   SET rest_id = excluded.rest_id,
       environment = excluded.environment,
       credentials = excluded.credentials,
       key_id = excluded.key_id
RETURNING rest_id, environment, callback_secret, created_at, updated_at;

-- name: get_petpooja_outlet
-- A restaurant's PetPooja connection, without its credentials.
SELECT rest_id, environment, callback_secret, created_at, updated_at
  FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;

-- name: get_petpooja_credentials
-- The sealed credentials of a restaurant's PetPooja outlet and the id of the key that sealed them.
SELECT rest_id, environment, credentials, key_id
  FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;

-- name: delete_petpooja_outlet
-- Disconnects a restaurant's PetPooja outlet, credentials and callback secret with it.
DELETE FROM petpooja_outlets
 WHERE restaurant_id = %(restaurant_id)s;
