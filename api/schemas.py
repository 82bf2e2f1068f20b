"""What the API answers: one pydantic model per response body, for the OpenAPI document.

Handlers build their answers as dicts (orjson serialises them straight from the rows); these
models describe those dicts and nothing reads them at run time. They are kept in step by the
tests: tests/test_openapi.py walks every resource and validates each answer against the
document with unknown fields refused, and tests/test_fuzz.py does the same for every response
the fuzzer provokes. The published schemas still allow fields they do not list, because the
contract (API.md) lets the API add fields.

Problem is the body of every error (application/problem+json, RFC 9457).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.models import Allergen
from db.lifecycle import Status

Role = Literal["owner", "manager", "staff", "kitchen"]
OrderType = Literal["dine_in", "takeaway", "delivery"]
PaymentStatus = Literal["unpaid", "pending", "paid", "failed", "refunded"]
PaymentMethod = Literal["online", "cash", "counter"]

_RID = "9b2f6a5e-3c1d-4e8f-a7b6-2d4c8e1f0a35"
_TID = "5d0c2b7a-8e4f-4a1b-9c3d-7e6f5a4b3c21"
_IID = "0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1"
_CID = "3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
_UID = "7c6b5a49-3827-4165-a4b3-c2d1e0f9a8b7"
_OID = "e1d2c3b4-a596-4877-8695-a4b3c2d1e0f9"
_AT = "2026-01-15T19:42:07.512Z"


class Answer(BaseModel):
    # Only documented: nothing validates answers at run time.
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------------------ errors


class FieldProblem(Answer):
    loc: list[str | int] = Field(description="where: 'body', 'query' or 'path', then the field's path")
    msg: str
    type: str | None = Field(None, description="the kind of problem, for a field (missing, string_too_long, ...)")
    code: str | None = Field(None, description="the kind of problem, for an order line (unknown_menu_item, ...)")


class Problem(Answer):
    """An error (RFC 9457). Switch on ``code``; ``detail`` is for people."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "/problems/validation_error", "title": "Unprocessable Content", "status": 422,
        "detail": "the request is invalid", "code": "validation_error",
        "errors": [{"loc": ["body", "name"], "msg": "must be one line of text without control characters",
                    "type": "control_character"}],
    }]})

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable, snake_case: what went wrong")
    errors: list[FieldProblem] | None = Field(None, description="one entry per invalid field (400, 422)")
    reason: str | None = Field(None, description="store_closed: why the POS switched the store off")
    reopens_at: datetime | None = Field(None, description="store_closed: when it opens again, when known")
    opens_at: datetime | None = Field(None, description="closed: when the opening hours open it next")
    sync_id: int | None = Field(None, description="a failed menu sync: its record (GET .../menu/syncs)")
    current_status: str | None = Field(None, description="invalid_transition: the order's status")
    allowed: list[str] | None = Field(None, description="invalid_transition: the moves allowed from it")
    state: str | None = Field(None, description="invitation_not_pending: what became of the invitation")
    distance_m: int | None = Field(None, description="outside_delivery_zone: how far the address is, meters")
    radius_m: int | None = Field(None, description="outside_delivery_zone: the zone's radius (null: a polygon)")


# ------------------------------------------------------------------------------ service


class Health(Answer):
    status: Literal["ok"]


class Readiness(Answer):
    status: Literal["ready", "unavailable"]
    reason: str | None = Field(None, description="why not ready (503 only)")


# ------------------------------------------------------------------------------ auth


class Account(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": _UID, "email": "asha@example.com", "full_name": "Asha Rao"}]})

    id: UUID
    email: str
    full_name: str


class TokenPair(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "access_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
        "refresh_token": "0p6dYqOeG5c8aV1s2lRk3m9TzUe4wXb7nJh5fQy2GiA", "token_type": "bearer", "expires_in": 900,
    }]})

    access_token: str = Field(description="RS256 JWT for Authorization: Bearer; expires after expires_in seconds")
    refresh_token: str = Field(description="opaque; works once (POST /api/auth/refresh)")
    token_type: Literal["bearer"]
    expires_in: int


class Membership(Answer):
    restaurant_id: UUID
    role: Role


