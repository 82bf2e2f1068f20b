"""The stripe_refund outbox target: refunds of cancelled paid orders, sent to Stripe."""
