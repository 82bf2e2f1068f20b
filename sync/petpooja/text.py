"""Text from PetPooja (callbacks, pushed or pulled menus, its answers): what may be stored.

PostgreSQL refuses NUL in text and ``\\u0000`` in jsonb, and a lone UTF-16 surrogate (which
Python's json accepts from ``"\\ud800"``) cannot be encoded at all, so either would fail the
whole transaction: such text is refused, never stored (``unstorable``).

Other control characters are not dangerous to the database but are junk on a kitchen screen
or a receipt (a stray vertical tab pasted into a dish's description): in free text (names,
descriptions, reasons) they are removed (``clean``), keeping tab, line feed and carriage
return; an identifier that holds any is refused (``is_identifier``), since stripping would
change which entity it names. Printable Unicode (accents, Devanagari, emoji, right-to-left
text and its marks) passes unchanged.

``shown`` escapes a value for messages that are stored or logged (the parser's errors end up
in jsonb): what we could not accept is still named, safely.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls except tab, line feed and carriage return; DEL; the C1 controls.
_JUNK = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """Whether PostgreSQL cannot store ``text``: it holds NUL or a lone surrogate."""
    return _UNSTORABLE.search(text) is not None


def clean(text: str) -> str:
    """Free text without control characters other than tab, line feed and carriage return."""
    return _JUNK.sub("", text)


def is_identifier(text: str) -> bool:
    """An id as PetPooja means it: not blank, no control character, storable."""
    return bool(text.strip()) and _CONTROL.search(text) is None and not unstorable(text)


def shown(value: Any) -> str:
    """``value`` as it may appear in a stored or logged message (controls and surrogates escaped)."""
    text = value if isinstance(value, str) else repr(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text).encode("utf-8", "backslashreplace").decode()


def first_unstorable(value: Any) -> tuple[list[str | int], str] | None:
    """The path and the string of the first key or string value in a parsed JSON document
    that PostgreSQL cannot store; None when there is none. Iterative, so any depth the JSON
    parser allowed is fine."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            if unstorable(node):
                return path, node
        elif isinstance(node, dict):
            for key, child in reversed(list(node.items())):
                if unstorable(key):
                    return [*path, shown(key)], key
                stack.append(([*path, key], child))
        elif isinstance(node, list):
            stack.extend(([*path, i], child) for i, child in reversed(list(enumerate(node))))
    return None
