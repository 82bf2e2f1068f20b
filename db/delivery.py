"""Delivery zones: where a restaurant delivers and what it charges (docs/delivery-zones.md).

A zone is the restaurant's point, an area (a radius in meters around it, or a polygon of
[lng, lat] points) and fee bands by distance. This module judges a delivery point against a
zone (pure: no I/O), checks a polygon and bands before they are stored, and reads and writes
the ``delivery_zones`` row.

Geometry:
- Distances are great-circle distances on a sphere of the Earth's mean radius (haversine,
  6,371,008.8 m), rounded to whole meters. Off by at most about 0.5% from the ellipsoid, which
  is meters at a city's scale: a delivery fee band, not a survey.
- A polygon is tested with shapely in plain (lng, lat) coordinates: its edges are straight in
  longitude/latitude rather than geodesics, which at a delivery zone's size (kilometers, far
  from the poles and the antimeridian) moves a border by centimeters. A point on the border is
  inside (``covers``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from shapely import Point, Polygon

from db import queries as q
from db.queries import Conn, Row

EARTH_RADIUS_M = 6_371_008.8
MAX_POLYGON_POINTS = 100  # a drawn zone has tens; bounded so a zone stays a small row to read per order
MAX_FEE_BANDS = 20
MAX_RADIUS_M = 100_000


@dataclass(frozen=True)
class FeeBand:
    up_to_m: int
    fee: int


@dataclass(frozen=True)
class Zone:
    enabled: bool
    lat: float
    lng: float
    radius_m: int | None
    polygon: tuple[tuple[float, float], ...] | None  # [lng, lat] points, closed
    fee_bands: tuple[FeeBand, ...]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Zone:
        """A zone from its row, or from order_context's ``delivery_zone`` JSON."""
        polygon = row.get("polygon")
        return cls(
            enabled=bool(row["enabled"]), lat=float(row["lat"]), lng=float(row["lng"]),
            radius_m=None if row.get("radius_m") is None else int(row["radius_m"]),
            polygon=None if polygon is None else tuple((float(p[0]), float(p[1])) for p in polygon),
            fee_bands=tuple(FeeBand(int(b["up_to_m"]), int(b["fee"])) for b in row.get("fee_bands") or []),
        )


@dataclass(frozen=True)
class Quote:
    """A delivery point judged against a zone: whether it is inside, how far it is, and the fee."""

    inside: bool
    distance_m: int
    fee: int


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """The great-circle distance in whole meters (haversine on the mean Earth sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))


def fee_for(bands: Sequence[FeeBand], distance: int) -> int:
    """The fee of the first band reaching ``distance``; past the last band, the last band's fee
    (a stored zone's bands reach its farthest point, so only rounding gets there); no bands: free."""
    for band in bands:
        if distance <= band.up_to_m:
            return band.fee
    return bands[-1].fee if bands else 0


def quote(zone: Zone, lat: float, lng: float) -> Quote:
    distance = distance_m(zone.lat, zone.lng, lat, lng)
    if zone.polygon is not None:
        inside = bool(Polygon(zone.polygon).covers(Point(lng, lat)))
    else:
        inside = zone.radius_m is not None and distance <= zone.radius_m
    return Quote(inside, distance, fee_for(zone.fee_bands, distance) if inside else 0)


def polygon_problem(points: Sequence[Sequence[float]]) -> str | None:
    """What is wrong with a zone polygon ([lng, lat] points), or None."""
    if len(points) < 4:
        return "a polygon needs at least 4 points: 3 corners and the first one again to close it"
    if len(points) > MAX_POLYGON_POINTS:
        return f"a polygon has at most {MAX_POLYGON_POINTS} points"
    if any(not -90 <= p[1] <= 90 for p in points):
        return "a point is [lng, lat]: its latitude must be between -90 and 90"
    if tuple(points[0]) != tuple(points[-1]):
        return "a polygon must be closed: its last point repeats its first"
    shape = Polygon(points)
    if not shape.is_valid:
        return "a polygon must not cross itself"  # shapely's invalid rings: self-intersections, spikes
    if shape.area == 0:
        return "a polygon must enclose an area"
    return None


def farthest_m(lat: float, lng: float, points: Sequence[Sequence[float]]) -> int:
    """The distance from (lat, lng) to the farthest point of a polygon: at one of its corners."""
    return max(distance_m(lat, lng, p[1], p[0]) for p in points)


async def get(conn: Conn, restaurant_id: UUID) -> Row | None:
    return await q.maybe_one(conn, "get_delivery_zone", restaurant_id=restaurant_id)


async def put(conn: Conn, restaurant_id: UUID, *, enabled: bool, lat: float, lng: float, location_source: str,
              formatted_address: str | None, radius_m: int | None, polygon: Sequence[Sequence[float]] | None,
              fee_bands: Sequence[FeeBand]) -> Row:
    return await q.one(
        conn, "put_delivery_zone", restaurant_id=restaurant_id, enabled=enabled, lat=lat, lng=lng,
        location_source=location_source, formatted_address=formatted_address, radius_m=radius_m,
        polygon=None if polygon is None else orjson.dumps([list(p) for p in polygon]).decode(),
        fee_bands=orjson.dumps([{"up_to_m": b.up_to_m, "fee": b.fee} for b in fee_bands]).decode(),
    )
