"""Reading request input: JSON bodies into pydantic models, query strings, headers."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from api.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def _errors(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False)
    ]


async def json_body(request: Request, model: type[M]) -> M:
    """The body as ``model``: 415 unless JSON, 400 when malformed, 422 when invalid.

    An empty body counts as ``{}`` so endpoints whose fields are all optional (cancel)
    accept a bare POST.
    """
    body = await request.body()
    if not body.strip():
        body = b"{}"
    else:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise ApiError(400, "malformed_json", "the body is not valid JSON") from exc
        raise ApiError(422, "validation_error", "the request is invalid", errors=_errors(exc, "body")) from exc


def query_params(request: Request, model: type[M]) -> M:
    """The query string as ``model`` (a repeated key becomes a list); 422 when invalid."""
    raw: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        raw[key] = values if len(values) > 1 else values[0]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "the query is invalid", errors=_errors(exc, "query")) from exc