class OpenInvitation(Answer):
    id: UUID
    restaurant_id: UUID
    restaurant_name: str
    role: Role
    created_at: datetime
    expires_at: datetime


class Me(Answer):
    id: UUID
    email: str
    full_name: str
    phone: str | None = None
    is_platform_admin: bool
    memberships: list[Membership]
    invitations: list[OpenInvitation] = Field(description="invitations to this email waiting for an answer")


class Profile(Answer):
    id: UUID
    email: str
    full_name: str
    phone: str | None
    is_platform_admin: bool


class ResetAccepted(Answer):
    status: Literal["accepted"]
    detail: str


class Jwk(Answer):
    kty: Literal["RSA"]
    kid: str
    use: Literal["sig"]
    alg: Literal["RS256"]
    n: str
    e: str
    key_ops: list[str] | None = None


class Jwks(Answer):
    keys: list[Jwk]


# ------------------------------------------------------------------------ restaurants


class Restaurant(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _RID, "name": "Demo Bistro", "currency": "INR", "timezone": "Asia/Kolkata", "tax_rate_bps": 500,
        "address": None, "phone": None, "accepting_orders": True, "closed_reason": None, "reopens_at": None,
        "description": "North Indian kitchen", "city": "Pune", "website": "https://demo-bistro.example",
        "logo_url": None, "dine_in_enabled": True, "payment_required": False,
        "opening_hours": [{"weekday": 0, "opens": "11:00", "closes": "23:00"}],
        "created_at": _AT, "updated_at": _AT,
    }]})

    id: UUID
    name: str
    currency: str = Field(description="ISO 4217; money is an integer in its minor unit")
    timezone: str
    tax_rate_bps: int = Field(description="tax in basis points (500 = 5%)")
    address: str | None
    phone: str | None
    accepting_orders: bool = Field(description="false while the store is switched off (the POS, or POST .../pause)")
    closed_reason: str | None
    reopens_at: datetime | None
    description: str | None
    city: str | None
    website: str | None
    logo_url: str | None
    dine_in_enabled: bool
    payment_required: bool = Field(
        description="online orders reach the kitchen and the POS only once paid (docs/payments.md)")
    opening_hours: list[OpeningRange] = Field(description="empty: always open")
    created_at: datetime
    updated_at: datetime


class OpeningRange(Answer):
    weekday: int = Field(description="0 = Monday ... 6 = Sunday")
    opens: str = Field(description="HH:MM, the restaurant's local time")
    closes: str = Field(description="HH:MM; at or before opens: the next day")


class Venue(Answer):
    """A restaurant's public profile."""

    id: UUID
    name: str
    description: str | None
    address: str | None
    city: str | None
    phone: str | None
    website: str | None
    logo_url: str | None
    timezone: str
    currency: str
    dine_in_enabled: bool
    open_now: bool = Field(description="taking orders now: the store switch on and inside its opening hours")
    next_opens_at: datetime | None = Field(description="when its opening hours next open it (null without hours)")
    opening_hours: list[OpeningRange]


class VenuePage(Answer):
    items: list[Venue]
    next_cursor: str | None


class SavedVenue(Answer):
    restaurant_id: UUID
    favourite: bool
    saved_at: datetime
    name: str | None = None
    city: str | None = None
    logo_url: str | None = None


class SavedVenues(Answer):
    items: list[SavedVenue]


class ShareLink(Answer):
    url: str = Field(description="opens the restaurant's menu for takeaway: {ORDERING_BASE_URL}/s/{token}")
    token: str = Field(description="GET /api/share/{token} answers the restaurant and its menu")


class SharedMenu(Answer):
    restaurant: Venue
    order_type: Literal["takeaway"]
    menu: Menu


class Invitation(Answer):
    id: UUID
    restaurant_id: UUID
    email: str
    role: Role
    status: Literal["pending", "accepted", "declined", "revoked"]
    invited_by: UUID | None
    created_at: datetime
    expires_at: datetime


class Invitations(Answer):
    items: list[Invitation]


class AcceptedInvitation(Invitation):
    membership: Membership


