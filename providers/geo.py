"""Geocoding: a delivery address -> a point on the map (docs/delivery-zones.md).

- ``GoogleGeocoder``: Google's Geocoding API (``GET {GOOGLE_GEOCODING_URL}?address=...&key=...``,
  JSON), over httpx with a hard timeout. Production and staging need ``GOOGLE_MAPS_API_KEY``.
- ``GazetteerGeocoder``: development and test. A fixed gazetteer (providers/gazetteer.json, the
  same file the Geocoding stand-in, scripts/geocoding_standin.py, answers from), looked up in
  process: deterministic, no process to start, nothing leaves the machine. Setting
  ``GOOGLE_GEOCODING_URL`` in development or test builds the real client against that URL
  instead (the stand-in), which is how the client itself is tested.

A geocoder answers a ``Place``, or None when the address matches nothing (ZERO_RESULTS), and
raises ``GeocoderUnavailable`` when it cannot answer at all (down, 5xx, timeout, quota, a
refused key): that is never the guest's fault, and the API turns it into 503.

The API key goes in the query string, where Google's documentation puts it. It must never
reach a log: our own errors never carry the URL, and a filter on httpx's logger (which logs
every request's URL at INFO) masks ``key=`` there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from providers.config import ProviderConfigError, real, require

GAZETTEER_PATH = Path(__file__).resolve().parent / "gazetteer.json"
GOOGLE_GEOCODING_URL = "https://maps.googleapis.com/maps/api/geocode/json"
DEFAULT_TIMEOUT_S = 3.0
# What a development client sends when no key is configured (the stand-in accepts any non-blank key).
DEV_KEY = "dev-geocoding-key"
# Statuses that say Google could not answer now (or will not answer this key): not the address's fault.
_UNAVAILABLE = {"OVER_QUERY_LIMIT", "OVER_DAILY_LIMIT", "REQUEST_DENIED", "UNKNOWN_ERROR"}
# INVALID_REQUEST "generally indicates that the query is missing": we always send one, so it is
# the address Google could not read, answered as not found.
_NOT_FOUND = {"ZERO_RESULTS", "INVALID_REQUEST"}


@dataclass(frozen=True)
class Place:
    """Where an address is: Google's formatted address, WGS84 degrees, and how sure it is."""

    formatted_address: str
    lat: float
    lng: float
    place_id: str = ""
    location_type: str = "APPROXIMATE"  # ROOFTOP, RANGE_INTERPOLATED, GEOMETRIC_CENTER, APPROXIMATE
    partial_match: bool = False


class GeocoderUnavailable(Exception):
    """The geocoder gave no usable answer (down, 5xx, timeout, quota, refused key). The message
    names the cause and never the request's URL (it holds the key)."""


class Geocoder(Protocol):
    async def geocode(self, address: str) -> Place | None:
        """The address's place; None when nothing matches; GeocoderUnavailable on an outage."""
        ...


def normalised(address: str) -> str:
    """An address as the gazetteer keys it: NFKC, case-folded, runs of spaces and commas as one ', '."""
    text = unicodedata.normalize("NFKC", address).casefold()
    parts = [" ".join(part.split()) for part in re.split(r"[,\n]", text)]
    return ", ".join(part for part in parts if part)


def load_gazetteer(path: Path = GAZETTEER_PATH) -> dict[str, dict[str, Any]]:
    """The gazetteer's entries by normalised address (each written as Google's result object)."""
    entries: list[dict[str, Any]] = json.loads(path.read_text())["entries"]
    return {normalised(alias): entry["result"] for entry in entries for alias in entry["addresses"]}


def place_of(result: Mapping[str, Any]) -> Place:
    """A Google result object as a Place (KeyError/TypeError/ValueError when it is not one)."""
    geometry = result["geometry"]
    location = geometry["location"]
    lat, lng = float(location["lat"]), float(location["lng"])
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError("coordinates out of range")
    return Place(
        formatted_address=str(result["formatted_address"]), lat=lat, lng=lng,
        place_id=str(result.get("place_id") or ""),
        location_type=str(geometry.get("location_type") or "APPROXIMATE"),
        partial_match=bool(result.get("partial_match", False)),
    )


class GazetteerGeocoder:
    """Development and test: the fixed gazetteer, looked up in process by normalised address."""

    def __init__(self, path: Path = GAZETTEER_PATH):
        self.places = {key: place_of(result) for key, result in load_gazetteer(path).items()}

    async def geocode(self, address: str) -> Place | None:
        return self.places.get(normalised(address))


