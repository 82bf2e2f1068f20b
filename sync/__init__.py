"""Outbox processing and every outbound target (Convex writer, post-commit pusher,
APScheduler worker, PetPooja, delivery platforms). Imports db, never api."""
