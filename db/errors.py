"""Domain errors, and the one place where driver errors become them.

The API maps each class to an HTTP status; the ``code`` is the stable, machine-readable
name clients switch on.
"""

from __future__ import annotations

from typing import Any

import psycopg


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Unprocessable(DomainError):
    """Well-formed input that the data cannot accept (an unknown menu item, say)."""

    code = "unprocessable"


class Unauthorized(DomainError):
    code = "not_authenticated"


# Constraint name -> the error a client sees. Every constraint an API write can trip is
# named in schema.sql and listed here; anything else is a bug and surfaces as a 500.
_CONSTRAINTS: dict[str, tuple[type[DomainError], str, str]] = {
    "users_email_key": (Conflict, "email_taken", "an account with this email already exists"),
    "memberships_pkey": (Conflict, "already_member", "this user is already a member"),
    "dining_tables_label_key": (Conflict, "table_label_taken", "a table with this label exists"),
    "menu_categories_name_key": (Conflict, "category_name_taken", "a category with this name exists"),
    "menu_items_category_fkey": (Unprocessable, "unknown_category", "category_id is not a category of this restaurant"),
    "orders_table_fkey": (Unprocessable, "unknown_table", "table_id is not a table of this restaurant"),
    "order_items_menu_item_fkey": (Unprocessable, "unknown_menu_item", "a menu item is not on this restaurant's menu"),
    "orders_reservation_key": (Conflict, "pre_order_exists", "this reservation already has a pre-order"),
    # api/routes/integrations.py stores only canonical URLs, which satisfy it; should one slip past,
    # it is the caller's URL that is wrong (and never a 500 whose traceback holds the new secret).
    "restaurant_webhooks_url_valid": (Unprocessable, "invalid_webhook_url", "the webhook URL is not acceptable"),
}


def translate_integrity_error(exc: psycopg.errors.IntegrityError) -> Exception:
    name = exc.diag.constraint_name or ""
    known = _CONSTRAINTS.get(name)
    if known is None:
        return exc
    cls, code, detail = known
    return cls(detail, code=code)