class _RedactKey(logging.Filter):
    """Masks ``key=...`` in httpx's request lines (it logs each request's URL at INFO)."""

    _KEY = re.compile(r"([?&]key=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(self._KEY.sub(r"\1***", str(a)) if "key=" in str(a) else a for a in args)
        if isinstance(record.msg, str) and "key=" in record.msg:
            record.msg = self._KEY.sub(r"\1***", record.msg)
        return True


_REDACT = _RedactKey()


def _guard_logs() -> None:
    logger = logging.getLogger("httpx")
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)


class GoogleGeocoder:
    """Google's Geocoding API: one GET per address, with a hard timeout.

    A client per call, built on one TLS context made here (the expensive part of a client):
    nothing to close when the app stops, and a geocode is one call per delivery order."""

    def __init__(self, key: str, *, url: str = GOOGLE_GEOCODING_URL, timeout_s: float = DEFAULT_TIMEOUT_S,
                 region: str | None = None):
        self._key = key
        self.url = url
        self.timeout_s = timeout_s
        self.region = region
        self._tls = ssl.create_default_context()
        _guard_logs()

    def __repr__(self) -> str:  # never the key
        return f"GoogleGeocoder(url={self.url!r}, timeout_s={self.timeout_s})"

    async def geocode(self, address: str) -> Place | None:
        params = {"address": address, "key": self._key}
        if self.region:
            params["region"] = self.region
        try:
            # httpx's timeout bounds each phase (connect, each read); asyncio's bounds the whole call,
            # so an answer trickling in is cut off too.
            async with asyncio.timeout(self.timeout_s), httpx.AsyncClient(
                    timeout=self.timeout_s, verify=self._tls, follow_redirects=False) as http:
                answer = await http.get(self.url, params=params)
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise GeocoderUnavailable(f"no answer within {self.timeout_s:g} s") from exc
        except httpx.HTTPError as exc:
            raise GeocoderUnavailable(f"could not reach the geocoder ({type(exc).__name__})") from exc
        if answer.status_code != 200:
            raise GeocoderUnavailable(f"the geocoder answered HTTP {answer.status_code}")
        try:
            body = answer.json()
        except ValueError as exc:
            raise GeocoderUnavailable("the geocoder's answer is not JSON") from exc
        status = body.get("status") if isinstance(body, dict) else None
        if status in _NOT_FOUND:
            return None
        if status in _UNAVAILABLE:
            # error_message is Google's own text about our request; kept short, and masked should it
            # ever quote the key.
            message = str(body.get("error_message") or "")[:200]
            if self._key.strip():
                message = message.replace(self._key, "***")
            raise GeocoderUnavailable(f"the geocoder answered {status}" + (f": {message}" if message else ""))
        if status != "OK":
            raise GeocoderUnavailable(f"the geocoder answered an unknown status {str(status)[:40]!r}")
        results = body.get("results")
        if not isinstance(results, list) or not results:
            return None
        try:
            return place_of(results[0])
        except (KeyError, TypeError, ValueError) as exc:
            raise GeocoderUnavailable("the geocoder's first result has no usable location") from exc


def load(environ: Mapping[str, str]) -> Geocoder:
    """Production and staging: Google with GOOGLE_MAPS_API_KEY (refusing to start without it).
    Development and test: the gazetteer, or Google's client against GOOGLE_GEOCODING_URL (the
    stand-in) when that is set."""
    raw_timeout = environ.get("GOOGLE_GEOCODING_TIMEOUT_S", "").strip() or str(DEFAULT_TIMEOUT_S)
    try:
        timeout_s = float(raw_timeout)
    except ValueError:
        timeout_s = -1.0
    if not 0 < timeout_s <= 30:
        raise ProviderConfigError("GOOGLE_GEOCODING_TIMEOUT_S must be a number of seconds above 0, at most 30")
    region = environ.get("GOOGLE_GEOCODING_REGION", "").strip() or None
    url = environ.get("GOOGLE_GEOCODING_URL", "").strip()
    if real(environ):
        key = require(environ, "Google Maps", ["GOOGLE_MAPS_API_KEY"])["GOOGLE_MAPS_API_KEY"]
        return GoogleGeocoder(key, url=url or GOOGLE_GEOCODING_URL, timeout_s=timeout_s, region=region)
    if url:
        key = environ.get("GOOGLE_MAPS_API_KEY", "").strip() or DEV_KEY
        return GoogleGeocoder(key, url=url, timeout_s=timeout_s, region=region)
    return GazetteerGeocoder()
