"""The PetPooja POS: orders out as an outbox target (target.py, with the save_order and
update_order_status bodies in payload.py and the HTTP client in client.py), and the menu
in (menu.py parses PetPooja's menu for db/menu_import.py)."""
