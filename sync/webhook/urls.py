"""A webhook URL in its one canonical form, and whether this environment may deliver to it.

What is stored is what the worker's httpx will request, spelled the one way httpx reads it,
so the check is made on exactly what will be fetched (no second parser to disagree with):

- scheme ``http`` or ``https``, lower case;
- host lower case; a name in its IDNA (UTS 46) ASCII form, the way a resolver reads it
  (``127\u30020\u30020\u30021`` is ``127.0.0.1``, fullwidth letters are ASCII ones), without a
  trailing dot; an IPv4 address only as a dotted quad (``127.1``, ``2130706433``, ``0x7f.1``,
  ``0177.0.0.1`` are refused: inet_aton would read them as 127.0.0.1); an IPv6 address in
  brackets, compressed, without a zone id;
- the port only when it is not the scheme's default (1-65535);
- path (``/`` when empty) and query as httpx sends them: dot segments removed, non-ASCII and
  unsafe characters percent-encoded as UTF-8, existing ``%XX`` escapes kept as written;
- no user:password@, no #fragment, no percent-encoded or backslashed host, no whitespace,
  control or invisible formatting characters; at most 2000 characters (schema.sql's
  ``restaurant_webhooks_url_valid``).

Guarded (production and staging) also needs ``https`` and a public host: not an internal IP
(sync/webhook/guard.py ``refusal``), not ``localhost``, a single-label name or a special-use
domain (``.local``, ``.internal``...). Whether the name resolves to public addresses is
checked on top by the API (``resolve_public``) and again at every connection by the worker.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

import httpx
import idna

from sync.webhook.guard import refusal

URL_MAX = 2000  # schema.sql's restaurant_webhooks_url_valid
DEFAULT_PORTS = {"http": 80, "https": 443}
# Special-use and never-delegated top-level names (RFC 6761, 6762, 7686, 8375, 9476; ICANN's
# .internal) and the ones private networks habitually use: none names a public host.
INTERNAL_SUFFIXES = frozenset({
    "localhost", "local", "localdomain", "internal", "arpa", "test", "invalid", "onion", "alt",
    "home", "corp", "lan", "intranet", "private",
})
# A last label that reads as a number makes the whole host an IPv4 address to a WHATWG parser
# and to inet_aton (0x7f.1, 127.1): such a host must be a plain dotted quad.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_PORT = re.compile(r"[0-9]{1,5}")


class UnsafeUrl(ValueError):
    """A webhook URL that is malformed, or not allowed here; ``detail`` says which, for the caller."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class WebhookUrl:
    url: str  # the canonical URL
    host: str  # as a resolver takes it: the ASCII name, or the IP address without brackets
    port: int  # the effective port


def canonical_url(url: str, *, guarded: bool) -> WebhookUrl:
    """``url`` in canonical form (module docstring), or UnsafeUrl naming what is wrong."""
    if len(url) > URL_MAX:
        raise UnsafeUrl(f"the URL is longer than {URL_MAX} characters")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in url):
        raise UnsafeUrl("the URL contains whitespace, control or invisible formatting characters")
    if "\\" in url:
        raise UnsafeUrl("the URL contains a backslash")  # parsers disagree on what it means
    if "#" in url:
        raise UnsafeUrl("the URL must not have a #fragment")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed [ in the host
        raise UnsafeUrl("the URL is malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url[len(scheme):].startswith("://"):
        raise UnsafeUrl("the URL must start with https:// (or http:// in development)")
    netloc = parts.netloc
    if "@" in netloc:
        raise UnsafeUrl("the URL must not carry credentials (user:password@)")
    host, url_host, port_text = _split_netloc(netloc)
    port = _port(port_text, scheme)
    default = DEFAULT_PORTS[scheme]
    authority = url_host if port == default else f"{url_host}:{port}"
    try:
        target = httpx.URL(f"{scheme}://{authority}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else ""))
    except httpx.InvalidURL as exc:
        raise UnsafeUrl("the URL is malformed") from exc
    path = target.raw_path.decode("ascii")
    canonical = f"{scheme}://{authority}{path.removesuffix('?')}"
    if len(canonical) > URL_MAX:
        raise UnsafeUrl(f"the URL is longer than {URL_MAX} characters once normalised")
    # The canonical form must be read by httpx exactly as checked (no parser differential).
    again = httpx.URL(canonical)
    if (again.scheme, again.raw_host.decode("ascii"), again.port or default) != (scheme, host, port):
        raise UnsafeUrl("the URL is malformed")
    if guarded:
        _check_public(scheme, host)
    return WebhookUrl(canonical, host, port)


def _split_netloc(netloc: str) -> tuple[str, str, str | None]:
    """(host as resolved, host as written in the URL, port text or None) of ``netloc``."""
    if not netloc:
        raise UnsafeUrl("the URL has no host")
    if netloc.startswith("["):
        literal, bracket, after = netloc[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise UnsafeUrl("the URL's IPv6 address is malformed")
        if "%" in literal:
            raise UnsafeUrl("the URL's IPv6 address must not carry a zone id")
        try:
            address = IPv6Address(literal)
        except ValueError as exc:
            raise UnsafeUrl("the URL's IPv6 address is malformed") from exc
        return address.compressed, f"[{address.compressed}]", after[1:] if after else None
    written, colon, port_text = netloc.partition(":")
    if ":" in port_text:
        raise UnsafeUrl("the URL's host is malformed (an IPv6 address goes in [brackets])")
    host = _host_name(written)
    return host, host, port_text if colon else None


def _host_name(written: str) -> str:
    if not written:
        raise UnsafeUrl("the URL has no host")
    if "%" in written:
        raise UnsafeUrl("the URL's host must not be percent-encoded")
    try:
        host = idna.encode(written, uts46=True).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError and its kin: bad labels, too long, bad characters
        raise UnsafeUrl(f"the URL's host is not a valid host name ({exc})") from exc
    host = host.removesuffix(".")  # the DNS root: example.com. is example.com
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            return str(IPv4Address(host))
        except ValueError as exc:
            raise UnsafeUrl("a numeric host must be an IPv4 address written a.b.c.d") from exc
    return host


def _port(text: str | None, scheme: str) -> int:
    if text is None or text == "":
        return DEFAULT_PORTS[scheme]
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise UnsafeUrl("the URL's port must be a number from 1 to 65535")
    return int(text)


def _check_public(scheme: str, host: str) -> None:
    if scheme != "https":
        raise UnsafeUrl("the URL must use https")
    try:
        address: IPv4Address | IPv6Address = IPv6Address(host) if ":" in host else IPv4Address(host)
    except ValueError:
        labels = host.split(".")
        if labels[-1] == "localhost":
            raise UnsafeUrl(f"the URL must point to a public host: {host} is this machine") from None
        if len(labels) < 2:
            raise UnsafeUrl("the URL must point to a public host: a fully qualified name (a dotted one)") from None
        if labels[-1] in INTERNAL_SUFFIXES:
            raise UnsafeUrl(f"the URL must point to a public host: .{labels[-1]} names are not public") from None
        return
    reason = refusal(address)
    if reason is not None:
        raise UnsafeUrl(f"the URL must point to a public host: {host} is {reason}")
