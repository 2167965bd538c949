"""Request handling independent of the transport: routing, auth, list/detail, the admin
endpoints, and the traffic knobs (latency, outage, rate limit, injected faults). The transport
(server.py) only parses HTTP and writes the returned Response."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Protocol
from urllib.parse import parse_qs

from . import responses as r
from .config import Knobs
from .listing import Invalid, parse_query, run_query
from .messages import corrupt_messages, parse_messages_query, run_messages_query
from .render import served_detail
from .responses import Response
from .traffic import fault_response

if TYPE_CHECKING:  # pragma: no cover
    from .core import Simulator

class RequestHeaders(Protocol):
    """What the API reads of request headers: http.server's message or the server's fast-path
    mapping (lower-case keys), or a dict in tests."""

    def get(self, name: str, /) -> Optional[str]: ...


_DETAIL = re.compile(r"^/api/campaigns/([^/]+)/detail/?$")


def classify(path: str) -> Optional[str]:
    """Which counted endpoint a path is (None: anything else)."""
    if path == "/api/auth/login":
        return "login"
    if path == "/api/auth/refresh":
        return "refresh"
    if path in ("/api/campaigns", "/api/campaigns/"):
        return "list"
    if path in ("/api/messages", "/api/messages/"):
        return "messages"
    if _DETAIL.match(path):
        return "detail"
    return None


class Api:
    def __init__(self, sim: "Simulator") -> None:
        self.sim = sim

    def handle(self, method: str, target: str, headers: RequestHeaders, body: bytes) -> Response:
        path, _, query = target.partition("?")
        if path.startswith("/_sim/"):
            return self.admin(method, path, body)
        sim = self.sim
        knobs = sim.knobs
        endpoint = classify(path)
        sim.traffic_stats.request(endpoint)
        try:
            if knobs.latency_ms > 0:
                time.sleep(knobs.latency_ms / 1000.0)
            resp = self._guarded(method, path, query, headers, body, knobs, endpoint)
        finally:
            sim.traffic_stats.answered(endpoint)
        if not resp.reset:
            sim.traffic_stats.status(resp.status)
        return resp

    def _guarded(self, method: str, path: str, query: str, headers: RequestHeaders,
                 body: bytes, knobs: Knobs, endpoint: Optional[str]) -> Response:
        sim = self.sim
        if knobs.outage:
            sim.traffic_stats.fault()
            return r.unavailable()
        if not sim.limiter.allow(knobs.rate_limit):
            return r.too_many("1" if knobs.rate_limit_retry_after else "")

        def normal() -> Response:
            return self.route(method, path, query, headers, body, knobs)

        if endpoint in ("login", "refresh"):
            rate = knobs.auth_fault_rate
        elif endpoint in knobs.fault_endpoints:
            rate = knobs.fault_rate
        else:
            rate = 0.0
        kind = sim.faults.pick(rate, knobs.fault_kinds)
        if kind is None:
            return normal()
        sim.traffic_stats.fault()
        if kind == "timeout":
            time.sleep(knobs.timeout_sleep_s)
            return normal()
        return fault_response(kind, sim.now_ts, normal)

    def route(self, method: str, path: str, query: str, headers: RequestHeaders,
              body: bytes, knobs: Knobs) -> Response:
        endpoint = classify(path)
        if endpoint is None:
            return r.not_found()
        if endpoint in ("login", "refresh"):
            if method != "POST":
                return r.method_not_allowed()
            return self.login(body, knobs) if endpoint == "login" else self.refresh(headers, knobs)
        if method != "GET":
            return r.method_not_allowed()
        cid_text = ""
        if endpoint == "detail":
            cid_text = _DETAIL.match(path).group(1)  # type: ignore[union-attr]  # classify() matched it
            if not cid_text.isdigit():  # the route requires \d+: 404 before the firewall
                return r.not_found()
        ok, message = self.sim.auth.verify(headers.get("Authorization"))
        if not ok:
            return r.unauthorized(message)
        if endpoint == "list":
            return self.list(query, knobs)
        if endpoint == "messages":
            return self.messages(query, knobs)
        return self.detail(int(cid_text), knobs)

    def login(self, body: bytes, knobs: Knobs) -> Response:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not payload.get("api_key"):
            return r.invalid({"api_key": ["This value should not be blank."]})
        token = self.sim.auth.login(payload["api_key"], knobs.token_lifetime_s)
        if token is None:
            return r.api_key_not_found()
        return r.json_response(200, {"bearer": token})

    def refresh(self, headers: RequestHeaders, knobs: Knobs) -> Response:
        ok, message = self.sim.auth.verify(headers.get("Authorization"))
        if not ok:
            return r.unauthorized(message)
        return r.json_response(200, {"bearer": self.sim.auth.issue(knobs.token_lifetime_s)})

    def list(self, query: str, knobs: Knobs) -> Response:
        q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        now = self.sim.now_ts
        try:
            lq = parse_query(q, now, knobs.zone)
        except Invalid as exc:
            return r.invalid(exc.errors)
        served = min(lq.limit, knobs.max_page_size) if knobs.max_page_size > 0 else lq.limit
        if not knobs.page_offset:
            lq = dataclasses.replace(lq, offset=0)
        sim = self.sim
        with sim.state_lock:
            fixtures, removed = dict(sim.fixtures), set(sim.removed)
        page = run_query(sim.catalogue, lq, now, served, knobs.zone, fixtures, removed, knobs.variant_plan)
        if not knobs.page_total:
            del page["meta"]["page"]["total"]
        return r.json_response(200, page)

    def messages(self, query: str, knobs: Knobs) -> Response:
        q = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
        sim = self.sim
        now = sim.now_ts
        try:
            mq = parse_messages_query(q, now, knobs.zone)
            refused = knobs.message_client_errors.get(mq.campaign_id) if mq.campaign_id is not None else None
            if refused is not None:
                return r.client_error(refused)
            served = min(mq.limit, knobs.max_page_size) if knobs.max_page_size > 0 else mq.limit
            with sim.state_lock:
                removed = set(sim.removed)
            page = run_messages_query(sim.catalogue, mq, now, served, knobs.zone,
                                      sim.config.currency, removed)
            corrupt_messages(sim.catalogue.seed, page["data"], knobs.message_corrupt_rate)
        except Invalid as exc:
            return r.invalid(exc.errors)
        if not knobs.page_total:  # as the list can: paging must go on until an empty page
            del page["meta"]["page"]["total"]
        return r.json_response(200, page)

    def detail(self, cid: int, knobs: Knobs) -> Response:
        sim = self.sim
        if cid in knobs.client_errors:
            return r.client_error(knobs.client_errors[cid])
        fixture = sim.fixtures.get(cid)
        if cid in sim.removed:
            return r.invalid_campaign()
        if fixture is not None:
            return Response(fixture.status, fixture.body, fixture.content_type)
        now = sim.now_ts
        idx = sim.catalogue.index_of(cid)
        if idx is None or sim.catalogue.created[idx] > now:
            return r.invalid_campaign()
        body = served_detail(sim.catalogue, idx, now, knobs, sim.config.currency)
        return Response(200, body)

    # ---- admin: no auth, not counted ----
    def admin(self, method: str, path: str, body: bytes) -> Response:
        sim = self.sim
        try:
            payload: Dict[str, Any] = json.loads(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("JSON object expected")
            action: Optional[Callable[[], Any]] = {
                ("POST", "/_sim/advance"): lambda: sim.advance(**_durations(payload)),
                ("GET", "/_sim/stats"): sim.stats,
                ("POST", "/_sim/reset_stats"): sim.reset_stats,
                ("GET", "/_sim/config"): sim.knobs_dict,
                ("POST", "/_sim/config"): lambda: sim.configure(**payload),
                ("GET", "/_sim/now"): lambda: None,
            }.get((method, path.rstrip("/")))
            if action is None:
                return r.not_found()
            result = action()
        except (ValueError, TypeError) as exc:
            return r.json_response(400, {"message": str(exc)})
        path = path.rstrip("/")
        if path == "/_sim/stats":
            return r.json_response(200, result)
        if path == "/_sim/config":
            return r.json_response(200, sim.knobs_dict())
        if path == "/_sim/reset_stats":
            return r.json_response(200, {"ok": True})
        return r.json_response(200, {"now": sim.now.isoformat()})


def _durations(payload: Mapping[str, Any]) -> Dict[str, float]:
    unknown = set(payload) - {"days", "hours", "minutes", "seconds"}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    return {k: float(v) for k, v in payload.items()}
