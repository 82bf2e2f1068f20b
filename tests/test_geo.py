"""The geocoding provider (providers/geo.py): which geocoder each mode builds, Google's client
against the Geocoding stand-in (a real process speaking Google's wire format) in every state
it can answer, and the development gazetteer agreeing with the stand-in."""

from __future__ import annotations

import logging
import time

import pytest

from providers.config import ProviderConfigError
from providers.factory import build_providers
from providers.geo import GazetteerGeocoder, GeocoderUnavailable, GoogleGeocoder, Place, load, normalised
from tests.conftest import REAL_PROVIDERS, GeocodingStandin

KEY = "test-maps-key-0123456789-never-logged"
EAST_STREET = "4 East Street, Camp, Pune, 411001"


def _client(standin: GeocodingStandin, timeout_s: float = 2.0) -> GoogleGeocoder:
    return GoogleGeocoder(KEY, url=standin.geocode_url, timeout_s=timeout_s)


def test_production_without_the_maps_key_refuses_to_start_naming_the_variable() -> None:
    for mode in ("production", "staging"):
        with pytest.raises(ProviderConfigError) as refused:
            build_providers({**REAL_PROVIDERS, "ENV_MODE": mode, "GOOGLE_MAPS_API_KEY": ""})
        assert str(refused.value) == f"ENV_MODE={mode} needs GOOGLE_MAPS_API_KEY for Google Maps"
    built = load({"ENV_MODE": "production", "GOOGLE_MAPS_API_KEY": KEY})
    assert isinstance(built, GoogleGeocoder)
    assert built.url == "https://maps.googleapis.com/maps/api/geocode/json"
    assert KEY not in repr(built)


def test_development_uses_the_gazetteer_unless_a_geocoding_url_is_set() -> None:
    assert isinstance(build_providers({}).geo, GazetteerGeocoder)
    assert isinstance(load({"ENV_MODE": "test"}), GazetteerGeocoder)
    pointed = load({"ENV_MODE": "development", "GOOGLE_GEOCODING_URL": "http://127.0.0.1:9/maps/api/geocode/json"})
    assert isinstance(pointed, GoogleGeocoder) and pointed.url.startswith("http://127.0.0.1:9/")


@pytest.mark.parametrize("value", ["0", "-1", "abc", "31"])
def test_a_malformed_geocoding_timeout_is_a_startup_error(value: str) -> None:
    with pytest.raises(ProviderConfigError, match="GOOGLE_GEOCODING_TIMEOUT_S"):
        load({"GOOGLE_GEOCODING_TIMEOUT_S": value})


def test_addresses_are_matched_whatever_their_case_spacing_and_commas() -> None:
    assert normalised("  4  EAST street,,Camp ,\nPune, 411001 ") == "4 east street, camp, pune, 411001"


async def test_a_known_address_is_answered_with_its_place(geocoding_standin: GeocodingStandin) -> None:
    place = await _client(geocoding_standin).geocode(EAST_STREET)
    assert place == Place("4, East Street, Camp, Pune, Maharashtra 411001, India", 18.515, 73.881,
                          "standin-pune-east-street-4", "ROOFTOP", False)
    [call] = geocoding_standin.calls()
    assert call == {"address": EAST_STREET, "key_present": True, "status": "OK", "fault": "ok"}


async def test_a_partial_match_says_so(geocoding_standin: GeocodingStandin) -> None:
    place = await _client(geocoding_standin).geocode("MG Road, Pune")
    assert place is not None and place.partial_match and place.location_type == "GEOMETRIC_CENTER"


async def test_an_unknown_address_is_none_not_an_error(geocoding_standin: GeocodingStandin) -> None:
    assert await _client(geocoding_standin).geocode("221B Baker Street, London") is None
    assert geocoding_standin.calls()[0]["status"] == "ZERO_RESULTS"


@pytest.mark.parametrize("status", ["OVER_QUERY_LIMIT", "REQUEST_DENIED", "UNKNOWN_ERROR"])
async def test_quota_refused_key_and_unknown_errors_are_unavailable(geocoding_standin: GeocodingStandin,
                                                                    status: str) -> None:
    geocoding_standin.fault(status, count=1)
    with pytest.raises(GeocoderUnavailable, match=status) as refused:
        await _client(geocoding_standin).geocode(EAST_STREET)
    assert KEY not in str(refused.value)
    assert await _client(geocoding_standin).geocode(EAST_STREET) is not None  # the fault was for one call


async def test_a_request_without_a_key_is_denied_by_the_standin_as_by_google(
        geocoding_standin: GeocodingStandin) -> None:
    with pytest.raises(GeocoderUnavailable, match="REQUEST_DENIED"):
        await GoogleGeocoder(" ", url=geocoding_standin.geocode_url).geocode(EAST_STREET)


async def test_a_geocoder_that_drops_the_connection_or_answers_500_is_unavailable(
        geocoding_standin: GeocodingStandin) -> None:
    geocoding_standin.fault("down", count=1)
    with pytest.raises(GeocoderUnavailable, match="could not reach"):
        await _client(geocoding_standin).geocode(EAST_STREET)
    geocoding_standin.fault("http500", count=1)
    with pytest.raises(GeocoderUnavailable, match="HTTP 500"):
        await _client(geocoding_standin).geocode(EAST_STREET)


async def test_a_closed_port_is_unavailable() -> None:
    with pytest.raises(GeocoderUnavailable, match="could not reach"):
        await GoogleGeocoder(KEY, url="http://127.0.0.1:9/maps/api/geocode/json").geocode(EAST_STREET)


async def test_a_hanging_geocoder_is_given_up_on_at_the_timeout(geocoding_standin: GeocodingStandin) -> None:
    geocoding_standin.fault("hang")
    started = time.monotonic()
    with pytest.raises(GeocoderUnavailable, match=r"no answer within 0\.3 s"):
        await _client(geocoding_standin, timeout_s=0.3).geocode(EAST_STREET)
    assert time.monotonic() - started < 2


async def test_the_key_never_reaches_a_log_line(geocoding_standin: GeocodingStandin,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = _client(geocoding_standin)
    await client.geocode(EAST_STREET)
    geocoding_standin.fault("http500", count=1)
    with pytest.raises(GeocoderUnavailable):
        await client.geocode(EAST_STREET)
    lines = [record.getMessage() for record in caplog.records]
    assert any("key=***" in line for line in lines)  # httpx logged the request, masked
    assert not any(KEY in line for line in lines)


async def test_the_gazetteer_geocoder_answers_what_the_standin_answers(geocoding_standin: GeocodingStandin) -> None:
    local, google = GazetteerGeocoder(), _client(geocoding_standin)
    for address in (EAST_STREET, "9 baner road, pune", "MG Road, Camp, Pune", "Nowhere Lane, Atlantis"):
        assert await local.geocode(address) == await google.geocode(address)
