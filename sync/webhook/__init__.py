"""A restaurant's own backend: order changes POSTed, signed, as an outbox target."""
