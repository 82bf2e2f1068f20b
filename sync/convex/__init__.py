"""The Convex target: Postgres entities as versioned documents in the realtime cache that
kitchen screens subscribe to (client.py speaks Convex's HTTP API, documents.py shapes the
documents, target.py plugs them into the engine, rebuild.py brings a whole deployment back
to what Postgres holds)."""
