"""Demo data: one restaurant with a menu, tables and logins. Idempotent.

    python -m scripts.seed            # uses DATABASE_URL (the app role's URL)
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from uuid import UUID

from argon2 import PasswordHasher

from db import delivery, menu, petpooja, platforms, restaurants, tables, users
from db.credentials import CredentialBox, CredentialsUnreadable
from db.errors import NotFound
from db.pool import Database

DEMO_RESTAURANT_ID = UUID("0d5e1a7e-0000-4000-8000-00000000d3e0")
DEMO_PASSWORD = "demo-password-1"  # noqa: S105  # published demo login, printed by the dev runner
DEMO_LOGINS = {"owner@demo.tabletop": "owner", "kitchen@demo.tabletop": "kitchen", "staff@demo.tabletop": "staff"}
ADMIN_LOGIN = "admin@demo.tabletop"
DEMO_MENU = {
    "Starters": [("Paneer Tikka", 24900, "Char-grilled cottage cheese, mint chutney"),
                 ("Masala Papad", 9900, None)],
    "Mains": [("Dal Makhani", 32900, "Black lentils slow-cooked overnight"),
              ("Butter Chicken", 42900, None), ("Veg Biryani", 34900, "With raita")],
    "Drinks": [("Masala Chai", 7900, None), ("Fresh Lime Soda", 9900, "Sweet or salted")],
}

# Where the demo restaurant is and what its deliveries cost (docs/delivery-zones.md): ₹20 up to
# 2 km, ₹40 up to 5 km.
DEMO_ADDRESS = "12 MG Road, Camp, Pune"
DEMO_POINT = (18.5196, 73.8793)
DEMO_FEE_BANDS = [delivery.FeeBand(2000, 2000), delivery.FeeBand(5000, 4000)]

# The demo restaurant's outlet in the local PetPooja stand-in (development only; a real
# outlet's keys come from PetPooja and go in through the connect endpoint).
DEMO_PETPOOJA_REST_ID = "demo-bistro"
DEMO_PETPOOJA_KEYS = {"app_key": "dev-app-key", "app_secret": "dev-app-secret",
                      "access_token": "dev-access-token"}
# The demo restaurant's stores on the local delivery-platform stand-ins, and their credentials
# (development only: each platform issues real ones). DoorDash's signing secret is base64url
# and Grubhub's secret key base64, as they issue them.
DEMO_PLATFORM_STORES: dict[platforms.Platform, tuple[str, dict[str, str]]] = {
    "ubereats": ("demo-bistro-uber", {"client_id": "dev-uber-client", "client_secret": "dev-uber-secret"}),
    "doordash": ("demo-bistro-dd", {"developer_id": "5c7e8a34-6a2b-4d6e-9f3a-2b1c0d9e8f7a",
                                    "key_id": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
                                    "signing_secret": "ZGV2LWRvb3JkYXNoLXNpZ25pbmctc2VjcmV0LTMyYnk",
                                    "webhook_token": "dev-doordash-webhook-token"}),
    "grubhub": ("503736", {"partner_key": "dev-gh-partner", "client_id": "dev-gh-client",
                           "secret_key": "ZGV2LWdydWJodWItc2VjcmV0LWtleS0zMi1ieXRlcyE=",
                           "webhook_secret": "dev-gh-webhook-secret"}),
}
DEMO_UBEREATS_STORE_ID, DEMO_UBEREATS_CLIENT = DEMO_PLATFORM_STORES["ubereats"]


@dataclass
class Demo:
    restaurant_id: UUID
    qr_tokens: dict[str, str]
    item_ids: dict[str, UUID]


async def seed(database_url: str) -> Demo:
    db = Database(database_url, min_size=1, max_size=2)
    await db.open(wait=True)
    try:
        return await _seed(db)
    finally:
        await db.close()


async def _seed(db: Database) -> Demo:
    hasher = PasswordHasher()
    rid = DEMO_RESTAURANT_ID
    async with db.unscoped() as conn:
        ids = {}
        for email in [*DEMO_LOGINS, ADMIN_LOGIN]:
            found = await users.by_email(conn, email)
            if found is None:
                found = await users.create(conn, email=email, password_hash=hasher.hash(DEMO_PASSWORD),
                                           full_name=email.split("@")[0].title())
            ids[email] = found["id"]
        await users.set_platform_admin(conn, ids[ADMIN_LOGIN], True)
    async with db.tenant(rid) as conn:
        try:
            await restaurants.get(conn, rid)
        except NotFound:
            await restaurants.create(conn, restaurant_id=rid, owner_id=ids["owner@demo.tabletop"],
                                     name="Demo Bistro", currency="INR", timezone="Asia/Kolkata", tax_rate_bps=500,
                                     address=DEMO_ADDRESS)
            for email, role in DEMO_LOGINS.items():
                if role != "owner":
                    await restaurants.add_member(conn, restaurant_id=rid, user_id=ids[email], role=role)
            for rank, (category, items) in enumerate(DEMO_MENU.items()):
                cat = await menu.create_category(conn, restaurant_id=rid, name=category, rank=rank)
                for item_rank, (name, price, description) in enumerate(items):
                    await menu.create_item(conn, restaurant_id=rid, fields={
                        "category_id": cat["id"], "name": name, "price": price, "description": description,
                        "rank": item_rank})
            for n in range(1, 7):
                await tables.create(conn, restaurant_id=rid, label=f"T{n}", seats=4)
        if await delivery.get(conn, rid) is None:
            # Delivery within 5 km of the demo restaurant's point, the point the development
            # gazetteer (providers/gazetteer.json) gives its address: "4 East Street, Pune" is inside.
            await delivery.put(conn, rid, enabled=True, lat=DEMO_POINT[0], lng=DEMO_POINT[1], location_source="given",
                               formatted_address=None, radius_m=5000, polygon=None, fee_bands=DEMO_FEE_BANDS)
        table_rows = await tables.list_all(conn, rid)
        categories = await menu.full_menu(conn, rid)
    return Demo(
        restaurant_id=rid,
        qr_tokens={t["label"]: t["qr_token"] for t in table_rows},
        item_ids={i["name"]: i["id"] for c in categories for i in c["items"]},
    )


async def connect_demo_petpooja(database_url: str, box: CredentialBox) -> bool:
    """Connects the demo restaurant to its stand-in outlet (sandbox) unless it already is with
    credentials this key opens; True when it (re)connected. Reconnecting issues a new callback
    secret, so an existing connection is kept."""
    db = Database(database_url, min_size=1, max_size=2)
    await db.open(wait=True)
    try:
        async with db.tenant(DEMO_RESTAURANT_ID) as conn:
            try:
                current = await petpooja.outlet(conn, box, DEMO_RESTAURANT_ID)
            except CredentialsUnreadable:
                current = None  # sealed with another key (a wiped .data/): seal them again
            wanted = petpooja.Credentials(**DEMO_PETPOOJA_KEYS)
            if (current is not None and current.rest_id == DEMO_PETPOOJA_REST_ID
                    and current.environment == "sandbox" and current.credentials == wanted):
                return False
            await petpooja.connect(conn, box, restaurant_id=DEMO_RESTAURANT_ID, rest_id=DEMO_PETPOOJA_REST_ID,
                                   environment="sandbox", credentials=wanted)
            return True
    finally:
        await db.close()


async def connect_demo_platform(database_url: str, box: CredentialBox, platform: platforms.Platform) -> None:
    """Connects the demo restaurant to its store on a platform's stand-in, which queues a
    publish of the whole menu (the stand-ins start empty every run)."""
    store_id, credentials = DEMO_PLATFORM_STORES[platform]
    db = Database(database_url, min_size=1, max_size=2)
    await db.open(wait=True)
    try:
        async with db.tenant(DEMO_RESTAURANT_ID) as conn:
            await platforms.connect(conn, box, restaurant_id=DEMO_RESTAURANT_ID, platform=platform,
                                    store_id=store_id, credentials=platforms.Credentials(credentials))
    finally:
        await db.close()


if __name__ == "__main__":
    demo = asyncio.run(seed(os.environ["DATABASE_URL"]))
    print(f"demo restaurant {demo.restaurant_id}; QR tokens {demo.qr_tokens}")
