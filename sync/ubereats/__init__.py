"""Uber Eats: the menu payloads (menu_format.py)."""