class Table(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _TID, "label": "T1", "seats": 4, "qr_token": "hV3q9Zr1xWm2Kp8sLd4Tg7Yb", "is_active": True,
        "version": 1, "created_at": _AT, "updated_at": _AT,
    }]})

    id: UUID
    label: str
    seats: int | None
    qr_token: str = Field(description="what the table's QR code carries: POST /api/qr/{qr_token}/session")
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class Tables(Answer):
    items: list[Table]


class SessionRestaurant(Answer):
    id: UUID
    name: str
    currency: str


class SessionTable(Answer):
    id: UUID
    label: str


class GuestSession(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJ0eXAiOiJndWVzdCJ9.c2lnbmF0dXJl",
        "expires_in": 14400, "restaurant": {"id": _RID, "name": "Demo Bistro", "currency": "INR"},
        "table": {"id": _TID, "label": "T1"},
    }]})

    session_token: str = Field(description="the guest's bearer token: this restaurant's menu, orders at this table")
    expires_in: int
    restaurant: SessionRestaurant
    table: SessionTable


class TakeawaySession(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "session_token": "eyJhbGciOiJSUzI1NiIsImtpZCI6Ii4uLiJ9.eyJ0eXAiOiJndWVzdCJ9.c2lnbmF0dXJl",
        "expires_in": 14400, "order_type": "takeaway",
        "restaurant": {"id": _RID, "name": "Demo Bistro", "currency": "INR"}, "table": None,
    }]})

    session_token: str = Field(description="the guest's bearer token: this restaurant's menu, takeaway orders")
    expires_in: int
    order_type: Literal["takeaway"]
    restaurant: SessionRestaurant
    table: None = Field(description="a takeaway session has no table")


# ------------------------------------------------------------------------------- menu


class Category(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": _CID, "name": "Mains", "description": "From the tandoor", "rank": 1, "created_at": _AT,
         "updated_at": _AT}]})

    id: UUID
    name: str
    description: str | None
    rank: int
    created_at: datetime
    updated_at: datetime


class MenuItem(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _IID, "category_id": _CID, "name": "Paneer Tikka", "description": "Charred, smoky, with mint chutney",
        "price": 25000, "is_available": True, "is_veg": True, "rank": 0, "version": 1,
        "created_at": _AT, "updated_at": _AT, "image_url": "https://cdn.example.com/paneer-tikka.jpg",
        "ingredients": ["paneer", "yoghurt", "mint"], "allergens": ["milk"], "prep_minutes": 15,
    }]})

    id: UUID
    category_id: UUID
    name: str
    description: str | None
    price: int = Field(description="minor units of the restaurant's currency")
    is_available: bool
    is_veg: bool | None
    rank: int
    version: int
    created_at: datetime
    updated_at: datetime
    image_url: str | None = Field(description="an https URL of the dish's picture")
    ingredients: list[str] = Field(description="free text, at most 50 of at most 80 characters")
    allergens: list[Allergen] = Field(description="which of the EU's 14 allergens it contains (docs/menu.md)")
    prep_minutes: int | None = Field(description="how long the kitchen takes, in minutes (0..600); null: not said")


class Variation(Answer):
    id: UUID
    name: str
    price: int
    is_available: bool


class Addon(Answer):
    id: UUID
    name: str
    price: int
    is_available: bool
    is_veg: bool | None


class AddonGroup(Answer):
    id: UUID
    name: str
    min_select: int
    max_select: int | None
    addons: list[Addon]


class ItemTax(Answer):
    id: UUID
    name: str
    rate_bps: int


class MenuEntry(MenuItem):
    """An item as the menu shows it: with what a guest chooses from, and its own taxes."""

    variations: list[Variation]
    addon_groups: list[AddonGroup]
    taxes: list[ItemTax]
    order_types: list[Literal["dine_in", "takeaway", "delivery"]] = Field(
        description="the order types it may be ordered for (PetPooja's item_ordertype; every type for items made "
                    "here); another is refused with order_type_not_offered")


class MenuCategory(Answer):
    id: UUID
    name: str
    description: str | None
    rank: int
    items: list[MenuEntry]


class Menu(Answer):
    categories: list[MenuCategory]


