"""The response value passed from the API logic to the transport, plus the canned bodies the
real server sends (kept byte-exact in one place)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

JSON = "application/json"


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: List[Tuple[str, str]] = field(default_factory=list)
    reset: bool = False  # close the connection without answering


def json_response(status: int, obj: Any, headers: Optional[List[Tuple[str, str]]] = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, JSON, list(headers or ()))


def not_found() -> Response:
    return json_response(404, {"message": "Not Found"})


def method_not_allowed() -> Response:
    return json_response(405, {"message": "Method Not Allowed"})


def unauthorized(message: str) -> Response:
    return json_response(401, {"code": 401, "message": message})


def invalid(errors: Any) -> Response:
    return json_response(422, {"message": "The given data was invalid.", "errors": errors})


def api_key_not_found() -> Response:
    return json_response(422, {"message": "An internal error occurred",
                               "errors": {"text": "API Key not found"}})


def invalid_campaign() -> Response:
    return json_response(422, {"message": "Invalid campaign id", "errors": []})


# Bodies for the `client_errors` knob. The vendor documents only the 403 (test/demo accounts)
# and the 422 validation shape; the others follow the same {"message": ...} form.
_CLIENT_ERRORS = {
    400: {"message": "Bad Request"},
    403: {"message": "This action is unauthorized for your mode", "errors": []},
    404: {"message": "Not Found"},
    409: {"message": "Conflict"},
    410: {"message": "Gone"},
    422: {"message": "The given data was invalid.", "errors": {"id": ["The selected id is invalid."]}},
}


def client_error(status: int) -> Response:
    return json_response(status, _CLIENT_ERRORS[status])


def too_many(retry_after: str = "") -> Response:
    headers = [("Retry-After", retry_after)] if retry_after else []
    return json_response(429, {"message": "Too many duplicate request detected"}, headers)


def unavailable() -> Response:
    return json_response(503, {"message": "Service Unavailable"})


_GATEWAY_HTML = ("<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n"
                 "<center><h1>{code} {text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                 "</body>\r\n</html>\r\n")


def gateway_error(code: int) -> Response:
    """What a reverse proxy in front of the API answers: an HTML page, not JSON."""
    text = {502: "Bad Gateway", 504: "Gateway Time-out"}.get(code, "Error")
    return Response(code, _GATEWAY_HTML.format(code=code, text=text).encode(), "text/html")


def server_error() -> Response:
    return json_response(500, {"message": "Server Error"})


def html_200() -> Response:
    page = ("<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Something went "
            "wrong</h1><p>Please try again later.</p></body></html>")
    return Response(200, page.encode(), "text/html; charset=UTF-8")


def non_json_200() -> Response:
    return Response(200, b"OK\nupstream: one-api-7\nstatus=ready\n", "text/plain")
