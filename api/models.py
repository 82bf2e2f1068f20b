"""Request models: the edge where input is checked. Every field is bounded, unknown
fields are refused, and nothing the client says about prices or totals is accepted.

Every text field is one of two kinds (``SingleLine``, ``MultiLine``): Postgres refuses NUL in
text (it was a 500), and a control character in a name is at best invisible and at worst an
escape sequence on an operator's terminal. Single-line text (names, labels, emails, tokens)
refuses every control character (Unicode Cc: C0, DEL, C1) and the Unicode line and paragraph
separators; multi-line text (notes, descriptions, reasons, addresses) keeps tab, line feed and
carriage return. Both answer 422 naming the field, and the OpenAPI document shows the same rule
as the field's ``pattern``."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date as LocalDate
from datetime import datetime, time
from itertools import pairwise
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from db.lifecycle import Status


@dataclass(frozen=True)
class _Refuses:
    """A text field that refuses the characters of ``chars`` (a regex character-class body).

    Validation and the OpenAPI document read the same class: the one is a 422 naming the field,
    the other the field's ``pattern``."""

    chars: str
    message: str
    # Documented as needing a character that is not white space: the field is stripped and must
    # not end up empty (the 422 for "   " is then what the document promises).
    nonblank: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        refused = re.compile(f"[{self.chars}]")
        message = self.message

        def check(value: str) -> str:
            if refused.search(value):
                raise PydanticCustomError("control_character", message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = (f"^[^{self.chars}]*[^\\s{self.chars}][^{self.chars}]*$" if self.nonblank
                                  else f"^[^{self.chars}]*$")
        return json_schema


# Unicode Cc (C0 controls, DEL, C1 controls) and the line and paragraph separators U+2028/U+2029.
SINGLE_LINE = _Refuses(r"\x00-\x1f\x7f-\x9f\u2028\u2029",
                       "must be one line of text without control characters")
# Multi-line text keeps tab, line feed, carriage return and the Unicode separators.
MULTI_LINE = _Refuses(r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f",
                      "must be text without control characters (tab and line breaks are allowed)")
SingleLine = Annotated[str, SINGLE_LINE]
MultiLine = Annotated[str, MULTI_LINE]
SINGLE_LINE_NONBLANK = replace(SINGLE_LINE, nonblank=True)
MULTI_LINE_NONBLANK = replace(MULTI_LINE, nonblank=True)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), SINGLE_LINE_NONBLANK]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), MULTI_LINE]
def _whole(value: object) -> object:
    # JSON has one kind of number: 48.0 is the integer 48, as JSON Schema (the OpenAPI document) reads
    # it. 48.5, "48" and 1e400 are still refused.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = BeforeValidator(_whole)
Money = Annotated[int, Field(ge=0, le=100_000_000_00), Whole]
Rank = Annotated[int, Field(ge=-1_000_000, le=1_000_000), Whole]
TaxRate = Annotated[int, Field(ge=0, le=10_000), Whole]
Seats = Annotated[int, Field(ge=1, le=100), Whole]
Role = Literal["owner", "manager", "staff", "kitchen"]


def _timezone(value: str) -> str:
    if value not in zoneinfo.available_timezones():
        raise ValueError("not an IANA time zone")
    return value


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# The document lists the zones this server knows, from the same zoneinfo database the check reads.
TimeZone = Annotated[str, StringConstraints(max_length=64), SINGLE_LINE, AfterValidator(_timezone),
                     WithJsonSchema({"type": "string", "enum": sorted(zoneinfo.available_timezones())})]


class Input(BaseModel):
    # strict: "2" is not a quantity. JSON strings still parse as UUIDs and datetimes.
    model_config = ConfigDict(extra="forbid", strict=True)


# An email address as this API takes it, documented as exactly this pattern: ASCII, a local part
# of RFC 5322's atom characters, a dotted domain of letters, digits and hyphens. No deliverability
# or special-use-domain rule the document could not state (the contract fuzz found EmailStr refusing
# addresses its `format: email` allowed).
EMAIL_PATTERN = (r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                 r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


class Register(Input):
    email: Email
    password: Annotated[str, StringConstraints(min_length=10, max_length=256), SINGLE_LINE]
    full_name: Name

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class Login(Input):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254), SINGLE_LINE]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256), SINGLE_LINE]


