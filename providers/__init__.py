"""External services we call but cannot run here (Stripe, Google's Geocoding API, Vapi),
built in one place by ENV_MODE: providers/factory.py."""
