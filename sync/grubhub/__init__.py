"""Grubhub: the MAC-signed client (client.py), the normalized menu (menu_format.py), orders (orders.py)."""
