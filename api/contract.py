"""What each operation of the API takes, who may call it, and what it answers: the table the
OpenAPI document (api/openapi.py) is generated from, with the models the handlers validate
with (api/models.py) and the answers' models (api/schemas.py).

Paths and methods are not repeated here as facts: the document takes them from the app's
route table, and tests/test_openapi.py fails when a route has no entry here or an entry no
route. Error codes are listed per operation as they really occur (the layers add theirs:
authentication, the restaurant scope, body and query parsing, rate limits); the fuzzer
(tests/test_fuzz.py) fails on any status or code the document does not list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel

from api import models, schemas
from api.routes.doordash_webhooks import DoorDashEvent
from api.routes.grubhub_webhooks import GrubhubEvent
from api.routes.integrations import WebhookQuery, WebhookRegister
from api.routes.operator import ErrorsQuery, FullRefresh, Resolve, RestaurantErrorsQuery
from api.routes.platform_webhooks import UberEvent
from api.routes.voice import ServerMessage, VoiceCallQuery
from api.routes.webhooks import OrderCallback, StockCallback, StoreStatusCallback

USER_TOKEN, GUEST_SESSION, METRICS_TOKEN, API_KEY = "userToken", "guestSession", "metricsToken", "apiKey"
_UNAUTHENTICATED = ("not_authenticated", "invalid_token")
_OWNER_MANAGER = ("owner", "manager")
_FLOOR = ("owner", "manager", "staff", "kitchen")


@dataclass(frozen=True)
class Access:
    """Who may call: the security schemes that apply (none: public), the member roles, and the
    errors that deciding it can answer."""

    schemes: tuple[str, ...]
    who: str
    errors: Mapping[int, tuple[str, ...]]
    roles: tuple[str, ...] = ()
    optional: bool = False  # the schemes apply only when the server is configured with one


PUBLIC = Access((), "anyone", {})
USER = Access((USER_TOKEN,), "any signed-in user", {401: _UNAUTHENTICATED, 403: ("forbidden",)})
ADMIN = Access((USER_TOKEN,), "platform administrators", {401: _UNAUTHENTICATED, 403: ("forbidden",)})
PARTNER = Access((), "PetPooja: the {secret} path segment names and authenticates the outlet",
                 {401: ("invalid_signature",), 404: ("not_found",)})
UBER = Access((), "Uber Eats: X-Uber-Signature, the hex HMAC-SHA256 of the body keyed with the store's client secret",
              {401: ("invalid_signature",)})
GRUBHUB = Access((), "Grubhub: X-GH-Signature, the hex HMAC-SHA256 of the body keyed with the store's webhook "
                 "secret (ASSUMED format, docs/grubhub.md)", {401: ("invalid_signature",)})
GRUBHUB_MENU = Access((), "Grubhub: the {token} path segment, derived from the merchant's credentials, "
                      "authenticates the download", {404: ("not_found",)})
DOORDASH = Access((), "DoorDash: Authorization: Bearer <the webhook token the restaurant set on its DoorDash "
                           "subscription, given when connecting>", {401: ("invalid_token",)})
VAPI = Access((), "Vapi: X-Vapi-Secret (or Authorization: Bearer) carrying VAPI_SERVER_SECRET, the secret of the "
                   "assistant's server credential", {401: ("invalid_secret",)})
SIGNED_URL = Access((), "anyone holding the URL: expires and sig, an HMAC of the export id and expiry, authenticate it",
                    {404: ("not_found",)})
OPERATOR = Access((API_KEY,), "operators' machines: X-API-Key, one of API_KEYS (none configured: nobody)",
                  {401: ("not_authenticated", "invalid_api_key")})
STRIPE = Access((), "Stripe: Stripe-Signature, verified with STRIPE_WEBHOOK_SECRET", {})
SCRAPER = Access((METRICS_TOKEN,), "Prometheus (METRICS_TOKEN when configured)",
                 {401: ("not_authenticated",), 404: ("not_found",)}, optional=True)


def members(*roles: str, guest: bool = False) -> Access:
    """A restaurant's endpoint: another restaurant's id answers 404, a role that is not enough 403."""
    who = ", ".join(roles) + (", or a guest session of this restaurant" if guest else "")
    schemes = (USER_TOKEN, GUEST_SESSION) if guest else (USER_TOKEN,)
    # A guest session ends when its table is closed or its QR code replaced (api/access.py).
    unauthenticated = (*_UNAUTHENTICATED, "session_ended") if guest else _UNAUTHENTICATED
    return Access(schemes, who, {401: unauthenticated, 403: ("forbidden",), 404: ("not_found",)}, roles)


# Anyone signed in: members act as staff, anybody else as a customer (api/access.py visitor_scope).
CUSTOMERS = Access((USER_TOKEN,), "any signed-in user (members as staff, others as customers)",
                   {401: _UNAUTHENTICATED, 403: ("forbidden",), 404: ("not_found",)})
CUSTOMERS_OR_GUESTS = Access((USER_TOKEN, GUEST_SESSION), "any signed-in user, or a guest session of this restaurant",
                             {401: (*_UNAUTHENTICATED, "session_ended"), 403: ("forbidden",), 404: ("not_found",)})


@dataclass(frozen=True)
class Media:
    """An answer that is not a JSON model: its media type and JSON schema."""

    media_type: str
    schema: dict[str, Any]
    description: str


NO_CONTENT = None  # 204, or PetPooja's empty 200
Answer = type[BaseModel] | Media | None


@dataclass(frozen=True)
class Header:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: how a later operation uses this answer (the stateful fuzz follows them)."""

    operation_id: str
    parameters: Mapping[str, str]
    body: Any = None


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    access: Access
    answers: Mapping[int, Answer]
    body: type[BaseModel] | None = None
    body_required: bool = True
    example: dict[str, Any] | None = None
    query: type[BaseModel] | None = None
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    rate_limited: bool = False
    description: str = ""
    request_headers: tuple[Header, ...] = ()
    answer_headers: Mapping[int, tuple[Header, ...]] = field(default_factory=dict)
    links: Mapping[int, Mapping[str, Link]] = field(default_factory=dict)


class PetpoojaMenu(RootModel[dict[str, Any]]):
    """PetPooja's menu push (its fetch-menu format: restaurants, categories, items, variations,
    addongroups, attributes, taxes, discounts); docs/petpooja-menu.md says what is read."""

    model_config = ConfigDict(title="PetpoojaMenu")