class CategorySummary(Answer):
    id: UUID
    name: str
    description: str | None
    rank: int
    item_count: int = Field(description="its live items")


class CategoryList(Answer):
    items: list[CategorySummary] = Field(description="live categories in display order")


class MenuItemList(Answer):
    items: list[MenuEntry] = Field(description="live items in menu order (by category, then item)")


# ----------------------------------------------------------------------------- orders


class ChosenAddon(Answer):
    id: UUID
    name: str
    price: int
    group_id: UUID
    group_name: str
    external_id: str | None = None
    group_external_id: str | None = None


class OrderLine(Answer):
    id: UUID
    menu_item_id: UUID
    name: str
    unit_price: int
    quantity: int
    line_total: int
    notes: str | None
    variation_id: UUID | None
    variation_name: str | None
    addons: list[ChosenAddon]


class EventDetails(Answer):
    """What a partner's callback said beside the move (PetPooja today); absent keys were not said."""

    cancel_reason: str | None = None
    rider_name: str | None = None
    rider_phone: str | None = None
    minimum_prep_time: str | None = None
    # A payment's event (from_status = to_status): its new and previous payment status, and
    # what moved it (docs/payments.md).
    payment_status: PaymentStatus | None = None
    previous_payment_status: PaymentStatus | None = None
    payment_method: PaymentMethod | None = None
    payment_intent: str | None = None
    stripe_event: str | None = None
    refund: str | None = None


class OrderEvent(Answer):
    from_status: Status | None = Field(description="null for the order's creation")
    to_status: Status
    actor_type: Literal["user", "guest", "system", "petpooja", "ubereats", "doordash", "grubhub", "stripe",
                        "voice"]
    actor_id: UUID | None = Field(description="the user or guest session behind the move; null for guests reading")
    actor_name: str | None = Field(description="the user's name; null for guests reading, partners and the system")
    reason: str | None
    details: EventDetails
    at: datetime


class Rider(Answer):
    name: str | None
    phone: str | None


class OrderTimeline(Answer):
    order_id: UUID
    status: Status
    events: list[OrderEvent] = Field(description="oldest first")
    rider: Rider | None = Field(description="the latest rider PetPooja named for the order")
    cancel_reason: str | None = Field(description="why it was cancelled (PetPooja's cancel_reason, else the "
                                                  "reason given with the move); null unless cancelled")


class DeliveryAddressAnswer(Answer):
    line1: str
    line2: str | None
    city: str
    postcode: str | None
    instructions: str | None


class OrderDelivery(Answer):
    address: DeliveryAddressAnswer = Field(description="the address as the customer gave it")
    formatted_address: str = Field(description="the address as the geocoder understood it")
    lat: float
    lng: float
    distance_m: int = Field(description="great-circle distance from the restaurant, whole meters")
    place_id: str = Field(description="the geocoder's id of the place")
    location_type: str = Field(description="how precise the point is: ROOFTOP, RANGE_INTERPOLATED, "
                                           "GEOMETRIC_CENTER or APPROXIMATE (Google's)")
    partial_match: bool = Field(description="the geocoder matched only part of the address: worth a check")


