"""Operator and developer commands: dev runner, seed, fullSync. Nothing imports this package."""
