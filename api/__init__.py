"""The Starlette HTTP API: routes, auth, middleware, request and response models."""
