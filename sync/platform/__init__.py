"""What every delivery platform shares: the outbox target that publishes menus and takes
orders (target.py), the adapter a platform implements for it (adapter.py), the checks and
order mapping against our canonical menu (menu.py, orders.py) and the HTTP answers (http.py)."""
