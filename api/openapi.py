"""The OpenAPI 3.1 document of the running app, generated from its route table and models.

Paths, methods and path parameters come from the Starlette routes the app serves (their
templates and convertors); request bodies and query parameters from the pydantic models the
handlers validate with; answers from api/schemas.py; who may call each operation, its error
codes and examples from api/contract.py. Nothing here is a copy of a schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from api import schemas
from api.admission import EXEMPT
from api.contract import (
    API_KEY,
    GUEST_SESSION,
    METRICS_TOKEN,
    OPERATIONS,
    PARTNER,
    PUBLIC,
    USER_TOKEN,
    Header,
    Media,
    Operation,
)
from api.errors import _TITLES

_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")
_CONVERTOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "path": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer", "minimum": 0},
}
_PARAM_DESCRIPTIONS = {
    "rid": "the restaurant's id", "tid": "a table's id", "cid": "a menu category's id", "iid": "a menu item's id",
    "oid": "an order's id", "id": "an outbox row's id", "qr_token": "the token a table's QR code carries",
    "secret": "the outlet's callback secret, from the callback URLs the PetPooja connection answers",
    "merchant_id": "the Grubhub merchant id (the connection's store_id)",
    "token": "the menu URL's token, as the ingestion sent it to Grubhub",
}
UNDOCUMENTED = Operation("Undocumented", "undocumented", PUBLIC, {})
_BODY_ERRORS = {400: ("malformed_json",), 413: ("payload_too_large",), 415: ("unsupported_media_type",),
                422: ("validation_error",)}
_DESCRIPTION = """\
The HTTP API of Tabletop: QR ordering at the table, the floor's menu, tables and orders, and the
restaurant's integrations.

* Errors are `application/problem+json` (RFC 9457) with a stable `code`; each operation lists
  the codes it can answer per status. Validation failures (422) list every invalid field in
  `errors` (`loc`, `msg`).
* Money is an integer in the minor unit of the restaurant's `currency`; ids are UUIDs; times
  are RFC 3339 in UTC.
* Every response carries `X-Request-ID` (yours when you send one).
* An overloaded server answers 503 `overloaded` with `Retry-After` (seconds) at once, before
  doing anything: retry after that long. Only `/health`, `/ready` and `/metrics` are never refused.
* Answers may gain fields: clients must ignore fields they do not know.
"""


def template(route: Route) -> str:
    """The route's path as OpenAPI writes it: /api/restaurants/{rid} for {rid:uuid}."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", route.path)


def operation_keys(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, Route]]:
    """``"METHOD /path"`` of every documented route's method (HEAD, implied by GET, is not)."""
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema:
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield f"{method} {template(route)}", route


def build(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    models: dict[str, tuple[type[BaseModel], str]] = {"Problem": (schemas.Problem, "serialization")}
    found = list(operation_keys(routes))
    for key, _ in found:
        op = OPERATIONS.get(key, UNDOCUMENTED)
        if op.body is not None:
            models[op.body.__name__] = (op.body, "validation")
        for answer in op.answers.values():
            if isinstance(answer, type):
                models[answer.__name__] = (answer, "serialization")
    keyed, definitions = models_json_schema(
        list(models.values()), ref_template="#/components/schemas/{model}")  # type: ignore[arg-type]  # pydantic types the pairs as JsonSchemaMode literals
    components = definitions.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(keyed[(model, mode)])  # type: ignore[index]  # keyed by the same pairs as above

    paths: dict[str, dict[str, Any]] = {}
    for key, route in found:
        method, path = key.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = _operation(route, OPERATIONS.get(key, UNDOCUMENTED), ref)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tabletop API", "version": version("tabletop"), "description": _DESCRIPTION},
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in OPERATIONS.values())],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                USER_TOKEN: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                             "description": "A person's access token: POST /api/auth/login (or /refresh)."},
                GUEST_SESSION: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                "description": "A guest's session token: POST /api/qr/{qr_token}/session. One "
                                               "restaurant, one table: its menu, its orders."},
                METRICS_TOKEN: {"type": "http", "scheme": "bearer",
                                "description": "METRICS_TOKEN, when the server is configured with one."},
                API_KEY: {"type": "apiKey", "in": "header", "name": "X-API-Key",
                          "description": "An operator machine's key: one of API_KEYS (docs/operator.md)."},
            },
        },
    }


