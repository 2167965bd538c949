"""The Simulator: owns the catalogue, the simulated clock, knobs, fixtures and the HTTP server,
and offers the Python API tests and demos drive it with. The simulated clock only moves when
advanced, so repeated reads at one clock value return identical bodies."""

from __future__ import annotations

import json
import threading
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import formatdate
from typing import Any, Dict, List, Optional, Set, Tuple

from .api import Api
from .auth import Auth
from .catalogue import Catalogue
from .config import SimulatorConfig, Knobs, knobs_as_dict, knobs_from_config, make_knobs
from .listing import Fixture
from .messages import CampaignMessages, campaign_messages
from .render import canonical, list_price
from .traffic import FaultPicker, RateLimiter, Stats

_FMT = "%Y-%m-%d %H:%M:%S"


class Simulator:
    """An offline BSG One-API. See the package docstring for the API."""

    def __init__(self, config: Optional[SimulatorConfig] = None) -> None:
        self.config = config or SimulatorConfig()
        self.catalogue = Catalogue(self.config)
        self._knobs: Knobs = knobs_from_config(self.config)
        self._lock = threading.Lock()  # clock and knobs
        self.state_lock = threading.Lock()  # fixtures and removals
        self._now = self.config.start_time.timestamp()
        self._date: Tuple[int, str] = (-1, "")
        self.fixtures: Dict[int, Fixture] = {}
        self.removed: Set[int] = set()
        self.auth = Auth(self.config.api_key, self.config.seed)
        self.traffic_stats = Stats()
        self.limiter = RateLimiter()
        self.faults = FaultPicker(self.config.seed)
        self.api = Api(self)
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None

    # ---- clock ----
    @property
    def now_ts(self) -> float:
        return self._now

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now, timezone.utc)

    def advance(self, hours: float = 0, minutes: float = 0, seconds: float = 0,
                days: float = 0) -> datetime:
        """Move the simulated clock forward (never back: counts are monotone in time)."""
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if delta.total_seconds() < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._now += delta.total_seconds()
        return self.now

    def date_header(self) -> str:
        """RFC 7231 HTTP-date of the simulated clock (what clients take as the server's now)."""
        second = int(self._now)
        cached = self._date
        if cached[0] != second:
            cached = (second, formatdate(second, usegmt=True))
            self._date = cached
        return cached[1]

    # ---- knobs and stats ----
    @property
    def knobs(self) -> Knobs:
        return self._knobs

    def configure(self, **knobs: Any) -> Dict[str, Any]:
        """Change runtime knobs atomically; returns all knobs. Raises ValueError if invalid."""
        with self._lock:
            self._knobs = make_knobs(self._knobs, knobs)
        return self.knobs_dict()

    def knobs_dict(self) -> Dict[str, Any]:
        return knobs_as_dict(self._knobs)

    def stats(self) -> Dict[str, Any]:
        return self.traffic_stats.snapshot()

    def reset_stats(self) -> None:
        self.traffic_stats.reset()

    # ---- fixtures ----
    def put_detail(self, campaign_id: int, body: Any, status: int = 200,
                   created_at: Any = None, type: str = "rcs") -> None:
        """Serve exactly `body` for this id's detail; list it under `type` if created_at given.
        Replacing a listed fixture's body without created_at keeps it listed as before."""
        raw = body.encode("utf-8") if isinstance(body, str) else (
            body if isinstance(body, bytes) else
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        previous = self.fixtures.get(campaign_id)
        created: Optional[float]
        if created_at is None and previous is not None and previous.created is not None:
            created, type = previous.created, previous.kind
            created_at = (previous.item or {}).get("created_at")
        else:
            created = self._parse_local(created_at) if created_at is not None else None
        fixture = Fixture(raw, int(status), "application/json", created, type)
        if created is not None:
            fixture.item = _fixture_item(campaign_id, body, created_at, created, type, self)
        with self.state_lock:
            self.removed.discard(campaign_id)
            self.fixtures = {**self.fixtures, campaign_id: fixture}

    def remove(self, campaign_id: int) -> None:
        """The campaign was deleted: detail answers 422 Invalid campaign id, not listed."""
        with self.state_lock:
            self.removed = self.removed | {campaign_id}

    def revoke_key(self) -> None:
        self.auth.revoke()

    def restore_key(self) -> None:
        """Let the api key log in again (tokens from before the revocation stay invalid)."""
        self.auth.restore()

    # ---- expectations for tests ----
    def expected_detail(self, campaign_id: int) -> Any:
        """The canonical real-shape inner detail object as served now, without variants,
        corruption or extra fields. Fixtures: their body parsed from JSON (or its text).
        Raises KeyError for removed and not (yet) existing ids."""
        if campaign_id in self.removed:
            raise KeyError(campaign_id)
        fixture = self.fixtures.get(campaign_id)
        if fixture is not None:
            try:
                return json.loads(fixture.body)
            except ValueError:
                return fixture.body.decode("utf-8", "replace")
        idx = self._visible_index(campaign_id)
        return canonical(self.catalogue, idx, self._now, self._knobs.zone, self.config.currency)

    def campaign_messages(self, campaign_id: int) -> CampaignMessages:
        """A visible campaign's messages as served now (lazy: len(), .message(pos) in id order,
        own messages first, .own_status(k)); KeyError for removed and not (yet) existing ids."""
        if campaign_id in self.removed:
            raise KeyError(campaign_id)
        return campaign_messages(self.catalogue, campaign_id, self._now, self._knobs.zone,
                                 self.config.currency)

    def expected_messages(self, campaign_id: int) -> List[Dict[str, Any]]:
        """Every message of a campaign as GET /api/messages?filter[campaign_id]= serves it now,
        in id order (builds the list: for campaigns of a test's size), without the corruption
        of the message_corrupt_rate knob."""
        cm = self.campaign_messages(campaign_id)
        return [cm.message(pos) for pos in range(len(cm))]

    def expected_message_count(self, campaign_id: Optional[int] = None) -> int:
        """meta.page.total of GET /api/messages (one campaign, or every visible one) now."""
        if campaign_id is not None:
            return len(self.campaign_messages(campaign_id))
        return sum(len(self.campaign_messages(cid)) for cid in self.catalogue.ids[
            :self.catalogue.count_visible(self._now)] if cid not in self.removed)

    def settles_at(self, campaign_id: int) -> datetime:
        """Simulated time from which this campaign's detail never changes again."""
        profile = self.catalogue.profile(self._index(campaign_id))
        return datetime.fromtimestamp(profile.settled_at(), timezone.utc)

    def visible_campaign_ids(self, type: Optional[str] = None) -> List[int]:
        """Ids created at or before now (optionally of one type), sorted; as the API sees them."""
        cat, now = self.catalogue, self._now
        with self.state_lock:
            fixtures, removed = dict(self.fixtures), set(self.removed)
        if type is None:
            ids = cat.ids[:bisect_right(cat.created, now)]
        else:
            ids = [cat.ids[i] for i in cat.window(type, float("-inf"), now)]
        out = set(i for i in ids if i not in removed) if removed else set(ids)
        for cid, f in fixtures.items():
            if f.created is not None and f.created <= now and type in (None, f.kind) \
                    and cid not in removed:
                out.add(cid)
        return sorted(out)

    def _index(self, campaign_id: int) -> int:
        idx = self.catalogue.index_of(campaign_id)
        if idx is None:
            raise KeyError(campaign_id)
        return idx

    def _visible_index(self, campaign_id: int) -> int:
        idx = self._index(campaign_id)
        if self.catalogue.created[idx] > self._now:
            raise KeyError(campaign_id)
        return idx

    def _parse_local(self, value: Any) -> float:
        if isinstance(value, datetime):
            local = value
        else:
            local = datetime.strptime(str(value), _FMT)
        if local.tzinfo is None:
            local = local.replace(tzinfo=self._knobs.zone)
        return local.timestamp()

    # ---- serving ----
    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "Simulator":
        """Serve in a background daemon thread; returns self."""
        from .server import make_server

        if self._server is not None:
            return self
        self._server = make_server(self, host, port)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="bsg-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.close_all()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _fixture_list_price(value: Any) -> Optional[float]:
    """A fixture's total_price as the list's numeric calculated_price (null when unusable)."""
    try:
        price = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    return list_price(price) if price.is_finite() else None


def _fixture_item(cid: int, body: Any, created_text: Any, created: float, kind: str,
                  sim: Simulator) -> Dict[str, Any]:
    """A best-effort list row for a fixture, taken from its body where possible."""
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            body = {}
    inner = body if isinstance(body, dict) else {}
    if isinstance(inner.get("data"), dict):
        inner = inner["data"]
    elif len(inner) == 1 and isinstance(next(iter(inner.values())), dict):
        inner = next(iter(inner.values()))
    stats = inner.get("statistics")
    stats = stats[0] if isinstance(stats, list) and stats else stats
    stats = stats if isinstance(stats, dict) else {}

    def count(*keys: str) -> int:
        return sum(v for k, v in stats.items() if k in keys and isinstance(v, int))

    created_str = created_text if isinstance(created_text, str) else \
        datetime.fromtimestamp(created, sim.knobs.zone).strftime(_FMT)
    return {
        "id": cid,
        "name": inner.get("name", f"Fixture campaign {cid}"),
        "sender": inner.get("sender", "fixture"),
        "status": inner.get("status", "done"),
        "message_type": kind,
        "start_at": inner.get("started_at", inner.get("start_at", inner.get("start_date"))),
        "real_start_at": inner.get("actual_start_at", inner.get("real_start_at")),
        "finished_at": inner.get("finished_at"),
        "created_at": created_str,
        "statistics": {"delivered": count("delivered", "read"),
                       "sent": count("delivered", "read", "sent", "undelivered", "expired",
                                     "unknown", "not_rcs_user")},
        "calculated_price": _fixture_list_price(inner.get("total_price")),
        "currency": None,
    }