class Order(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _OID, "restaurant_id": _RID, "number": 42, "table_id": _TID, "table_label": "T1",
        "status": "pending", "order_type": "dine_in", "customer_name": None, "customer_phone": None, "notes": None,
        "items": [{"id": "4b3a2918-0706-4f5e-8d4c-3b2a19080706", "menu_item_id": _IID, "name": "Paneer Tikka",
                   "unit_price": 25000, "quantity": 2, "line_total": 50000, "notes": None, "variation_id": None,
                   "variation_name": None, "addons": []}],
        "subtotal": 50000, "tax": 2500, "tip": 0, "discount": 0, "total": 52500, "currency": "INR", "version": 1,
        "created_at": _AT, "updated_at": _AT, "pickup_at": None, "payment_status": "unpaid", "reservation_id": None,
        "fire_at": None, "payment_method": "counter", "delivery": None, "delivery_fee": 0,
    }]})

    id: UUID
    restaurant_id: UUID
    number: int = Field(description="the restaurant's own order number, from 1")
    table_id: UUID | None
    table_label: str | None
    status: Status
    order_type: OrderType
    customer_name: str | None
    customer_phone: str | None
    notes: str | None
    items: list[OrderLine]
    subtotal: int
    tax: int
    tip: int
    discount: int
    total: int
    currency: str
    version: int
    created_at: datetime
    updated_at: datetime
    pickup_at: datetime | None = Field(description="a takeaway order's pickup time (whole 5 minutes)")
    payment_status: PaymentStatus = Field(
        description="unpaid -> pending (online payment started) -> paid | failed (failed -> pending again); paid -> "
                    "refunded. Forward only (docs/payments.md)")
    payment_method: PaymentMethod = Field(description="online (Stripe), cash, or counter (the default)")
    reservation_id: UUID | None = Field(description="the reservation this order is the pre-order of")
    fire_at: datetime | None = Field(
        description="a pre-order: when the kitchen and the POS get it (seating brings it forward)")
    delivery: OrderDelivery | None = Field(description="a delivery order's address, point and distance "
                                                       "(docs/delivery-zones.md); null for the others")
    delivery_fee: int = Field(description="from the restaurant's fee bands by distance; included in total")
    integrations: dict[str, OrderIntegration] | None = Field(
        None, description="the restaurant's people reading one order: what became of it at each target it went to")


class OrderPage(Answer):
    items: list[Order]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last one")


class SessionOrders(Answer):
    items: list[Order] = Field(description="the session's orders, newest first (at most 100)")


# ------------------------------------------------------------------------ sync health


class TargetHealth(Answer):
    pending: int
    in_flight: int
    failed: int
    dead: int
    synced: int
    oldest_pending_seconds: float | None


class SyncStatus(Answer):
    targets: dict[str, TargetHealth] = Field(description="by target: convex, petpooja, webhook")


class ConvexToken(Answer):
    token: str = Field(description="a JWT for the dashboard's Convex client (ctx.auth)")
    expires_in: int


class RecipientConvexToken(Answer):
    token: str = Field(description="a JWT for a Convex client (ctx.auth) that may read the caller's own orders "
                                   "(a guest session: orders:forGuestSession) and notifications "
                                   "(notifications:mine), and nothing else")
    expires_in: int = Field(description="seconds; ask again before it runs out (the session is checked each time)")


# ----------------------------------------------------------------------- notifications

_NID = "4e3d2c1b-0a9f-4e8d-b7c6-a5f4e3d2c1b0"


class Notification(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _NID, "restaurant_id": _RID, "restaurant_name": "Demo Bistro", "type": "order_status",
        "title": "Order #12 is ready", "message": "Your order #12 at Demo Bistro is ready.",
        "reference_type": "order", "reference_id": _OID, "status": "ready", "read_at": None, "created_at": _AT,
    }]})

    id: UUID
    restaurant_id: UUID
    restaurant_name: str
    type: Literal["order_status", "reservation"]
    title: str
    message: str = Field(description="one or two sentences for people, the move's reason at the end when given")
    reference_type: Literal["order", "reservation"]
    reference_id: UUID = Field(description="the order or reservation that moved")
    status: str = Field(description="the status it moved to")
    read_at: datetime | None
    created_at: datetime


class NotificationPage(Answer):
    items: list[Notification] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last one")
    unread_count: int = Field(description="all of the recipient's unread notifications, not just this page's")


class NotificationsRead(Answer):
    marked: int = Field(description="how many were unread and are now read")
    unread_count: int


class ErrorAction(Answer):
    action: Literal["retry", "resolve"]
    actor: str = Field(description="user:<id>, or api_key:<the first 8 hex digits of the key's sha256>")
    reason: str | None
    at: datetime


class Resolution(Answer):
    actor: str
    reason: str
    at: datetime