class Refresh(Input):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=256), SINGLE_LINE]


Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{5,20}$")]

Password = Annotated[str, StringConstraints(min_length=10, max_length=256), SINGLE_LINE]
# A password someone types to prove who they are: any length a Register accepted before.
CurrentPassword = Annotated[str, StringConstraints(min_length=1, max_length=256), SINGLE_LINE]


class ProfilePatch(Input):
    """A customer's own account. Changing the email needs the current password; null clears the
    phone and leaves the name and email as they are (as RestaurantPatch's name)."""

    full_name: Name | None = None
    phone: Phone | None = None
    email: Email | None = None
    current_password: CurrentPassword | None = None

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


class PasswordChange(Input):
    current_password: CurrentPassword
    new_password: Password


class PasswordReset(Input):
    # Any well-formed address: the answer is the same whether it has an account or not.
    email: Email

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class PasswordResetConfirm(Input):
    token: Annotated[str, StringConstraints(min_length=1, max_length=256), SINGLE_LINE]
    new_password: Password
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), MULTI_LINE_NONBLANK]


class NewRestaurant(Input):
    name: Name
    currency: Currency
    timezone: TimeZone
    tax_rate_bps: TaxRate = 0
    address: Address | None = None
    phone: Phone | None = None


# A public https URL (a logo an app loads, a website it links to): no credentials, no spaces.
HttpsUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[\x21-\x7e]*)?$")]
City = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SINGLE_LINE_NONBLANK]


class RestaurantPatch(Input):
    """accepting_orders and its reason are the store switch (PetPooja's, or POST .../pause and
    .../resume): read-only here."""

    name: Name | None = None
    currency: Currency | None = None
    timezone: TimeZone | None = None
    tax_rate_bps: TaxRate | None = None
    dine_in_enabled: bool | None = None
    # Online orders reach the kitchen and the POS only once paid (docs/payments.md).
    payment_required: bool | None = None
    # null clears them.
    address: Address | None = None
    phone: Phone | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), MULTI_LINE] | None = None
    city: City | None = None
    website: HttpsUrl | None = None
    logo_url: HttpsUrl | None = None


_MINUTES_A_WEEK = 7 * 24 * 60


class OpeningRange(Input):
    """One opening range on a weekday (0 = Monday), in the restaurant's local time. closes at or
    before opens runs past midnight into the next day (18:00-02:00); 00:00-00:00 is 24 hours."""

    weekday: Annotated[int, Field(ge=0, le=6), Whole]
    opens: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    closes: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]

    def span(self) -> tuple[int, int]:
        """Minutes from Monday 00:00 local: start and end (the end may pass the week's end)."""
        opens = int(self.opens[:2]) * 60 + int(self.opens[3:])
        closes = int(self.closes[:2]) * 60 + int(self.closes[3:])
        start = self.weekday * 1440 + opens
        return start, start + ((closes - opens) % 1440 or 1440)


class OpeningHours(Input):
    """The whole week (replaces what was stored); an empty list means always open."""

    hours: Annotated[list[OpeningRange], Field(max_length=70)]

    def overlapping(self) -> int | None:
        """The index of a range that overlaps an earlier-starting one, if any: a rule the schema
        cannot state, so the handler answers it as 422 overlapping_hours, not validation_error."""
        spans = sorted((r.span(), i) for i, r in enumerate(self.hours))
        # The week wraps: Sunday 22:00-02:00 runs into Monday.
        wrapped = spans + [((start + _MINUTES_A_WEEK, end + _MINUTES_A_WEEK), i) for (start, end), i in spans[:1]]
        for ((_, end), _), ((start, _), later) in pairwise(wrapped):
            if start < end:
                return later
        return None


class Pause(Input):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), MULTI_LINE_NONBLANK]
    reopens_at: datetime | None = None

    @field_validator("reopens_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-01-01T18:00:00Z")
        return value


class VenueQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), SINGLE_LINE] | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), SINGLE_LINE] | None = None
    open_now: bool | None = None
    dine_in: bool | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, StringConstraints(max_length=400), SINGLE_LINE] | None = None


class SaveVenue(Input):
    restaurant_id: UUID
    favourite: bool = False


class Favourite(Input):
    favourite: bool


class ShareLinkRequest(Input):
    rotate: bool = False


class NewMember(Input):
    """An invitation: the email is normalised as registration stores it, so the invitee's
    account (now or once registered) is found by it."""

    email: Email
    role: Role

    @field_validator("email")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


TableLabel = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40), SINGLE_LINE_NONBLANK]


class NewTable(Input):
    label: TableLabel
    seats: Seats | None = None


class TablePatch(Input):
    label: TableLabel | None = None
    seats: Seats | None = None
    is_active: bool | None = None
    rotate_qr_token: bool = False


Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), MULTI_LINE]


class NewCategory(Input):
    name: Name
    rank: Rank = 0
    description: Description | None = None


class CategoryPatch(Input):
    name: Name | None = None
    rank: Rank | None = None
    description: Description | None = None


# The 14 allergens of EU regulation 1169/2011 (Annex II), as codes (docs/menu.md); schema.sql's
# menu_items_allergens_valid holds the same list.
Allergen = Literal["celery", "gluten", "crustaceans", "eggs", "fish", "lupin", "milk", "molluscs", "mustard",
                   "tree_nuts", "peanuts", "sesame", "soybeans", "sulphites"]


def _distinct_allergens(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("an allergen is named more than once")
    return value


def _without_repeats(value: list[str]) -> list[str]:
    """Ingredients once each (the first spelling kept): "Salt" and "salt " are one ingredient, a
    rule the document cannot state, so a repeat is dropped rather than refused."""
    kept: dict[str, str] = {}
    for v in value:
        kept.setdefault(v.casefold(), v)
    return list(kept.values())


@dataclass(frozen=True)
class _UniqueItems:
    """Documents that a list's items are distinct (the validator beside it refuses a repeat)."""

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler,
    ) -> JsonSchemaValue:
        found = handler(schema)
        found["uniqueItems"] = True
        return found


Ingredient = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), SINGLE_LINE_NONBLANK]
Ingredients = Annotated[list[Ingredient], Field(max_length=50), AfterValidator(_without_repeats)]
Allergens = Annotated[list[Allergen], Field(max_length=14), AfterValidator(_distinct_allergens), _UniqueItems()]
PrepMinutes = Annotated[int, Field(ge=0, le=600), Whole]


class NewMenuItem(Input):
    category_id: UUID
    name: Name
    price: Money
    description: Description | None = None
    is_available: bool = True
    rank: Rank = 0
    image_url: HttpsUrl | None = None
    ingredients: Ingredients = []
    allergens: Allergens = []
    prep_minutes: PrepMinutes | None = None


class MenuItemPatch(Input):
    category_id: UUID | None = None
    name: Name | None = None
    price: Money | None = None
    description: Description | None = None
    is_available: bool | None = None
    rank: Rank | None = None
    image_url: HttpsUrl | None = None  # null removes the picture
    ingredients: Ingredients | None = None  # the whole list; [] empties it
    allergens: Allergens | None = None  # the whole list; [] empties it
    prep_minutes: PrepMinutes | None = None  # null: not said


class Availability(Input):
    is_available: bool


def _distinct(value: list[UUID]) -> list[UUID]:
    if len(set(value)) != len(value):
        raise ValueError("an addon is named more than once")
    return value


class OrderLine(Input):
    menu_item_id: UUID
    quantity: Annotated[int, Field(ge=1, le=99), Whole]
    notes: ShortText | None = None
    # Which variation and addons of the item; their prices come from the menu, never from here.
    variation_id: UUID | None = None
    addon_ids: Annotated[list[UUID], Field(max_length=50), AfterValidator(_distinct)] = []


# ------------------------------------------------------------ delivery (docs/delivery-zones.md)

AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                        SINGLE_LINE_NONBLANK]
# Postcodes the world over: letters, digits, spaces and hyphens ("411001", "SW1A 1AA", "10115", "1010-123").
Postcode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,15}$")]


class DeliveryAddress(Input):
    """Where a delivery order goes. line1, line2, city and postcode are geocoded (in that order,
    comma-separated); instructions are for the rider only."""

    line1: AddressLine
    line2: AddressLine | None = None
    city: City
    postcode: Postcode | None = None
    instructions: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), MULTI_LINE] | None = None

    def geocoding_query(self) -> str:
        return ", ".join(part for part in (self.line1, self.line2, self.city, self.postcode) if part)


Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class GeoPoint(Input):
    lat: Latitude
    lng: Longitude


class FeeBandIn(Input):
    up_to_m: Annotated[int, Field(ge=1, le=1_000_000), Whole]
    fee: Money


class DeliveryZoneIn(Input):
    """A restaurant's delivery zone. ``location`` absent or null: geocode the restaurant's address."""

    enabled: bool
    location: GeoPoint | None = None
    radius_m: Annotated[int, Field(ge=1, le=100_000), Whole] | None = None
    # GeoJSON's order: [lng, lat] (lat within ±90 is checked with the ring); closed (the last point
    # repeats the first), not crossing itself.
    polygon: Annotated[list[Annotated[list[Longitude], Field(min_length=2, max_length=2)]],
                       Field(min_length=4, max_length=100)] | None = None
    fee_bands: Annotated[list[FeeBandIn], Field(max_length=20)] = []


class NewOrder(Input):
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    customer_name: Name | None = None
    customer_phone: Phone | None = None
    notes: ShortText | None = None
    order_type: Literal["dine_in", "takeaway", "delivery"] | None = None
    tip: Money = 0
    table_id: UUID | None = None
    # When a takeaway order is to be collected: rounded up to PICKUP_STEP, within opening hours,
    # not past and at most PICKUP_HORIZON ahead (the handler answers those rules' own codes).
    pickup_at: AwareDatetime | None = None
    # How the order is paid: online (Stripe, through POST .../orders/{oid}/payment), cash, or
    # counter (the default: paid to the staff). docs/payments.md.
    payment_method: Literal["online", "cash", "counter"] | None = None
    # Required for order_type delivery, refused for the others; geocoded and checked against the
    # restaurant's delivery zone (docs/delivery-zones.md).
    delivery_address: DeliveryAddress | None = None


class MarkPaid(Input):
    """Staff took the payment: in cash (the default) or otherwise at the counter."""

    method: Literal["cash", "counter"] = "cash"


class PreOrder(Input):
    """A reservation's pre-order: fired to the kitchen when the party is seated, or
    ``fire_minutes_before`` the reservation's slot if given (docs/reservations.md)."""

    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    notes: ShortText | None = None
    fire_minutes_before: Annotated[int, Field(ge=0, le=240), Whole] | None = None


class StatusMove(Input):
    status: Status
    reason: ShortText | None = None


class Cancel(Input):
    reason: ShortText | None = None


class OrderQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[Status] | None = None
    since: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=200), SINGLE_LINE] | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # ?status=pending,confirmed and ?status=pending&status=confirmed both work.
        if isinstance(value, str):
            return [s for s in value.split(",") if s]
        if isinstance(value, list):
            return [s for v in value for s in str(v).split(",") if s]
        return value

    @field_validator("since")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-01-01T00:00:00Z")
        return value


# PetPooja's restID is a short mapping code; its keys and token are opaque tokens without spaces.
PetpoojaRestId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# A partner's key, secret or token: printable ASCII without spaces.
PartnerSecret = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]


class PetpoojaConnect(Input):
    rest_id: PetpoojaRestId
    app_key: PartnerSecret
    app_secret: PartnerSecret
    access_token: PartnerSecret
    environment: Literal["sandbox", "production"]

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # repr() and str() never show the secrets (a failed assertion, a traceback's locals).
        return [("rest_id", self.rest_id), ("environment", self.environment)]


# A delivery platform's store id (platform_connections_store_id_valid).
PlatformStoreId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]


