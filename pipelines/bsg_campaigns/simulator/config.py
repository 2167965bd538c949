"""Simulator configuration: the catalogue's shape (fixed at construction) and the runtime knobs
(changeable while serving). Knobs live in an immutable snapshot that is swapped atomically, so a
request always sees one consistent set of knobs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Mapping, Tuple, Union
from zoneinfo import ZoneInfo

DEFAULT_FAULT_KINDS: Tuple[str, ...] = ("429", "500", "502", "503", "504")
FAULT_ENDPOINTS: Tuple[str, ...] = ("list", "detail", "messages")
ALL_FAULT_KINDS: Tuple[str, ...] = DEFAULT_FAULT_KINDS + (
    "429_retry_after_seconds",
    "429_retry_after_date",
    "reset",
    "timeout",
    "truncated",
    "non_json",
    "html_200",
)

# Response-shape variants seen across BSG's sources. The first option of each is the real shape.
VARIANT_OPTIONS: Dict[str, Tuple[str, ...]] = {
    "envelope": ("data", "locale", "bare"),
    "type_field": ("type", "message_type"),
    "start_field": ("started_at", "start_at", "start_date"),
    "actual_start_field": ("actual_start_at", "real_start_at"),
    "price_as": ("string", "number"),
    "statistics_as": ("object", "list"),
    "no_fallback_as": ("empty_list", "null", "absent"),
    # The list's calculated_price: the spec types it a number or null (it is "defined only as
    # the response to create campaign or calculate price requests"); a string is tolerated too.
    "list_price_as": ("number", "null", "string"),
}
_VARIANT_ALIASES = {"[]": "empty_list", "list_empty": "empty_list", "none": "null", "str": "string"}

VariantsSpec = Union[str, Mapping[str, str]]

# A campaign's own messages are numbered below this, its fallback SMS from it (message ids).
MAX_CAMPAIGN_MESSAGES = 5_000_000

# Client errors the detail endpoint can be told to answer for chosen ids (`client_errors` knob).
CLIENT_ERROR_STATUSES: Tuple[int, ...] = (400, 403, 404, 409, 410, 422)


@dataclass(frozen=True)
class KnobSettings:
    """The runtime knobs, declared once: set at start in SimulatorConfig, changed at run time
    (sim.configure(...), POST /_sim/config) as validated Knobs snapshots."""

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: Tuple[str, ...] = DEFAULT_FAULT_KINDS
    fault_endpoints: Tuple[str, ...] = FAULT_ENDPOINTS  # where fault_rate applies (e.g. only "messages")
    auth_fault_rate: float = 0.0
    timeout_sleep_s: float = 3.0
    outage: bool = False
    rate_limit: float = 0.0  # API requests per second, 0 = off
    rate_limit_retry_after: bool = True
    token_lifetime_s: float = 30 * 24 * 3600.0
    max_page_size: int = 0  # 0 = serve what was asked
    page_total: bool = True  # False: the list answers without meta.page.total
    page_offset: bool = True  # False: the list ignores page[offset] (every page is the first)
    server_timezone: str = "UTC"
    variants: VariantsSpec = "real"
    corrupt_rate: float = 0.0
    # share of messages served malformed (persistent per message id): each becomes a rejection
    message_corrupt_rate: float = 0.0
    extra_fields: bool = False
    client_errors: Mapping[int, int] = field(default_factory=dict)  # detail id -> 4xx status
    # campaign id -> the 4xx status GET /api/messages?filter[campaign_id]= answers (details unharmed)
    message_client_errors: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulatorConfig(KnobSettings):
    """Everything the simulator needs; every field has a default. The runtime knobs (also
    sim.configure(...) and POST /_sim/config) are those of KnobSettings."""

    seed: int = 42
    campaigns: int = 300  # campaigns existing at start_time
    start_time: datetime = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
    history_days: float = 60.0
    new_per_day: float = 20.0  # creation rate after start_time (pre-generated)
    future_days: float = 60.0  # how far after start_time campaigns are pre-generated
    rcs_share: float = 0.6
    whatsapp_share: float = 0.02
    fallback_share: float = 0.5  # share of rcs campaigns with an SMS fallback
    currency: str = "EUR"
    senders: Tuple[str, ...] = ("BSG Demo", "ShopMart", "Кафе Ромашка", "TaxiGo", "BankInfo")
    api_key: str = "test_simulator_key_0001"
    first_id: int = 53_600_000
    # campaign id -> its total_messages, overriding the drawn size (e.g. one campaign of
    # 2,000,000 messages for scale tests of /api/messages); below MAX_CAMPAIGN_MESSAGES
    message_counts: Mapping[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        if self.campaigns < 0 or self.history_days <= 0 or self.future_days < 0:
            raise ValueError("campaigns >= 0, history_days > 0, future_days >= 0 required")
        if not self.senders:
            raise ValueError("at least one sender is required")
        object.__setattr__(self, "senders", tuple(self.senders))  # frozen: set once here
        if any(not 1 <= int(n) < MAX_CAMPAIGN_MESSAGES for n in self.message_counts.values()):
            raise ValueError(f"message_counts must be within 1..{MAX_CAMPAIGN_MESSAGES - 1}")


@dataclass(frozen=True)
class Knobs(KnobSettings):
    """One immutable snapshot of the runtime knobs (validated), with what is derived from them."""

    # derived, not settable
    zone: Any = field(default=None, compare=False, repr=False)
    variant_plan: Tuple[str, ...] = field(default=(), compare=False, repr=False)


KNOB_NAMES: Tuple[str, ...] = tuple(f.name for f in dataclasses.fields(KnobSettings))


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def normalize_variants(spec: VariantsSpec) -> Tuple[VariantsSpec, Tuple[str, ...]]:
    """Validate a variants spec; return it plus a per-dimension plan ("mixed" or a fixed option)."""
    if isinstance(spec, str):
        if spec not in ("real", "mixed"):
            raise ValueError("variants must be 'real', 'mixed' or a dict of dimension -> option")
        if spec == "real":
            return spec, tuple(opts[0] for opts in VARIANT_OPTIONS.values())
        return spec, tuple("mixed" for _ in VARIANT_OPTIONS)
    if not isinstance(spec, Mapping):
        raise ValueError("variants must be a string or a dict")
    unknown = set(spec) - set(VARIANT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown variant dimensions: {sorted(unknown)}")
    plan = []
    clean: Dict[str, str] = {}
    for dim, opts in VARIANT_OPTIONS.items():
        value = str(spec.get(dim, opts[0]))
        value = _VARIANT_ALIASES.get(value, value)
        if value not in opts and value != "mixed":
            raise ValueError(f"variant {dim} must be one of {opts + ('mixed',)}, got {value!r}")
        plan.append(value)
        clean[dim] = value
    return clean, tuple(plan)


def make_knobs(base: Knobs, changes: Mapping[str, Any]) -> Knobs:
    """A new validated snapshot: `base` with `changes` applied. Raises ValueError on bad input."""
    unknown = set(changes) - set(KNOB_NAMES)
    if unknown:
        raise ValueError(f"unknown knobs: {sorted(unknown)}; known: {list(KNOB_NAMES)}")
    values = {name: getattr(base, name) for name in KNOB_NAMES}
    values.update(changes)
    try:
        for name in ("latency_ms", "fault_rate", "auth_fault_rate", "timeout_sleep_s",
                     "rate_limit", "token_lifetime_s", "corrupt_rate", "message_corrupt_rate"):
            values[name] = float(values[name])
            if values[name] < 0:
                raise ValueError(f"{name} must be >= 0")
        values["max_page_size"] = int(values["max_page_size"])
    except (TypeError, ValueError) as exc:
        raise ValueError(str(exc)) from exc
    for name in ("fault_rate", "auth_fault_rate", "corrupt_rate", "message_corrupt_rate"):
        if values[name] > 1:
            raise ValueError(f"{name} must be within 0..1")
    for name in ("outage", "rate_limit_retry_after", "extra_fields", "page_total", "page_offset"):
        values[name] = _bool(values[name])
    kinds = values["fault_kinds"]
    kinds = (kinds,) if isinstance(kinds, str) else tuple(str(k) for k in kinds)
    bad = [k for k in kinds if k not in ALL_FAULT_KINDS]
    if bad or not kinds:
        raise ValueError(f"fault_kinds must be a non-empty subset of {list(ALL_FAULT_KINDS)}")
    values["fault_kinds"] = kinds
    endpoints = values["fault_endpoints"]
    endpoints = (endpoints,) if isinstance(endpoints, str) else tuple(str(e) for e in endpoints)
    if not set(endpoints) <= set(FAULT_ENDPOINTS):
        raise ValueError(f"fault_endpoints must be a subset of {list(FAULT_ENDPOINTS)}")
    values["fault_endpoints"] = endpoints
    for name in ("client_errors", "message_client_errors"):
        try:
            errors = {int(cid): int(status) for cid, status in dict(values[name] or {}).items()}
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must map campaign ids to HTTP statuses") from exc
        if any(status not in CLIENT_ERROR_STATUSES for status in errors.values()):
            raise ValueError(f"{name} statuses must be within {list(CLIENT_ERROR_STATUSES)}")
        values[name] = errors
    try:
        zone = ZoneInfo(str(values["server_timezone"]))
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError
        raise ValueError(f"unknown server_timezone {values['server_timezone']!r}") from exc
    values["variants"], plan = normalize_variants(values["variants"])
    return Knobs(**values, zone=zone, variant_plan=plan)


def knobs_from_config(cfg: SimulatorConfig) -> Knobs:
    return make_knobs(Knobs(), {name: getattr(cfg, name) for name in KNOB_NAMES})


def knobs_as_dict(knobs: Knobs) -> Dict[str, Any]:
    """JSON-friendly view of the knobs (for GET/POST /_sim/config)."""
    out = {name: getattr(knobs, name) for name in KNOB_NAMES}
    out["fault_kinds"] = list(out["fault_kinds"])
    out["fault_endpoints"] = list(out["fault_endpoints"])
    for name in ("client_errors", "message_client_errors"):
        out[name] = {str(cid): status for cid, status in out[name].items()}
    if not isinstance(out["variants"], str):
        out["variants"] = dict(out["variants"])
    return out
