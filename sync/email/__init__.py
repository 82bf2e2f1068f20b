"""The email outbox target: outbound_emails sent over SMTP."""