class PlatformConnect(Input):
    """A store on a delivery platform and its credentials there: each platform's body adds
    its credential fields, and every field but ``store_id`` is sealed."""

    store_id: PlatformStoreId

    def credentials(self) -> dict[str, str]:
        return {name: value for name, value in self.model_dump().items() if name != "store_id"}

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # repr() and str() never show the secrets (a failed assertion, a traceback's locals).
        return [("store_id", self.store_id)]


class UberEatsConnect(PlatformConnect):
    client_id: PartnerSecret
    client_secret: PartnerSecret


class DoorDashConnect(PlatformConnect):
    """A DoorDash access key (developer id, key id, signing secret: the Developer Portal's
    "Copy" gives all three) and the token DoorDash's webhooks carry as ``Authorization: Bearer``
    (set by the restaurant on its webhook subscription)."""

    developer_id: PartnerSecret
    key_id: PartnerSecret
    signing_secret: PartnerSecret
    webhook_token: PartnerSecret


# (DoorDash's connect body: above this line)


class GrubhubConnect(PlatformConnect):
    """``store_id`` is the Grubhub merchant id; ``webhook_secret`` keys Grubhub's webhooks to us."""

    partner_key: PartnerSecret
    client_id: PartnerSecret
    secret_key: PartnerSecret
    webhook_secret: PartnerSecret


# (Grubhub's connect body: above this line)


class PageQuery(BaseModel):
    """A page of a list newest first: ?limit= and the previous page's next_cursor."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: Annotated[str, StringConstraints(max_length=200), SINGLE_LINE] | None = None
# ------------------------------------------------------------------ slots and reservations


class SlotRule(Input):
    """Slots start at ``start_time`` and every ``interval_minutes`` of local wall-clock time
    while before ``end_time``; at least one of the two limits applies to each slot."""

    weekday: Annotated[int, Field(ge=0, le=6), Whole]  # 0 Monday .. 6 Sunday
    start_time: time
    end_time: time
    interval_minutes: Annotated[int, Field(ge=5, le=720), Whole]
    max_reservations: Annotated[int, Field(ge=1, le=10_000), Whole] | None = None
    max_covers: Annotated[int, Field(ge=1, le=100_000), Whole] | None = None

    def problem(self) -> str | None:
        """What is wrong with the rule beyond its fields' own schemas (the handler answers it as
        422 invalid_slot_rule: rules between fields the schema cannot state)."""
        if self.start_time.tzinfo is not None or self.end_time.tzinfo is not None:
            return "times are local wall-clock times, without an offset"
        if self.start_time >= self.end_time:
            return "start_time must be before end_time"
        if self.max_reservations is None and self.max_covers is None:
            return "give max_reservations, max_covers or both"
        return None


class SlotRules(Input):
    rules: Annotated[list[SlotRule], Field(max_length=100)]


class SlotQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: LocalDate


Preference = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SINGLE_LINE]


class NewReservation(Input):
    slot_start: AwareDatetime
    party_size: Annotated[int, Field(ge=1, le=50), Whole]
    table_preference: Preference | None = None
    note: ShortText | None = None
    name: Name | None = None  # required when staff book for a guest
    phone: Phone | None = None


ReservationStatus = Literal["pending", "confirmed", "seated", "completed", "cancelled", "no_show"]


class ReservationMove(Input):
    status: ReservationStatus
    reason: ShortText | None = None
    # With seated: the table the party sits at, where its pre-order is served (and shown).
    table_id: UUID | None = None


class DayQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: LocalDate


class NewExport(Input):
    """Orders placed between two local dates (the restaurant's time zone), both included."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    from_date: LocalDate = Field(alias="from")
    to_date: LocalDate = Field(alias="to")
    format: Literal["xlsx", "csv"] = "xlsx"


class ExportDownload(BaseModel):
    """A signed download URL's query: its expiry (Unix seconds) and signature."""

    model_config = ConfigDict(extra="forbid")

    expires: Annotated[int, Field(ge=0, le=10**11)]
    sig: Annotated[str, StringConstraints(max_length=128), SINGLE_LINE]