class SyncError(Answer):
    id: int
    restaurant_id: UUID
    target: str
    entity_type: str
    entity_id: UUID
    entity_version: int
    status: Literal["failed", "dead"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    history: list[ErrorAction] = Field(description="retries and resolutions by hand, oldest first")
    resolution: Resolution | None = Field(description="set while the row stands resolved by hand")
    failed_menu: dict[str, Any] | None = Field(
        description="a platform's menu row: the menu the store's last failed publish sent (or why it was not sent)")
    platform_response: Any = Field(description="a platform's menu row: the platform's answer to its last publish")
    platform_error: str | None = Field(description="a platform's menu row: the store's last publish error")


class SyncErrors(Answer):
    items: list[SyncError]
    next_before_id: int | None


class SyncRetry(Answer):
    id: int
    status: Literal["failed"]
    attempts: Literal[0]
    due: Literal["now"]
    recorded: ErrorAction


class SyncResolved(Answer):
    id: int
    status: Literal["resolved"]
    resolution: Resolution


class RestaurantSyncError(Answer):
    id: int
    target: str
    entity_type: str
    entity_id: UUID
    status: Literal["failed", "dead", "resolved"]
    attempts: int
    summary: str | None = Field(description="what went wrong, in short (raw errors are for operators)")
    created_at: datetime
    updated_at: datetime


class RestaurantSyncErrors(Answer):
    items: list[RestaurantSyncError]
    next_before_id: int | None


class MenuState(Answer):
    state: Literal["SYNCED", "FAILED", "PENDING"]
    store_id: str
    last_sync: datetime | None
    item_count: int | None
    external_menu_id: str | None
    error: str | None = Field(description="operators: the raw error; owners: a short summary")
    retry_count: int


class TargetState(Answer):
    connected: bool = Field(description="whether the target takes this restaurant's changes")
    queue: TargetHealth
    menu: MenuState | None = Field(description="a delivery platform's menu target: its store's menu there")


class IntegrationStates(Answer):
    restaurant_id: UUID
    targets: dict[str, TargetState] = Field(
        description="every target: convex, petpooja, webhook, each platform's menu target and its _orders target")


class FullRefreshResult(Answer):
    restaurant_id: UUID
    platforms: dict[str, Literal["queued", "not_connected", "already_queued"]]


class OrderIntegration(Answer):
    delivered: bool
    status: Literal["pending", "in_flight", "failed", "dead", "synced", "skipped", "resolved"] = Field(
        description="of the order's newest change there; skipped: settled without sending (nothing to send), "
                    "resolved: settled by an operator")
    external_id: str | None = Field(description="the order's id there (PetPooja's, or the platform's that placed it)")
    error: str | None = Field(description="a short summary; raw errors are for operators")


# ----------------------------------------------------------------------- integrations


class CallbackUrls(Answer):
    order_status: str
    stock: str
    store_status: str
    menu_push: str


class PetpoojaConnection(Answer):
    """``connected: false`` alone when no outlet is connected."""

    connected: bool
    rest_id: str | None = None
    environment: Literal["sandbox", "production"] | None = None
    callback_urls: CallbackUrls | None = Field(None, description="to register in PetPooja's dashboard")


class PlatformMenuState(Answer):
    status: Literal["pending", "synced", "failed"] = Field(
        description="pending until the first publish; then whether the last one was accepted")
    last_sync_at: datetime | None = Field(None, description="when the platform last accepted the menu")
    item_count: int | None = Field(None, description="items (options included) in the last accepted menu")
    external_menu_id: str | None = Field(None, description="the platform's id of the menu, where it has one")
    error: str | None = Field(None, description="why the last publish failed, with the platform's answer")
    retry_count: int = Field(description="failed publishes since the last accepted one")


class PlatformConnection(Answer):
    """A delivery platform store; ``connected: false`` and the platform alone when none is connected.
    The credentials are never answered."""

    connected: bool
    platform: Literal["ubereats", "doordash", "grubhub"]
    store_id: str | None = None
    webhook_url: str | None = Field(None, description="where the platform sends this store's webhooks: register it "
                                                      "with the platform")
    menu: PlatformMenuState | None = None


class Queued(Answer):
    queued: bool


class PaymentStarted(Answer):
    """What the guest's browser needs to pay with Stripe.js (stripe.confirmPayment)."""

    order_id: UUID
    payment_intent_id: str
    client_secret: str | None = Field(description="for the guest's browser only: never logged or stored here")
    amount: int = Field(description="the order's total in minor units of currency")
    currency: str
    intent_status: str = Field(description="Stripe's PaymentIntent status")
    payment_status: PaymentStatus


class StripeAck(Answer):
    received: bool
    replayed: bool | None = Field(None, description="this event id was applied before: nothing done again")
    outcome: Literal["applied", "stale", "unknown", "ignored", "refunding"] | None = Field(
        None, description="applied; stale (out of order: nothing moved); unknown (not our payment); ignored "
                          "(an event type we do not act on); refunding (paid otherwise meanwhile: refund queued)")


class WebhookRegistration(Answer):
    """``registered: false`` alone when none is registered."""

    registered: bool
    url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    secret: str | None = Field(None, description="the signing secret; answered once, when issued")


class MenuSync(Answer):
    id: int
    source: Literal["pull", "push"]
    status: Literal["ok", "failed"]
    counts: dict[str, Any]
    errors: list[Any]
    duration_ms: int
    created_at: datetime


class MenuSyncs(Answer):
    syncs: list[MenuSync]


# ----------------------------------------------------------- PetPooja's answer formats


class PetpoojaStockAnswer(Answer):
    code: int
    status: str
    message: str


class PetpoojaStatusAnswer(Answer):
    http_code: int
    status: str
    message: str
    store_status: Literal["0", "1"] | None = None


class PetpoojaMenuAnswer(Answer):
    success: Literal["0", "1"]
    message: str


# ------------------------------------------------------------------ slots and reservations

_RESID = "3e7a1c9b-5f2d-4b8e-a6c4-1d9f7b3e5a20"


class SlotRule(Answer):
    weekday: int = Field(description="0 Monday .. 6 Sunday, in the restaurant's time zone")
    start_time: str
    end_time: str
    interval_minutes: int
    max_reservations: int | None
    max_covers: int | None


class SlotRuleSet(Answer):
    rules: list[SlotRule]


class TimeSlot(Answer):
    slot_start: datetime = Field(description="the slot's instant (UTC); book with this value")
    local_time: str = Field(description="HH:MM in the restaurant's time zone")
    local_start: str
    max_reservations: int | None
    max_covers: int | None
    free_reservations: int | None = Field(description="null: no limit by count")
    free_covers: int | None = Field(description="null: no limit by covers")
    available: bool


class TimeSlots(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "date": "2026-03-08", "timezone": "America/New_York", "slots": [{
            "slot_start": "2026-03-08T07:00:00Z", "local_time": "03:00", "local_start": "2026-03-08T03:00",
            "max_reservations": None, "max_covers": 10, "free_reservations": None, "free_covers": 7,
            "available": True}]}]})

    date: str
    timezone: str
    slots: list[TimeSlot]


