"""A restaurant's delivery zone (owners and managers set it, its people read it), and the
geocoding both it and delivery orders use (docs/delivery-zones.md)."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.access import MEMBERS, OWNER_MANAGER, restaurant_scope
from api.access import path_restaurant_id as _rid
from api.bodies import json_body
from api.errors import ApiError
from api.models import DeliveryZoneIn
from api.responses import JSON
from api.state import services
from db import delivery, restaurants
from providers.geo import Geocoder, GeocoderUnavailable, Place

log = structlog.get_logger("api")

# How soon a client may try again after the geocoder did not answer.
GEOCODER_RETRY_AFTER_S = 5


def geocoder_unavailable(exc: GeocoderUnavailable) -> ApiError:
    """The 503 of a geocoder outage: not the caller's fault, nothing written, try again soon."""
    log.warning("geocoder_unavailable", reason=str(exc))
    return ApiError(503, "geocoder_unavailable",
                    "addresses cannot be checked right now (the geocoding service did not answer); try again shortly",
                    headers={"Retry-After": str(GEOCODER_RETRY_AFTER_S)})


def address_not_found(field: list[str | int], detail: str) -> ApiError:
    return ApiError(422, "address_not_found", detail,
                    errors=[{"loc": field, "msg": detail, "type": "address_not_found"}])


async def locate(geocoder: Geocoder, address: str) -> Place | None:
    """The geocoder's place for ``address`` (None: not found); its outage as the 503."""
    try:
        return await geocoder.geocode(address)
    except GeocoderUnavailable as exc:
        raise geocoder_unavailable(exc) from exc


def _zone_problem(field: str, code: str, detail: str) -> ApiError:
    return ApiError(422, code, detail, errors=[{"loc": ["body", field], "msg": detail, "type": code}])


def _check_shape(body: DeliveryZoneIn) -> None:
    if (body.radius_m is None) == (body.polygon is None):
        raise _zone_problem("radius_m", "zone_shape", "give the zone as exactly one of radius_m or polygon")
    if body.polygon is not None:
        wrong = delivery.polygon_problem(body.polygon)
        if wrong is not None:
            raise _zone_problem("polygon", "invalid_polygon", wrong)
    reaches = [band.up_to_m for band in body.fee_bands]
    if any(b <= a for a, b in pairwise(reaches)):
        raise _zone_problem("fee_bands", "fee_bands_not_ascending", "fee bands go strictly ascending by up_to_m")


def _check_bands_reach(body: DeliveryZoneIn, lat: float, lng: float) -> None:
    """Every point of the zone has a fee: the last band reaches the zone's farthest point."""
    if not body.fee_bands:
        return  # no bands: delivery is free everywhere in the zone
    farthest = body.radius_m if body.polygon is None else delivery.farthest_m(lat, lng, body.polygon)
    assert farthest is not None
    if body.fee_bands[-1].up_to_m < farthest:
        raise _zone_problem(
            "fee_bands", "fee_bands_short",
            f"the last fee band reaches {body.fee_bands[-1].up_to_m} m but the zone reaches {farthest} m from the "
            "restaurant: every point of the zone needs a fee")


def _restaurant_address(row: dict[str, Any]) -> str | None:
    address, city = row.get("address"), row.get("city")
    if not address:
        return None
    if city and city.casefold() not in address.casefold():
        return f"{address}, {city}"
    return str(address)


async def put_delivery_zone(request: Request) -> Response:
    rid = _rid(request)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        body = await json_body(request, DeliveryZoneIn)
        _check_shape(body)
        if body.location is not None:
            _check_bands_reach(body, body.location.lat, body.location.lng)
            row = await _put(scope.conn, rid, body, body.location.lat, body.location.lng, "given", None)
            return JSON(row)
        address = _restaurant_address(await restaurants.get(scope.conn, rid))
    if address is None:
        raise _zone_problem("location", "restaurant_address_missing",
                            "give location {lat, lng}, or set the restaurant's address to have it geocoded")
    # Outside any transaction: an outbound call with its own timeout.
    place = await locate(services(request).providers.geo, address)
    if place is None:
        raise address_not_found(["body", "location"], "the restaurant's address was not found; give location "
                                "{lat, lng} instead, or correct the address")
    _check_bands_reach(body, place.lat, place.lng)
    async with restaurant_scope(request, rid, OWNER_MANAGER) as scope:
        row = await _put(scope.conn, rid, body, place.lat, place.lng, "geocoded", place.formatted_address)
    return JSON(row)


async def _put(conn: Any, rid: Any, body: DeliveryZoneIn, lat: float, lng: float, source: str,
               formatted_address: str | None) -> dict[str, Any]:
    return await delivery.put(
        conn, rid, enabled=body.enabled, lat=lat, lng=lng, location_source=source,
        formatted_address=formatted_address, radius_m=body.radius_m, polygon=body.polygon,
        fee_bands=[delivery.FeeBand(b.up_to_m, b.fee) for b in body.fee_bands])


async def get_delivery_zone(request: Request) -> Response:
    async with restaurant_scope(request, _rid(request), MEMBERS) as scope:
        row = await delivery.get(scope.conn, _rid(request))
    if row is None:
        raise ApiError(404, "not_found", "this restaurant has no delivery zone yet")
    return JSON(row)


routes = [
    Route("/api/restaurants/{rid:uuid}/delivery-zone", put_delivery_zone, methods=["PUT"]),
    Route("/api/restaurants/{rid:uuid}/delivery-zone", get_delivery_zone, methods=["GET"]),
]