def _operation(route: Route, op: Operation, ref: Any) -> dict[str, Any]:
    access = op.access
    parameters = [_path_parameter(name, convertor, route.path) for name, convertor in _PARAM.findall(route.path)]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    parameters += [{"name": h.name, "in": "header", "required": False, "schema": h.schema,
                    "description": h.description} for h in op.request_headers]
    who = f"**Who:** {access.who}."
    document: dict[str, Any] = {
        "operationId": route.name,
        "summary": op.summary,
        "description": "\n\n".join(filter(None, [who, op.description])),
        "tags": [op.tag],
        "security": [{scheme: []} for scheme in access.schemes] + ([{}] if access.optional else []),
    }
    if access.roles:
        document["x-roles"] = list(access.roles)
    if op is UNDOCUMENTED:
        # Served but missing from api/contract.py: tests/test_openapi.py fails on it.
        document["x-undocumented"] = True
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        content: dict[str, Any] = {"schema": ref(op.body, "validation")}
        if op.example is not None:
            content["examples"] = {"example": {"value": op.example}}
        document["requestBody"] = {"required": op.body_required, "content": {"application/json": content}}
    responses: dict[str, Any] = {}
    for status, answer in sorted(op.answers.items()):
        responses[str(status)] = _answer(status, answer, op, ref)
    for status, codes in sorted(_errors(op, overloadable=route.path not in EXEMPT).items()):
        problem = _problem(status, codes, ref)
        if str(status) in responses:  # PetPooja's own 404 beside our problem+json one
            responses[str(status)]["content"].update(problem["content"])
        else:
            responses[str(status)] = problem
    document["responses"] = responses
    return document


def _errors(op: Operation, *, overloadable: bool = True) -> dict[int, tuple[str, ...]]:
    errors: dict[int, list[str]] = {}
    layers = [op.access.errors, op.errors]
    if op.body is not None:
        layers.append({413: ("payload_too_large",)} if op.access is PARTNER else _BODY_ERRORS)
    if op.query is not None:
        layers.append({422: ("validation_error",)})
    if op.rate_limited:
        layers.append({429: ("rate_limited",)})
    if overloadable:  # admission control, or no database connection in time (api/admission.py)
        layers.append({503: ("overloaded",)})
    for layer in layers:
        for status, codes in layer.items():
            errors.setdefault(status, [])
            errors[status] += [code for code in codes if code not in errors[status]]
    return {status: tuple(codes) for status, codes in errors.items()}


def _answer(status: int, answer: Any, op: Operation, ref: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"description": _TITLES.get(status, "OK") if status != 200 else "OK"}
    if isinstance(answer, Media):
        described["description"] = answer.description
        described["content"] = {answer.media_type: {"schema": answer.schema}}
    elif answer is not None:
        described["content"] = {"application/json": {"schema": ref(answer, "serialization")}}
    headers = op.answer_headers.get(status, ())
    if headers:
        described["headers"] = {h.name: _header(h) for h in headers}
    links = op.links.get(status)
    if links:
        described["links"] = {
            name: {"operationId": link.operation_id, "parameters": dict(link.parameters),
                   **({"requestBody": link.body} if link.body is not None else {})}
            for name, link in links.items()
        }
    return described


def _problem(status: int, codes: tuple[str, ...], ref: Any) -> dict[str, Any]:
    schema = {"allOf": [ref(schemas.Problem, "serialization"),
                        {"properties": {"status": {"const": status}, "code": {"enum": list(codes)}}}]}
    examples = {code: {"value": {"type": f"/problems/{code}", "title": _TITLES.get(status, "Error"),
                                 "status": status, "detail": "...", "code": code}} for code in codes}
    described: dict[str, Any] = {"description": f"{_TITLES.get(status, 'Error')}: {', '.join(codes)}",
                                 "content": {"application/problem+json": {"schema": schema, "examples": examples}}}
    if status == 401:
        described["headers"] = {"WWW-Authenticate": _header(Header("WWW-Authenticate", {"type": "string"},
                                                                   "Bearer, with the error when a token was sent"))}
    if status == 429:
        described["headers"] = {"Retry-After": _header(Header("Retry-After", {"type": "integer", "minimum": 1},
                                                              "seconds until the limit allows another request"))}
    if "overloaded" in codes:
        described["headers"] = {"Retry-After": _header(Header("Retry-After", {"type": "integer", "minimum": 1},
                                                              "with `overloaded`: seconds to wait before retrying"))}
    return described


def _header(header: Header) -> dict[str, Any]:
    return {"schema": header.schema, "description": header.description}


def _path_parameter(name: str, convertor: str, path: str) -> dict[str, Any]:
    description = "an invitation's id" if name == "iid" and "/invitations/" in path else _PARAM_DESCRIPTIONS.get(name)
    return {"name": name, "in": "path", "required": True, "schema": dict(_CONVERTOR_SCHEMAS[convertor or "str"]),
            "description": description or name}


def _query_parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    # Inlined (a query model is a list of parameters, not a body): no $ref in a parameter's schema.
    model = query.model_json_schema(mode="validation")
    required = set(model.get("required", ()))
    parameters = []
    for field, schema in model.get("properties", {}).items():
        # An optional query parameter is absent, never null: document the value it takes.
        values = [s for s in schema.get("anyOf", ()) if s.get("type") != "null"]
        if len(values) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **values[0]}
        parameter = {"name": field, "in": "query", "required": field in required, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema["description"]
        parameters.append(parameter)
    return parameters