ReservationStatus = Literal["pending", "confirmed", "seated", "completed", "cancelled", "no_show"]


class Reservation(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _RESID, "restaurant_id": _RID, "slot_start": "2026-03-08T07:00:00Z", "local_date": "2026-03-08",
        "party_size": 4, "status": "pending", "user_id": None, "guest_name": "Ann", "guest_phone": "+1 555 0100",
        "table_preference": "window", "note": None, "version": 1, "created_at": _AT, "updated_at": _AT,
    }]})

    id: UUID
    restaurant_id: UUID
    slot_start: datetime
    local_date: str
    party_size: int
    status: ReservationStatus
    user_id: UUID | None = Field(description="the customer who booked for themselves; null when staff booked")
    guest_name: str
    guest_phone: str | None
    table_preference: str | None
    note: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class ReservationDay(Answer):
    date: str
    items: list[Reservation]


class MyReservation(Reservation):
    restaurant_name: str


class MyReservations(Answer):
    items: list[MyReservation]


# ------------------------------------------------------------------------------ exports

_XID = "4c3b2a19-0817-4e6d-9c5b-4a3928170605"
ExportStatus = Literal["queued", "running", "ready", "failed", "expired"]


class Export(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": _XID, "restaurant_id": _RID, "format": "xlsx", "from": "2026-01-01", "to": "2026-01-31",
        "status": "ready", "attempts": 1, "orders_count": 1250, "lines_count": 3810, "size_bytes": 182344,
        "error": None, "created_at": _AT, "started_at": _AT, "finished_at": _AT,
        "expires_at": "2026-01-16T19:42:07.512Z", "file_name": "orders-2026-01-01-to-2026-01-31.xlsx",
        "download_url": f"https://api.example.com/api/exports/{_XID}/download?expires=1768506727&sig=9f86d0...",
        "download_url_expires_at": "2026-01-15T19:52:07Z",
    }]})

    id: UUID
    restaurant_id: UUID
    format: Literal["xlsx", "csv"]
    from_: str = Field(alias="from", description="first local date (the restaurant's time zone)")
    to: str = Field(description="last local date, included")
    status: ExportStatus
    attempts: int
    orders_count: int | None
    lines_count: int | None
    size_bytes: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="when a ready file is deleted")
    file_name: str = Field(description="the name the download is saved as")
    download_url: str | None = Field(description="a signed URL for the file while ready (short-lived: ask again)")
    download_url_expires_at: datetime | None


