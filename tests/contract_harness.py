"""Checking answers against the OpenAPI document, for tests/test_openapi.py and tests/test_fuzz.py.

The published schemas let answers carry fields they do not list (clients must ignore new
fields); here every object schema that lists its properties refuses any other, so an answer
that grew a field the document does not describe fails the test that provoked it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema_rs

from api import openapi

_PARAM = re.compile(r"{[^}]+}")


def strict(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every listed object closed (additionalProperties false)."""
    closed = copy.deepcopy(document)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties", True) is True:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(closed["components"]["schemas"])
    return closed


class Contract:
    """Finds the documented operation of a request and validates an answer against it."""

    def __init__(self, document: dict[str, Any]):
        self.document = strict(document)
        self._paths = [(re.compile("^" + _PARAM.sub("[^/]+", path) + "$"), path) for path in document["paths"]]

    def operation(self, method: str, url_path: str) -> tuple[str, dict[str, Any]]:
        for pattern, path in self._paths:
            if pattern.match(url_path) and method.lower() in self.document["paths"][path]:
                return path, self.document["paths"][path][method.lower()]
        raise AssertionError(f"{method} {url_path} is not a documented operation")

    def problems(self, method: str, url_path: str, status: int, content_type: str, body: Any) -> list[str]:
        """Why the answer does not match the document (empty when it does)."""
        path, operation = self.operation(method, url_path)
        where = f"{method} {path} -> {status}"
        answer = operation["responses"].get(str(status))
        if answer is None:
            return [f"{where}: status not documented (documented: {sorted(operation['responses'])})"]
        media_type = content_type.split(";")[0].strip()
        content = answer.get("content")
        if content is None:
            return [] if body in (None, b"", "") else [f"{where}: documented without a body, answered {media_type}"]
        if media_type not in content:
            return [f"{where}: answered {media_type}, documented {sorted(content)}"]
        schema = content[media_type].get("schema")
        if schema is None or not media_type.endswith("json"):
            return []
        validator = jsonschema_rs.validator_for({**schema, "components": self.document["components"]})
        return [f"{where}: {error.message} at {list(error.instance_path)}" for error in validator.iter_errors(body)]


def documented_keys(document: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}


def served_keys(routes: Any) -> set[str]:
    return {key for key, _ in openapi.operation_keys(routes)}