IDEMPOTENCY_KEY = Header("Idempotency-Key", {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
                         "makes retries safe: the same key and body within a day returns the first order")
REPLAYED = Header("Idempotent-Replayed", {"type": "string", "enum": ["true"]},
                  "this answer replays the order an earlier request with the same Idempotency-Key created")
STRIPE_SIGNATURE = Header("Stripe-Signature", {"type": "string"},
                          "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" keyed with the endpoint secret>")
SIGNATURE = Header("X-Signature", {"type": "string"},
                   "hex HMAC-SHA256 of the body: required when PETPOOJA_CALLBACK_HMAC_KEY is set, else not read")

# If-None-Match is described, not declared as a parameter: schemathesis then takes a link's
# Authorization header for a generated one (its ignored-auth check) on the guest's menu link.
ETAG = Header("ETag", {"type": "string"}, "the answer's entity tag: send it back in If-None-Match (a list of "
              "tags, W/ or not, or *); a match answers 304 without a body")
_TAGGED: Mapping[int, tuple[Header, ...]] = {200: (ETAG,), 304: (ETAG,)}
_MENU_READ = "Answered from the menu of the restaurant's current menu version (one cached document per version " \
             "and process; docs/menu.md); ETag from that version, 304 on a matching If-None-Match."

_PRICING = ("unknown_variation", "variation_required", "variation_unavailable", "unknown_addon",
            "addon_unavailable", "too_few_addons", "too_many_addons")
_RID = "$request.path.rid"

_UUID_EXAMPLE = "0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1"
_CALLBACK = "PetPooja callbacks"
_DOCS = Media("text/html", {"type": "string"}, "Swagger UI for this document (assets served by this API)")

# A guest session's own endpoints (no restaurant in the path: the token names it).
_SESSION_ONLY = Access((GUEST_SESSION,), "a guest session", {401: (*_UNAUTHENTICATED, "session_ended"),
                                                            403: ("forbidden",), 404: ("not_found",)})


def _notification_operations(base: str, who: Access, whose: str, where: str) -> dict[str, Operation]:
    """The same four notification endpoints for an account (/api/me) and a guest session."""
    path = f"{base}/notifications"
    return {
        f"GET {path}": Operation(
            f"{whose} notifications {where}, newest first, with the unread count", "notifications", who,
            {200: schemas.NotificationPage}, query=models.PageQuery, errors={422: ("invalid_cursor",)},
            description="Created by the database when one of the recipient's orders or reservations moves "
                        "(docs/notifications.md)."),
        f"POST {path}/{{nid}}/read": Operation(
            "Mark a notification read (again: keeps the first time)", "notifications", who,
            {200: schemas.Notification}, errors={404: ("not_found",)},
            description="Another recipient's notification is 404 and nothing changes."),
        f"POST {path}/read-all": Operation(
            "Mark every unread notification read", "notifications", who, {200: schemas.NotificationsRead}),
        f"DELETE {path}/{{nid}}": Operation(
            "Delete a notification", "notifications", who, {204: NO_CONTENT}, errors={404: ("not_found",)},
            description="Another recipient's notification is 404 and nothing is deleted."),
    }


OPERATIONS: dict[str, Operation] = {
    # -------------------------------------------------------------------------- service
    "GET /health": Operation("The process runs", "service", PUBLIC, {200: schemas.Health}),
    "GET /ready": Operation(
        "The database answers and holds the schema this code expects", "service", PUBLIC,
        {200: schemas.Readiness, 503: schemas.Readiness}),
    "GET /metrics": Operation(
        "Prometheus metrics", "service", SCRAPER,
        {200: Media("text/plain", {"type": "string"}, "Prometheus text exposition format")},
        description="Needs METRICS_TOKEN as a bearer token when it is configured; without one it is open in "
                    "development and not served (404) in production and staging."),
    "GET /openapi.json": Operation(
        "This document", "service", PUBLIC, {200: Media("application/json", {"type": "object"}, "OpenAPI 3.1")}),
    "GET /docs": Operation("This document, rendered", "service", PUBLIC, {200: _DOCS}),
    # ----------------------------------------------------------------------------- auth
    "POST /api/auth/register": Operation(
        "Create an account", "auth", PUBLIC, {201: schemas.Account}, body=models.Register,
        example={"email": "asha@example.com", "password": "correct horse battery", "full_name": "Asha Rao"},
        errors={409: ("email_taken",)}, rate_limited=True),
    "POST /api/auth/login": Operation(
        "Sign in: an access token and a refresh token", "auth", PUBLIC, {200: schemas.TokenPair},
        body=models.Login, example={"email": "asha@example.com", "password": "correct horse battery"},
        errors={401: ("invalid_credentials",)}, rate_limited=True),
    "POST /api/auth/refresh": Operation(
        "Trade a refresh token for a new pair (each refresh token works once)", "auth", PUBLIC,
        {200: schemas.TokenPair}, body=models.Refresh,
        example={"refresh_token": "0p6dYqOeG5c8aV1s2lRk3m9TzUe4wXb7nJh5fQy2GiA"},
        errors={401: ("refresh_token_reused", "invalid_refresh_token")},
        description="Presenting a refresh token a second time revokes every token of its session."),
    "GET /api/auth/me": Operation("The caller and their memberships", "auth", USER, {200: schemas.Me}),
    "PATCH /api/auth/me": Operation(
        "Change the caller's name, phone (null clears it) or email (with current_password)", "auth", USER,
        {200: schemas.Profile}, body=models.ProfilePatch, body_required=False,
        example={"full_name": "Asha R.", "phone": "+91 98450 12345"},
        errors={403: ("wrong_password",), 409: ("email_taken",), 422: ("current_password_required",)},
        rate_limited=True,
        description="Changing the email needs current_password (422 without it, 403 wrong_password when wrong; "
                    "wrong passwords count like failed logins)."),
    "POST /api/auth/password": Operation(
        "Change the caller's password: every other session is signed out", "auth", USER, {200: schemas.TokenPair},
        body=models.PasswordChange,
        example={"current_password": "correct horse battery", "new_password": "battery staple horse"},
        errors={403: ("wrong_password",)}, rate_limited=True,
        description="Revokes every refresh token of the account and answers a new pair for the caller."),
    "POST /api/auth/password-reset": Operation(
        "Email a single-use password reset code", "auth", PUBLIC, {202: schemas.ResetAccepted},
        body=models.PasswordReset, example={"email": "asha@example.com"}, rate_limited=True,
        description="The same 202 whether or not the email has an account; the code goes out by email and works "
                    "once, for PASSWORD_RESET_TTL_S (30 minutes). Limited per email and per client address."),
    "POST /api/auth/password-reset/confirm": Operation(
        "Set a new password with an emailed reset code", "auth", PUBLIC, {204: NO_CONTENT},
        body=models.PasswordResetConfirm,
        example={"token": "0p6dYqOeG5c8aV1s2lRk3m9TzUe4wXb7nJh5fQy2GiA", "new_password": "battery staple horse"},
        errors={400: ("invalid_reset_token",)}, rate_limited=True,
        description="Spends the code (and every other open code of the account) and signs every session of the "
                    "account out (all its refresh tokens are revoked)."),
    "GET /api/me/orders": Operation(
        "The orders the caller's account placed, in every restaurant, newest first", "orders", USER,
        {200: schemas.OrderPage}, query=models.PageQuery, errors={422: ("invalid_cursor",)}),
    "GET /api/qr/session/orders": Operation(
        "The orders the caller's guest session placed, newest first", "orders", _SESSION_ONLY,
        {200: schemas.SessionOrders}),
    "GET /.well-known/jwks.json": Operation(
        "The public keys that sign access, guest and dashboard tokens", "auth", PUBLIC, {200: schemas.Jwks}),
    # ---------------------------------------------------------------------- restaurants
    "POST /api/restaurants": Operation(
        "Create a restaurant; the caller becomes its owner", "restaurants", USER, {201: schemas.Restaurant},
        body=models.NewRestaurant,
        example={"name": "Demo Bistro", "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500},
        links={201: {
            "CreateTable": Link("create_table", {"rid": "$response.body#/id"}),
            "CreateCategory": Link("create_category", {"rid": "$response.body#/id"}),
            "GetRestaurant": Link("get_restaurant", {"rid": "$response.body#/id"}),
        }}),
    "GET /api/restaurants/{rid}": Operation(
        "A restaurant", "restaurants", members(*_FLOOR), {200: schemas.Restaurant}),
    "PATCH /api/restaurants/{rid}": Operation(
        "Change a restaurant (null clears address and phone)", "restaurants", members(*_OWNER_MANAGER),
        {200: schemas.Restaurant}, body=models.RestaurantPatch, example={"tax_rate_bps": 1800}),
    "PUT /api/restaurants/{rid}/opening-hours": Operation(
        "Replace the week's opening hours", "restaurants", members(*_OWNER_MANAGER), {200: schemas.Restaurant},
        body=models.OpeningHours, errors={422: ("overlapping_hours",)},
        example={"hours": [{"weekday": 4, "opens": "12:00", "closes": "15:00"},
                           {"weekday": 4, "opens": "18:00", "closes": "01:00"}]},
        description="Ranges per weekday (0 = Monday) in the restaurant's time zone; several a day; a range whose "
                    "closes is at or before its opens ends the next day. No ranges: always open. Guests' orders "
                    "outside the hours are 409 closed with opens_at."),
    "PUT /api/restaurants/{rid}/delivery-zone": Operation(
        "Set where the restaurant delivers, and for what fee", "restaurants", members(*_OWNER_MANAGER),
        {200: schemas.DeliveryZone}, body=models.DeliveryZoneIn,
        example={"enabled": True, "location": {"lat": 18.5196, "lng": 73.8793}, "radius_m": 5000,
                 "fee_bands": [{"up_to_m": 2000, "fee": 2000}, {"up_to_m": 5000, "fee": 4000}]},
        errors={422: ("zone_shape", "invalid_polygon", "fee_bands_not_ascending", "fee_bands_short",
                      "restaurant_address_missing", "address_not_found"),
                503: ("geocoder_unavailable",)},
        description="The zone is exactly one of radius_m (meters around location) or polygon (a closed ring of "
                    "[lng, lat] points, 4 to 100, not crossing itself). location absent or null: the restaurant's "
                    "address (and city) is geocoded. fee_bands ascending by up_to_m, the last reaching the zone's "
                    "farthest point; a delivery order pays the first band reaching its distance (none: free). "
                    "Distances are great-circle meters from location (docs/delivery-zones.md)."),
    "GET /api/restaurants/{rid}/delivery-zone": Operation(
        "Where the restaurant delivers, and for what fee", "restaurants", members(*_FLOOR),
        {200: schemas.DeliveryZone}, description="404 not_found until one is set."),
    "POST /api/restaurants/{rid}/pause": Operation(
        "Stop taking orders (the store switch), until resumed or reopens_at", "restaurants",
        members(*_OWNER_MANAGER), {200: schemas.Restaurant}, body=models.Pause,
        example={"reason": "kitchen closed for a private event", "reopens_at": "2026-01-16T06:30:00Z"}),
    "POST /api/restaurants/{rid}/resume": Operation(
        "Take orders again", "restaurants", members(*_OWNER_MANAGER), {200: schemas.Restaurant}),
    "POST /api/restaurants/{rid}/share-link": Operation(
        "The restaurant's takeaway link (rotate: a new token; the old link stops working)", "restaurants",
        members(*_OWNER_MANAGER), {200: schemas.ShareLink}, body=models.ShareLinkRequest, body_required=False,
        example={"rotate": False},
        links={200: {"OpenShare": Link("open_share_link", {"token": "$response.body#/token"}),
                     "OpenTakeawaySession": Link("open_share_session", {"token": "$response.body#/token"})}}),
    "GET /api/restaurants/{rid}/tables/qr-sheet.svg": Operation(
        "A printable sheet of every active table's QR code and label", "restaurants", members(*_FLOOR),
        {200: Media("image/svg+xml", {"type": "string"}, "one SVG page")}),
    "GET /api/restaurants/{rid}/tables/{tid}/qr.svg": Operation(
        "The table's QR code as SVG: {ORDERING_BASE_URL}/t/{qr_token}", "restaurants", members(*_FLOOR),
        {200: Media("image/svg+xml", {"type": "string"}, "the QR code")}),
    "GET /api/restaurants/{rid}/tables/{tid}/qr.png": Operation(
        "The table's QR code as PNG: {ORDERING_BASE_URL}/t/{qr_token}", "restaurants", members(*_FLOOR),
        {200: Media("image/png", {"type": "string", "contentMediaType": "image/png"}, "the QR code")}),
    # --------------------------------------------------------------------------- venues
    "GET /api/venues": Operation(
        "Restaurants, by name, a page at a time", "venues", PUBLIC, {200: schemas.VenuePage},
        query=models.VenueQuery, errors={422: ("validation_error", "invalid_cursor")},
        description="q: a name substring; city: exact, any case; open_now: taking orders now (store switch on and "
                    "inside opening hours in the restaurant's time zone); dine_in: dine-in enabled."),
    "GET /api/venues/{rid}": Operation(
        "A restaurant's public profile", "venues", PUBLIC, {200: schemas.Venue, 304: NO_CONTENT},
        errors={404: ("not_found",)}, description="ETag of the answer's bytes (open_now moves with the clock); 304 "
                                                  "on a matching If-None-Match.",
        answer_headers=_TAGGED),
    "GET /api/share/{token}": Operation(
        "A share link's restaurant and its menu, for a takeaway order", "venues", PUBLIC,
        {200: schemas.SharedMenu, 304: NO_CONTENT}, errors={404: ("not_found",)}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "POST /api/share/{token}/session": Operation(
        "Open a takeaway guest session (no table) from a restaurant's share link", "venues", PUBLIC,
        {201: schemas.TakeawaySession}, errors={404: ("not_found",)}, rate_limited=True,
        description="The session token reads the menu, places takeaway orders (pickup_at optional) through "
                    "POST /api/restaurants/{rid}/orders and reads its own orders. Limited per client address; an "
                    "unknown or rotated link is 404.",
        links={201: {
            "TakeawayOrder": Link("create_order", {"rid": "$response.body#/restaurant/id",
                                                   "header.Authorization": "Bearer {$response.body#/session_token}"},
                                  body={"items": [{"menu_item_id": _UUID_EXAMPLE, "quantity": 1}]}),
        }}),
    "POST /api/me/saved-venues": Operation(
        "Save a venue (again: sets favourite)", "venues", USER, {201: schemas.SavedVenue}, body=models.SaveVenue,
        example={"restaurant_id": _UUID_EXAMPLE, "favourite": True}, errors={404: ("not_found",)}),
    "GET /api/me/saved-venues": Operation(
        "The caller's saved venues, favourites first", "venues", USER, {200: schemas.SavedVenues}),
    "PATCH /api/me/saved-venues/{rid}": Operation(
        "Mark a saved venue as a favourite or not", "venues", USER, {200: schemas.SavedVenue},
        body=models.Favourite, example={"favourite": True}, errors={404: ("not_found",)}),
    "DELETE /api/me/saved-venues/{rid}": Operation(
        "Forget a saved venue", "venues", USER, {204: NO_CONTENT}, errors={404: ("not_found",)}),
    "POST /api/restaurants/{rid}/members": Operation(
        "Invite an email to a role", "members", members(*_OWNER_MANAGER), {202: schemas.Invitation},
        body=models.NewMember, example={"email": "ravi@example.com", "role": "staff"}, rate_limited=True,
        description="The same answer whether or not the email has an account; nobody becomes a member until they "
                    "accept (POST /api/invitations/{iid}/accept). Managers invite managers, staff and kitchen; only "
                    "owners invite owners."),
    "GET /api/restaurants/{rid}/invitations": Operation(
        "Pending invitations", "members", members(*_OWNER_MANAGER), {200: schemas.Invitations}),
    "DELETE /api/restaurants/{rid}/invitations/{iid}": Operation(
        "Revoke a pending invitation", "members", members(*_OWNER_MANAGER), {204: NO_CONTENT},
        errors={409: ("invitation_not_pending",)}),
    "POST /api/invitations/{iid}/accept": Operation(
        "Accept an invitation to the caller's email: become a member", "members", USER,
        {200: schemas.AcceptedInvitation}, errors={404: ("not_found",), 409: ("invitation_not_pending",)}),
    "POST /api/invitations/{iid}/decline": Operation(
        "Decline an invitation to the caller's email", "members", USER, {200: schemas.Invitation},
        errors={404: ("not_found",), 409: ("invitation_not_pending",)}),
    "POST /api/restaurants/{rid}/tables": Operation(
        "Add a table (and its QR token)", "restaurants", members(*_OWNER_MANAGER), {201: schemas.Table},
        body=models.NewTable, example={"label": "T7", "seats": 4}, errors={409: ("table_label_taken",)},
        links={201: {
            "OpenSession": Link("open_qr_session", {"qr_token": "$response.body#/qr_token"}),
            "PatchTable": Link("patch_table", {"rid": _RID, "tid": "$response.body#/id"}),
        }}),
    "GET /api/restaurants/{rid}/tables": Operation(
        "The restaurant's tables", "restaurants", members(*_FLOOR), {200: schemas.Tables}),
    "PATCH /api/restaurants/{rid}/tables/{tid}": Operation(
        "Change a table: relabel, close (is_active false), or rotate its QR token", "restaurants",
        members(*_OWNER_MANAGER), {200: schemas.Table}, body=models.TablePatch,
        example={"is_active": False}, errors={409: ("table_label_taken",)}),
    "POST /api/qr/{qr_token}/session": Operation(
        "Open a guest session at the table whose QR code was scanned", "restaurants", PUBLIC,
        {201: schemas.GuestSession}, errors={404: ("not_found",)}, rate_limited=True,
        description="The session token reads the menu, places orders at this table and reads its own orders.",
        links={201: {
            "GuestMenu": Link("get_menu", {"rid": "$response.body#/restaurant/id",
                                           "header.Authorization": "Bearer {$response.body#/session_token}"}),
            "GuestOrder": Link("create_order", {"rid": "$response.body#/restaurant/id",
                                                "header.Authorization": "Bearer {$response.body#/session_token}"},
                               body={"items": [{"menu_item_id": _UUID_EXAMPLE, "quantity": 1}]}),
        }}),
    # ----------------------------------------------------------------------------- menu
    "GET /api/restaurants/{rid}/menu": Operation(
        "The menu: categories, items, their variations, addons and taxes", "menu",
        members(*_FLOOR, guest=True), {200: schemas.Menu, 304: NO_CONTENT}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "GET /api/restaurants/{rid}/menu/categories": Operation(
        "The menu's categories (without their items)", "menu", members(*_FLOOR, guest=True),
        {200: schemas.CategoryList, 304: NO_CONTENT}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "GET /api/restaurants/{rid}/menu/categories/{cid}": Operation(
        "One category of the menu with its items", "menu", members(*_FLOOR, guest=True),
        {200: schemas.MenuCategory, 304: NO_CONTENT}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "GET /api/restaurants/{rid}/menu/items": Operation(
        "Every item of the menu", "menu", members(*_FLOOR, guest=True),
        {200: schemas.MenuItemList, 304: NO_CONTENT}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "GET /api/restaurants/{rid}/menu/items/{iid}": Operation(
        "One item of the menu, with its options and taxes", "menu", members(*_FLOOR, guest=True),
        {200: schemas.MenuEntry, 304: NO_CONTENT}, description=_MENU_READ,
        answer_headers=_TAGGED),
    "POST /api/restaurants/{rid}/menu/categories": Operation(
        "Add a category", "menu", members(*_OWNER_MANAGER), {201: schemas.Category}, body=models.NewCategory,
        example={"name": "Mains", "rank": 1, "description": "From the tandoor"}, errors={409: ("category_name_taken",)},
        links={201: {
            "CreateItem": Link("create_item", {"rid": _RID},
                               body={"category_id": "$response.body#/id", "name": "Paneer Tikka", "price": 25000}),
            "PatchCategory": Link("patch_category", {"rid": _RID, "cid": "$response.body#/id"}),
        }}),
    "PATCH /api/restaurants/{rid}/menu/categories/{cid}": Operation(
        "Change a category", "menu", members(*_OWNER_MANAGER), {200: schemas.Category},
        body=models.CategoryPatch, example={"name": "Starters"}, errors={409: ("category_name_taken",)}),
    "DELETE /api/restaurants/{rid}/menu/categories/{cid}": Operation(
        "Remove an empty category", "menu", members(*_OWNER_MANAGER), {204: NO_CONTENT},
        errors={409: ("category_not_empty",)}),
    "POST /api/restaurants/{rid}/menu/items": Operation(
        "Add a menu item", "menu", members(*_OWNER_MANAGER), {201: schemas.MenuItem}, body=models.NewMenuItem,
        example={"category_id": _UUID_EXAMPLE, "name": "Paneer Tikka", "price": 25000,
                 "description": "Charred, smoky, with mint chutney",
                 "image_url": "https://cdn.example.com/paneer-tikka.jpg", "ingredients": ["paneer", "yoghurt"],
                 "allergens": ["milk"], "prep_minutes": 15},
        errors={422: ("unknown_category",)},
        links={201: {
            "Order": Link("create_order", {"rid": _RID},
                          body={"items": [{"menu_item_id": "$response.body#/id", "quantity": 1}],
                                "order_type": "takeaway"}),
            "EightySix": Link("set_availability", {"rid": _RID, "iid": "$response.body#/id"}),
        }}),
    "PATCH /api/restaurants/{rid}/menu/items/{iid}": Operation(
        "Change a menu item", "menu", members(*_OWNER_MANAGER), {200: schemas.MenuItem},
        body=models.MenuItemPatch, example={"price": 26000}, errors={422: ("unknown_category",)}),
    "DELETE /api/restaurants/{rid}/menu/items/{iid}": Operation(
        "Take an item off the menu (past orders keep it)", "menu", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "PUT /api/restaurants/{rid}/menu/items/{iid}/availability": Operation(
        "Mark an item available or not (86 it)", "menu", members(*_FLOOR), {200: schemas.MenuItem},
        body=models.Availability, example={"is_available": False}),
    # --------------------------------------------------------------------------- orders
    # ------------------------------------------------------------ slots and reservations
    "GET /api/restaurants/{rid}/slot-rules": Operation(
        "The restaurant's slot rules", "reservations", members(*_FLOOR), {200: schemas.SlotRuleSet}),
    "PUT /api/restaurants/{rid}/slot-rules": Operation(
        "Replace the restaurant's slot rules", "reservations", members(*_OWNER_MANAGER), {200: schemas.SlotRuleSet},
        body=models.SlotRules, errors={422: ("overlapping_rules", "invalid_slot_rule")},
        example={"rules": [{"weekday": 4, "start_time": "18:00", "end_time": "22:00", "interval_minutes": 30,
                            "max_reservations": 8, "max_covers": 24}]},
        description="Slots start at start_time and every interval_minutes of local time while before end_time; "
                    "rules of one weekday may not overlap (docs/reservations.md)."),
    "GET /api/restaurants/{rid}/time-slots": Operation(
        "A local date's slots with their free capacity", "reservations", CUSTOMERS_OR_GUESTS,
        {200: schemas.TimeSlots}, query=models.SlotQuery,
        description="In the restaurant's time zone: a local time a spring-forward skips is no slot; a local "
                    "time a fall-back repeats is one slot, at its first occurrence."),
    "POST /api/restaurants/{rid}/reservations": Operation(
        "Book a slot (a customer for themselves, or staff for a guest by name)", "reservations", CUSTOMERS,
        {201: schemas.Reservation}, body=models.NewReservation,
        example={"slot_start": "2030-03-08T07:00:00Z", "party_size": 2, "name": "Ann"},
        errors={409: ("slot_full",), 422: ("unknown_slot", "slot_in_past", "guest_name_required")}),
    "GET /api/restaurants/{rid}/reservations": Operation(
        "The day's book (a local date)", "reservations", members(*_FLOOR), {200: schemas.ReservationDay},
        query=models.DayQuery),
    "POST /api/restaurants/{rid}/reservations/{resid}/status": Operation(
        "Move a reservation (staff; the customer who booked may cancel)", "reservations", CUSTOMERS,
        {200: schemas.Reservation}, body=models.ReservationMove, example={"status": "confirmed"},
        errors={409: ("invalid_transition", "too_early"), 422: ("table_only_when_seated", "unknown_table")},
        description="pending -> confirmed -> seated -> completed (staff); cancelled from pending or confirmed "
                    "(staff, or the customer who booked); no_show from pending or confirmed once the slot "
                    "started (staff). A customer's move on another's reservation is 404. Seated fires the "
                    "reservation's pre-order to the kitchen now, at table_id if given (seated only); cancelled "
                    "or no_show cancels it."),
    "POST /api/restaurants/{rid}/reservations/{resid}/pre-order": Operation(
        "Order ahead for a reservation (its customer, or staff)", "reservations", CUSTOMERS,
        {201: schemas.Order}, body=models.PreOrder,
        example={"items": [{"menu_item_id": _UUID_EXAMPLE, "quantity": 2, "notes": "no onions"}],
                 "fire_minutes_before": 15},
        errors={409: ("reservation_not_open", "pre_order_exists"),
                422: ("unknown_menu_item", "menu_item_unavailable", "order_type_not_offered", "order_too_large",
                      *_PRICING)},
        rate_limited=True,
        description="A dine-in order priced from the menu, held from the kitchen (Convex) and the POS until it "
                    "fires: when the party is seated, or fire_minutes_before the slot if given. One live "
                    "pre-order per reservation; the reservation must be pending or confirmed. Another "
                    "customer's reservation is 404."),
    "GET /api/restaurants/{rid}/reservations/{resid}/pre-order": Operation(
        "A reservation's pre-order (its customer, or staff)", "reservations", CUSTOMERS, {200: schemas.Order}),
    "GET /api/me/reservations": Operation(
        "The caller's own reservations in every restaurant", "reservations", USER, {200: schemas.MyReservations}),
    # ---------------------------------------------------------------------------- exports
    "POST /api/restaurants/{rid}/exports": Operation(
        "Export the orders of a date range as xlsx or csv (built by the worker)", "exports",
        members(*_OWNER_MANAGER), {202: schemas.Export}, body=models.NewExport,
        example={"from": "2026-01-01", "to": "2026-01-31", "format": "xlsx"},
        errors={422: ("invalid_range", "range_too_long"), 429: ("too_many_exports",)}, rate_limited=True,
        description="Dates are local to the restaurant's time zone, both included, at most EXPORT_MAX_DAYS (366) "
                    "apart. Answers at once with the queued export; ask GET .../exports/{xid} for its status and, "
                    "once ready, a signed download URL. xlsx: sheets Orders and Lines; csv: a zip of orders.csv "
                    "and lines.csv (docs/exports.md). At most EXPORT_MAX_PENDING exports queued or building per "
                    "restaurant (429 too_many_exports), and RATE_LIMIT_EXPORT per restaurant.",
        links={202: {"GetExport": Link("get_export", {"rid": _RID, "xid": "$response.body#/id"})}}),
    "GET /api/restaurants/{rid}/exports": Operation(
        "The restaurant's recent exports, newest first", "exports", members(*_OWNER_MANAGER),
        {200: schemas.ExportList}),
    "GET /api/restaurants/{rid}/exports/{xid}": Operation(
        "An export's status, counts and (once ready) a short-lived signed download URL", "exports",
        members(*_OWNER_MANAGER), {200: schemas.Export},
        description="download_url works for EXPORT_URL_TTL_S (10 minutes) or until the file expires "
                    "(EXPORT_TTL_S after it was built, 24 hours), whichever is first; ask again for a new one."),
    "GET /api/exports/{xid}/download": Operation(
        "Download an export's file (the signed URL from its status)", "exports", SIGNED_URL,
        {200: Media("application/octet-stream", {"type": "string", "format": "binary"},
                    "the workbook (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet) or the zip "
                    "of CSV files (application/zip), with a Content-Disposition filename")},
        query=models.ExportDownload,
        description="A wrong or expired signature, an unknown export and an expired file are the same 404."),
    # -------------------------------------------------------------------- notifications
    **_notification_operations("/api/me", USER, "The caller's account's", "in every restaurant"),
    **_notification_operations("/api/qr/session", _SESSION_ONLY, "The caller's guest session's", "at its table"),
    "POST /api/qr/session/convex-token": Operation(
        "A short Convex token for the table-side tracker: this session's orders and notifications only",
        "notifications", _SESSION_ONLY, {200: schemas.RecipientConvexToken},
        description="Claims: role guest, restaurant_id, session_id. Convex's orders:forGuestSession and "
                    "notifications:mine accept it and read that session's documents only; every staff query "
                    "refuses it. An ended session gets 401 session_ended."),
    "POST /api/me/convex-token": Operation(
        "A short Convex token for a customer's own notifications (notifications:mine)", "notifications", USER,
        {200: schemas.RecipientConvexToken}),
    "POST /api/restaurants/{rid}/orders": Operation(
        "Place an order (a guest at its table, or staff)", "orders", members(*_FLOOR, guest=True),
        {201: schemas.Order, 200: schemas.Order}, body=models.NewOrder,
        example={"items": [{"menu_item_id": _UUID_EXAMPLE, "quantity": 2, "notes": "less spicy"}]},
        errors={400: ("invalid_idempotency_key",),
                409: ("idempotency_key_reused", "store_closed", "closed", "pickup_closed", "delivery_off"),
                422: ("table_mismatch", "order_type_not_allowed", "table_required", "unknown_menu_item",
                      "menu_item_unavailable", "order_type_not_offered", "order_too_large", "unknown_table",
                      "pickup_not_takeaway", "pickup_in_past", "pickup_too_far", "delivery_address_required",
                      "delivery_address_not_delivery", "address_not_found", "outside_delivery_zone", *_PRICING),
                503: ("geocoder_unavailable",)},
        rate_limited=True, request_headers=(IDEMPOTENCY_KEY,), answer_headers={200: (REPLAYED,)},
        description="Priced from the menu in the database. 200 replays the order of an earlier request with the "
                    "same Idempotency-Key and body, and creates nothing. pickup_at (takeaway only) is rounded up "
                    "to whole 5 minutes, must not be past nor more than 7 days ahead (422) and must fall in "
                    "opening hours (409 pickup_closed with opens_at). A takeaway session (share link) orders "
                    "takeaway only. A delivery order (staff only) needs delivery_address: it is geocoded and must "
                    "fall in the restaurant's delivery zone (422 outside_delivery_zone with distance_m, 422 "
                    "address_not_found, 409 delivery_off); delivery_fee comes from the zone's fee bands and is in "
                    "total. The geocoder not answering is 503 geocoder_unavailable with Retry-After.",
        links={201: {
            "Confirm": Link("move_order", {"rid": _RID, "oid": "$response.body#/id"}, body={"status": "confirmed"}),
            "Cancel": Link("cancel_order", {"rid": _RID, "oid": "$response.body#/id"}),
            "Get": Link("get_order", {"rid": _RID, "oid": "$response.body#/id"}),
        }}),
    "GET /api/restaurants/{rid}/orders": Operation(
        "Orders, newest first, a page at a time", "orders", members(*_FLOOR), {200: schemas.OrderPage},
        query=models.OrderQuery, errors={422: ("invalid_cursor",)}),
    "GET /api/restaurants/{rid}/orders/{oid}": Operation(
        "An order (a guest session sees its own only)", "orders", members(*_FLOOR, guest=True),
        {200: schemas.Order}),
    "GET /api/restaurants/{rid}/orders/{oid}/events": Operation(
        "The order's status history (a guest session reads its own orders' only)", "orders",
        members(*_FLOOR, guest=True), {200: schemas.OrderTimeline},
        description="Every move: from, to, who (staff names for staff only), why, and what PetPooja's callback "
                    "said beside it (rider name and phone, cancel reason, preparation time)."),
    "POST /api/restaurants/{rid}/orders/{oid}/status": Operation(
        "Move an order through its lifecycle", "orders", members(*_FLOOR), {200: schemas.Order},
        body=models.StatusMove, example={"status": "confirmed"}, errors={409: ("invalid_transition",)},
        description="pending -> confirmed -> preparing -> ready, then served -> completed (dine in), "
                    "dispatched -> delivered (delivery) or completed (takeaway); cancelled from pending or "
                    "confirmed, rejected from pending. Anything else is 409 invalid_transition.",
        links={200: {"Prepare": Link("move_order", {"rid": _RID, "oid": "$request.path.oid"},
                                     body={"status": "preparing"})}}),
    "POST /api/restaurants/{rid}/orders/{oid}/cancel": Operation(
        "Cancel an order (its guest session while pending, or staff)", "orders", members(*_FLOOR, guest=True),
        {200: schemas.Order}, body=models.Cancel, body_required=False, example={"reason": "ordered twice"},
        errors={409: ("invalid_transition",)}),
    "POST /api/restaurants/{rid}/orders/{oid}/payment": Operation(
        "Start (or resume) the online payment of an order: its Stripe PaymentIntent", "payments",
        members(*_FLOOR, guest=True), {201: schemas.PaymentStarted, 200: schemas.PaymentStarted},
        body_required=False,
        errors={409: ("not_online", "already_paid", "order_closed", "nothing_to_pay"), 422: ("payment_refused",),
                503: ("payments_unavailable",)},
        rate_limited=True,
        description="For an order placed with payment_method online, by its guest session or staff. 201 with the "
                    "new PaymentIntent's client_secret for Stripe.js; 200 with the same intent when asked again "
                    "(never a second intent: the order is locked while Stripe is asked, and Stripe's idempotency "
                    "key is the order). The amount is the order's total from the database. payment_status moves "
                    "unpaid -> pending (an order event). 503 payments_unavailable (Retry-After) when Stripe cannot "
                    "be reached (docs/payments.md)."),
    "POST /api/restaurants/{rid}/orders/{oid}/paid": Operation(
        "Mark an order paid in cash or at the counter", "payments", members(*_FLOOR), {200: schemas.Order},
        body=models.MarkPaid, body_required=False, example={"method": "cash"},
        errors={409: ("already_paid", "order_closed", "payment_in_progress")},
        description="Sets payment_method (cash by default) and payment_status paid, as an order event; releases an "
                    "order held for its payment. 409 payment_in_progress while an online payment is pending."),
    "POST /api/webhooks/stripe": Operation(
        "Stripe: a PaymentIntent succeeded or failed, or a refund moved", _CALLBACK, STRIPE, {200: schemas.StripeAck},
        body_required=True, errors={400: ("invalid_signature", "invalid_event"), 503: ("payments_unavailable",)},
        request_headers=(STRIPE_SIGNATURE,),
        description="Verified with stripe.Webhook.construct_event on the raw body (tolerance 5 minutes); each event "
                    "id is applied once (a replay answers replayed: true). payment_intent.succeeded -> paid, "
                    "payment_intent.payment_failed -> failed, charge.refunded / refund.* (succeeded, whole "
                    "payment) -> refunded; a payment never moves backwards (docs/payments.md)."),
    # ------------------------------------------------------------------ sync and admin
    "GET /api/restaurants/{rid}/sync/status": Operation(
        "Outbox health by target", "sync", members(*_OWNER_MANAGER), {200: schemas.SyncStatus}),
    "POST /api/restaurants/{rid}/convex-token": Operation(
        "A token for the dashboard's Convex client", "sync", members(*_FLOOR), {200: schemas.ConvexToken}),
    "GET /api/admin/sync/errors": Operation(
        "Failed and dead outbox rows, newest first, with their history", "admin", ADMIN, {200: schemas.SyncErrors},
        query=ErrorsQuery, description="The same list as GET /admin/errors, for a platform administrator's token."),
    "POST /api/admin/sync/errors/{id}/retry": Operation(
        "Make a failed or dead row due now, with a fresh attempt budget", "admin", ADMIN,
        {202: schemas.SyncRetry}, errors={404: ("not_found",)},
        description="Recorded in the row's history with the administrator as actor."),
    "POST /api/admin/sync/errors/{id}/resolve": Operation(
        "Resolve a failed or dead row by hand: never retried, out of the open list", "admin", ADMIN,
        {200: schemas.SyncResolved}, body=Resolve, example={"reason": "the item was re-created by hand on Uber"},
        errors={404: ("not_found",)}),
    # ------------------------------------------------------------ operators' machines
    "GET /admin/sync-status/{rid}": Operation(
        "Every target of a restaurant in one place: queues, connections, stores' menu states", "operator",
        OPERATOR, {200: schemas.IntegrationStates}, errors={404: ("not_found",)},
        description="A delivery platform's menu target carries its store's state (SYNCED, FAILED, PENDING), last "
                    "sync, item count, the platform's menu id, the raw error and the retry count."),
    "POST /admin/sync/{rid}/full-refresh": Operation(
        "Publish the whole menu again to some delivery platforms", "operator", OPERATOR,
        {202: schemas.FullRefreshResult}, body=FullRefresh, example={"platforms": ["ubereats"], "force": False},
        errors={404: ("not_found",), 422: ("refresh_not_supported",)},
        description="Per platform: queued, not_connected, or already_queued (a whole-menu publish waits; force "
                    "queues anyway). Convex is rebuilt by python -m scripts.fullSync; order targets have no menu: "
                    "naming them is 422 refresh_not_supported."),
    "GET /admin/errors": Operation(
        "Failed and dead outbox rows, newest first, with their history", "operator", OPERATOR,
        {200: schemas.SyncErrors}, query=ErrorsQuery,
        description="A platform's menu row carries the store's last failed menu and the platform's answer to it."),
    "POST /admin/errors/{id}/retry": Operation(
        "Make a failed or dead row due now, with a fresh attempt budget", "operator", OPERATOR,
        {202: schemas.SyncRetry}, errors={404: ("not_found",)},
        description="Recorded in the row's history with the key's id as actor."),
    "POST /admin/errors/{id}/resolve": Operation(
        "Resolve a failed or dead row by hand: never retried, out of the open list", "operator", OPERATOR,
        {200: schemas.SyncResolved}, body=Resolve, example={"reason": "the order was keyed into the POS by hand"},
        errors={404: ("not_found",)}),
    # ------------------------------------------------------------------ owners' views
    "GET /api/restaurants/{rid}/integrations": Operation(
        "Every integration of the restaurant and its state", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.IntegrationStates},
        description="As operators see it, with a short summary in place of raw errors."),
    "GET /api/restaurants/{rid}/sync/errors": Operation(
        "The restaurant's failed and dead deliveries, summarised", "sync", members(*_OWNER_MANAGER),
        {200: schemas.RestaurantSyncErrors}, query=RestaurantErrorsQuery),
    # ------------------------------------------------------------------- integrations
    "PUT /api/restaurants/{rid}/integrations/petpooja": Operation(
        "Connect the restaurant's PetPooja outlet", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PetpoojaConnection}, body=models.PetpoojaConnect,
        example={"rest_id": "xyz123", "app_key": "app-key", "app_secret": "app-secret", "access_token": "token",
                 "environment": "sandbox"},
        description="The credentials are sealed at rest and never answered; the answer lists the callback URLs to "
                    "register in PetPooja's dashboard."),
    "GET /api/restaurants/{rid}/integrations/petpooja": Operation(
        "The PetPooja connection", "integrations", members(*_OWNER_MANAGER), {200: schemas.PetpoojaConnection}),
    "DELETE /api/restaurants/{rid}/integrations/petpooja": Operation(
        "Disconnect PetPooja", "integrations", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "PUT /api/restaurants/{rid}/integrations/ubereats": Operation(
        "Connect the restaurant's Uber Eats store", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}, body=models.UberEatsConnect,
        example={"store_id": "6f1c9a8e-store", "client_id": "uber-client-id", "client_secret": "uber-client-secret"},
        errors={409: ("store_taken",), 422: ("invalid_credentials",), 503: ("platform_unreachable",)},
        description="The client credentials are checked with Uber (a token is requested), sealed at rest and never "
                    "answered; connecting queues a publish of the whole menu (docs/ubereats.md). 503 when Uber "
                    "cannot be reached to check them."),
    "GET /api/restaurants/{rid}/integrations/ubereats": Operation(
        "The Uber Eats store and its menu's state there", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}),
    "DELETE /api/restaurants/{rid}/integrations/ubereats": Operation(
        "Disconnect Uber Eats", "integrations", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "POST /api/restaurants/{rid}/integrations/ubereats/refresh": Operation(
        "Publish the whole menu to Uber Eats again", "integrations", members(*_OWNER_MANAGER),
        {202: schemas.Queued}, errors={404: ("not_connected",)}),
    "PUT /api/restaurants/{rid}/integrations/webhook": Operation(
        "Register (or change) the restaurant's webhook", "integrations", members(*_OWNER_MANAGER),
        {201: schemas.WebhookRegistration, 200: schemas.WebhookRegistration}, body=WebhookRegister,
        query=WebhookQuery, example={"url": "https://hooks.example.com/tabletop"},
        errors={422: ("invalid_webhook_url",)},
        description="The signing secret is answered once, when issued: at creation and with ?rotate=true."),
    "GET /api/restaurants/{rid}/integrations/webhook": Operation(
        "The restaurant's webhook", "integrations", members(*_OWNER_MANAGER), {200: schemas.WebhookRegistration}),
    "DELETE /api/restaurants/{rid}/integrations/webhook": Operation(
        "Remove the webhook", "integrations", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "POST /api/restaurants/{rid}/menu/sync": Operation(
        "Import the menu from the PetPooja outlet now", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.MenuSync},
        errors={409: ("petpooja_not_connected", "category_name_taken"),
                502: ("petpooja_unavailable", "petpooja_menu_invalid"), 503: ("petpooja_unavailable",)},
        description="When PetPooja is unreachable or its menu unreadable nothing is imported and the failure is "
                    "recorded (502, with sync_id)."),
    "GET /api/restaurants/{rid}/menu/syncs": Operation(
        "Recent menu imports", "integrations", members(*_OWNER_MANAGER), {200: schemas.MenuSyncs}),
    # ---------------------------------------------------------------- delivery platforms
    "POST /api/webhooks/ubereats": Operation(
        "Uber Eats: an order was placed (or another event)", _CALLBACK, UBER, {200: NO_CONTENT}, body=UberEvent,
        example={"event_id": "c4d2261e-2779-4eb6-beb0-cb41235c751e", "event_time": 1733227200,
                 "event_type": "orders.notification",
                 "meta": {"user_id": "6f1c9a8e-store", "resource_id": "153dd7f1-339d-4619-940c-418943c14636",
                          "status": "pos"},
                 "resource_href": "https://api.uber.com/v2/eats/order/153dd7f1-339d-4619-940c-418943c14636"},
        errors={400: ("invalid_event",), 503: ("unavailable",)},
        description="Answered at once with an empty 200; a retried event_id does nothing again. An order "
                    "notification queues the order: it is fetched, created here and accepted (or denied, "
                    "naming the items) back through the outbox (docs/ubereats.md)."),
    "PUT /api/restaurants/{rid}/integrations/doordash": Operation(
        "Connect the restaurant's DoorDash store", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}, body=models.DoorDashConnect,
        example={"store_id": "store-42", "developer_id": "14e84291-d900-4c20-8528-ed6ca8de660f",
                 "key_id": "d4e87d9c-432b-4ab4-b06f-254ce7a1ef30",
                 "signing_secret": "xVu_RIEHqVw0ISBOqklCrKTIrlxX47TiexoJIY8_naw",
                 "webhook_token": "a-long-random-token"},
        errors={409: ("store_taken",), 422: ("invalid_credentials",), 503: ("platform_unreachable",)},
        description="The access key is checked with DoorDash (the store's details are read with a JWT it signs), "
                    "sealed at rest with the webhook token and never answered; connecting queues a publish of the "
                    "whole menu (docs/doordash.md). store_id is the store's merchant_supplied_id on DoorDash."),
    "GET /api/restaurants/{rid}/integrations/doordash": Operation(
        "The DoorDash store and its menu's state there", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}),
    "DELETE /api/restaurants/{rid}/integrations/doordash": Operation(
        "Disconnect DoorDash", "integrations", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "POST /api/restaurants/{rid}/integrations/doordash/refresh": Operation(
        "Publish the whole menu to DoorDash again", "integrations", members(*_OWNER_MANAGER),
        {202: schemas.Queued}, errors={404: ("not_connected",)}),
    "POST /api/webhooks/doordash": Operation(
        "DoorDash: an order was placed or cancelled, or a menu job finished", _CALLBACK, DOORDASH,
        {200: NO_CONTENT}, body=DoorDashEvent,
        example={"event": {"type": "OrderCreate", "status": "NEW"},
                 "order": {"id": "0da8b530-7c4c-4925-8785-cd843b797d64", "subtotal": 1564, "tax": 94,
                           "is_pickup": False, "store": {"merchant_supplied_id": "store-42",
                                                         "provider_type": "tabletop"},
                           "categories": [{"merchant_supplied_id": "mains", "items": [
                               {"merchant_supplied_id": "0b6ad1a4-5a1f-4c55-9d6e-1f0c7d1e2a3b", "name": "Dal",
                                "quantity": 1, "price": 1564, "extras": []}]}]}},
        errors={400: ("invalid_event",), 503: ("unavailable",)},
        description="Answered at once with an empty 200. OrderCreate queues the order (created here and confirmed "
                    "or failed back through the outbox); an order cancellation ({external_order_id, store}) "
                    "cancels ours; MenuCreate/MenuUpdate record the menu job's outcome and DoorDash's menu id. "
                    "DoorDash sends no event id: replays are recognised by OrderCreate:<order id>, "
                    "OrderCancel:<order id> and <type>:<reference> (docs/doordash.md)."),
    # (DoorDash's operations: above this line)
    "PUT /api/restaurants/{rid}/integrations/grubhub": Operation(
        "Connect the restaurant's Grubhub merchant", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}, body=models.GrubhubConnect,
        example={"store_id": "503736", "partner_key": "gh-partner-key", "client_id": "gh-client-id",
                 "secret_key": "UFBGOVpDbGE5ODcvNXRBYjExS1JsUT09", "webhook_secret": "gh-webhook-secret"},
        errors={409: ("store_taken",), 422: ("invalid_credentials",), 503: ("platform_unreachable",)},
        description="store_id is the Grubhub merchant id. The credentials are checked with Grubhub (a MAC-signed "
                    "read of the merchant's menu), sealed at rest and never answered; connecting queues an "
                    "ingestion of the whole menu (docs/grubhub.md). 503 when Grubhub cannot be reached."),
    "GET /api/restaurants/{rid}/integrations/grubhub": Operation(
        "The Grubhub merchant and its menu's state there", "integrations", members(*_OWNER_MANAGER),
        {200: schemas.PlatformConnection}),
    "DELETE /api/restaurants/{rid}/integrations/grubhub": Operation(
        "Disconnect Grubhub", "integrations", members(*_OWNER_MANAGER), {204: NO_CONTENT}),
    "POST /api/restaurants/{rid}/integrations/grubhub/refresh": Operation(
        "Ingest the whole menu into Grubhub again", "integrations", members(*_OWNER_MANAGER),
        {202: schemas.Queued}, errors={404: ("not_connected",)}),
    "POST /api/webhooks/grubhub": Operation(
        "Grubhub: an order was placed or cancelled (or another event)", _CALLBACK, GRUBHUB, {200: NO_CONTENT},
        body=GrubhubEvent,
        example={"event_type": "NEW_ORDER", "merchant_id": "503736",
                 "order_uuid": "d7cydHnLSX-A_tddhMLMGQ", "fulfillment_type": "PICKUP", "currency": "USD",
                 "items": [{"item_id": "8b0d3f0e-6f0a-4a53-9d43-3a1f7c2b9e10", "name": "Dal Makhani",
                            "quantity": 1, "price": 12.5, "modifiers": []}],
                 "totals": {"subtotal": 12.5, "tax": 1.0, "total": 13.5}},
        errors={400: ("invalid_event",), 503: ("unavailable",)},
        description="Answered at once with an empty 200; a retried event does nothing again. A new order is "
                    "queued and confirmed (or rejected, naming the items) back through the outbox; Grubhub's "
                    "cancellation cancels ours (docs/grubhub.md)."),
    "GET /api/platform-menus/grubhub/{merchant_id}/{token}": Operation(
        "Grubhub: download the merchant's current menu (an ingestion's menu_url)", "integrations", GRUBHUB_MENU,
        {200: Media("application/json", {"type": "object"}, "Grubhub's PosNormalizedMenu")},
        errors={503: ("unavailable",)},
        description="The URL is sent to Grubhub with each ingestion; the menu is built from the restaurant's "
                    "menu when asked, in the format the ingestion would have sent. An unknown merchant and a wrong "
                    "token are the same 404 (docs/grubhub.md)."),
    # (Grubhub's operations: above this line)
    # ---------------------------------------------------------------- voice (Vapi)
    "POST /api/voice/vapi/{rid}": Operation(
        "Vapi: the server URL of a restaurant's voice assistant (tool calls, call events)", "voice", VAPI,
        {200: schemas.VapiAnswer}, body=ServerMessage,
        example={"message": {"type": "tool-calls", "call": {"id": "b4f1e3a2-6c0d-4e59-8a7b-2f9d3c1e5a60",
                                                            "customer": {"number": "+919812345678"}},
                             "toolCallList": [{"id": "call_Xq1vQk0sW3bN8mJ2", "type": "function",
                                               "function": {"name": "search_menu",
                                                            "arguments": "{\"query\": \"masala chai\"}"}}]}},
        errors={400: ("invalid_message", "unknown_message_type", "unsupported_message"), 404: ("not_found",)},
        request_headers=(Header("X-Vapi-Secret", {"type": "string"}, "VAPI_SERVER_SECRET (or send it as "
                                                                        "Authorization: Bearer)"),),
        description="tool-calls are answered {results: [{toolCallId, name, result | error, metadata}]} with 200, a "
                    "tool's refusal (an ambiguous name, an unavailable item, bad arguments) included: it is for the "
                    "assistant to ask the caller, and writes nothing. Tools: search_menu, quote_order, place_order "
                    "(a takeaway order through the order path, idempotent per call and order), order_status "
                    "(this call's or this number's orders here). end-of-call-report is kept once per call; "
                    "status-update and Vapi's other informational messages are answered {} (docs/voice.md)."),
    "GET /api/restaurants/{rid}/voice/calls": Operation(
        "The restaurant's voice calls: end-of-call reports and the orders each placed", "voice",
        members(*_OWNER_MANAGER), {200: schemas.VoiceCallPage}, query=VoiceCallQuery,
        errors={422: ("invalid_cursor",)}),
    # ---------------------------------------------------------------- PetPooja callbacks
    "POST /api/webhooks/petpooja/order-status/{secret}": Operation(
        "PetPooja: an order's status changed at the POS", _CALLBACK, PARTNER, {200: NO_CONTENT},
        body=OrderCallback, example={"restID": "xyz123", "orderID": "1234", "clientorderID": _UUID_EXAMPLE,
                                     "status": 1, "cancel_reason": "", "minimum_prep_time": 20},
        errors={400: ("invalid_callback",)}, request_headers=(SIGNATURE,),
        description="PetPooja documents an empty 200 whatever we made of it (docs/petpooja-callbacks.md)."),
    "POST /api/webhooks/petpooja/stock/{secret}": Operation(
        "PetPooja: items or addons went out of (or back in) stock", _CALLBACK, PARTNER,
        {200: schemas.PetpoojaStockAnswer, 404: schemas.PetpoojaStatusAnswer}, body=StockCallback,
        example={"restID": "xyz123", "type": "item", "inStock": False, "itemID": ["7765862"]},
        errors={400: ("invalid_callback",)}, request_headers=(SIGNATURE,),
        description="A 404 in PetPooja's format answers a restID that is not this outlet's."),
    "POST /api/webhooks/petpooja/store-status/{secret}": Operation(
        "PetPooja: switch the store on or off, or ask whether it is on", _CALLBACK, PARTNER,
        {200: schemas.PetpoojaStatusAnswer, 404: schemas.PetpoojaStatusAnswer}, body=StoreStatusCallback,
        example={"restID": "xyz123", "store_status": 0, "turn_on_time": "2026-01-15 23:00:00",
                 "reason": "kitchen closed early"},
        errors={400: ("invalid_callback",)}, request_headers=(SIGNATURE,)),
    "POST /api/webhooks/petpooja/pushmenu/{secret}": Operation(
        "PetPooja: the outlet's whole menu, pushed", _CALLBACK, PARTNER,
        {200: schemas.PetpoojaMenuAnswer, 404: schemas.PetpoojaMenuAnswer}, body=PetpoojaMenu,
        errors={400: ("invalid_callback",)}, request_headers=(SIGNATURE,),
        description="Imported exactly as a pull (POST /menu/sync) would; PETPOOJA_MENU_PUSH_MAX_BYTES caps it."),
}