class ExportList(Answer):
    items: list[Export]


# ----------------------------------------------------------------------- delivery zones


class GeoPoint(Answer):
    lat: float
    lng: float


class FeeBand(Answer):
    up_to_m: int = Field(description="this band's fee applies up to this distance from the restaurant, meters")
    fee: int = Field(description="minor units of the restaurant's currency")


class DeliveryZone(Answer):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "enabled": True, "location": {"lat": 18.5196, "lng": 73.8793}, "location_source": "geocoded",
        "formatted_address": "12, Mahatma Gandhi Rd, Camp, Pune, Maharashtra 411001, India", "radius_m": 5000,
        "polygon": None, "fee_bands": [{"up_to_m": 2000, "fee": 2000}, {"up_to_m": 5000, "fee": 4000}],
        "currency": "INR", "updated_at": _AT,
    }]})

    enabled: bool = Field(description="false: delivery orders are refused (409 delivery_off)")
    location: GeoPoint = Field(description="the restaurant's point: distances are measured from it")
    location_source: Literal["given", "geocoded"]
    formatted_address: str | None = Field(description="what the geocoder made of the restaurant's address")
    radius_m: int | None = Field(description="the zone as a circle around location (or null with a polygon)")
    polygon: list[list[float]] | None = Field(description="the zone as a closed ring of [lng, lat] points")
    fee_bands: list[FeeBand] = Field(description="ascending; empty: free delivery")
    currency: str
    updated_at: datetime
# ------------------------------------------------------------------------------ voice (Vapi)


class VapiToolResult(Answer):
    """One tool call's answer, in Vapi's ToolCallResult shape (docs/voice.md)."""

    toolCallId: str = Field(description="the id of the tool call in Vapi's message")  # Vapi's camelCase names
    name: str = Field(description="the tool the model called")
    result: str | None = Field(None, description="a sentence the assistant can say; absent on error")
    error: str | None = Field(None, description="what to ask the caller about (nothing was written); absent on success")
    metadata: dict[str, Any] | None = Field(None, description="the answer's data for Vapi's client (ids, totals)")


class VapiAnswer(Answer):
    """What Vapi's server URL answers: ``results`` to tool-calls, ``error`` (spoken) to an
    assistant-request, ``{}`` to everything else it accepts."""

    results: list[VapiToolResult] | None = None
    error: str | None = None


class VoiceCall(Answer):
    call_id: str = Field(description="Vapi's call id")
    ended_reason: str = Field(description="Vapi's endedReason")
    summary: str | None = Field(description="Vapi's analysis summary, at most 4000 characters")
    transcript: str | None = Field(description="at most 20000 characters")
    transcript_truncated: bool
    cost_usd: float | None = Field(description="what Vapi says the call cost, in US dollars")
    started_at: datetime | None
    ended_at: datetime | None
    received_at: datetime = Field(description="when the end-of-call report arrived")
    order_ids: list[UUID] = Field(description="the orders the call placed")


class VoiceCallPage(Answer):
    items: list[VoiceCall] = Field(description="newest report first")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last one")
