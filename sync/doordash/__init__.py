"""DoorDash Marketplace: its client (JWT-signed calls), menu payloads, order parser and
platform adapter (docs/doordash.md)."""
