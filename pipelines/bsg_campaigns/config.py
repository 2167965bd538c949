"""Validated settings. dlt injects raw values from `[sources.bsg]` / `SOURCES__BSG__*`; this module
turns them into one typed object, or stops with a message that names the setting to fix."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Optional, Sequence, Tuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import settings as defaults

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ConfigError(ValueError):
    """A setting the user must fix; `setting` is its name under [sources.bsg]."""

    def __init__(self, setting: str, problem: str, section: str = "sources.bsg") -> None:
        self.setting = setting
        env = f"{section}.{setting}".upper().replace(".", "__")
        super().__init__(f"{problem} Fix `{setting}` under [{section}] in .dlt/config.toml "
                         f"(or set {env}).")


@dataclass(frozen=True)
class SourceSettings:
    base_url: str
    types: Tuple[str, ...]
    start_date: Optional[datetime]  # UTC; None = DEFAULT_START_DAYS_BACK before the first run
    refresh_window_hours: float
    timezone: tzinfo
    timezone_name: str
    concurrency: int
    max_requests_per_second: Optional[float]
    page_size: int
    list_window_months: int
    cursor_overlap_minutes: float
    final_statuses: Tuple[str, ...]
    request_timeout_seconds: float
    max_attempts: int
    retry_backoff_seconds: float
    max_retry_after_seconds: float
    batch_size: int

    @property
    def refresh_window(self) -> timedelta:
        return timedelta(hours=self.refresh_window_hours)


def validate(
    *,
    api_key: Any,
    base_url: Any,
    types: Any,
    start_date: Any,
    refresh_window_hours: Any,
    timezone: Any,
    concurrency: Any,
    max_requests_per_second: Any,
    page_size: Any,
    list_window_months: Any,
    cursor_overlap_minutes: Any,
    final_statuses: Any,
    request_timeout_seconds: Any,
    max_attempts: Any,
    retry_backoff_seconds: Any,
    max_retry_after_seconds: Any,
    batch_size: Any,
) -> SourceSettings:
    if not isinstance(api_key, str) or not api_key.strip():
        raise ConfigError("api_key", "The BSG api key is missing or empty.")
    tz, tz_name = _timezone(timezone)
    return SourceSettings(
        base_url=_base_url(base_url),
        types=_names("types", types),
        start_date=parse_date_setting("start_date", start_date, tz),
        refresh_window_hours=_number("refresh_window_hours", refresh_window_hours, low=0),
        timezone=tz,
        timezone_name=tz_name,
        concurrency=int(_number("concurrency", concurrency, low=1, high=256, integer=True)),
        max_requests_per_second=(None if max_requests_per_second in (None, 0, "0", "")
                                 else _number("max_requests_per_second", max_requests_per_second, low=0.01)),
        page_size=int(_number("page_size", page_size, low=defaults.PAGE_SIZE_MIN,
                              high=defaults.PAGE_SIZE_MAX, integer=True)),
        list_window_months=int(_number("list_window_months", list_window_months, low=1, high=12, integer=True)),
        cursor_overlap_minutes=_number("cursor_overlap_minutes", cursor_overlap_minutes, low=0),
        final_statuses=_names("final_statuses", final_statuses),
        request_timeout_seconds=_number("request_timeout_seconds", request_timeout_seconds, low=0.1),
        max_attempts=int(_number("max_attempts", max_attempts, low=1, high=100, integer=True)),
        retry_backoff_seconds=_number("retry_backoff_seconds", retry_backoff_seconds, low=0),
        max_retry_after_seconds=_number("max_retry_after_seconds", max_retry_after_seconds, low=0),
        batch_size=int(_number("batch_size", batch_size, low=1, high=1_000_000, integer=True)),
    )


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("base_url", "The API base URL is missing.")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("base_url", f"The API base URL must be an http(s) URL, got {value!r}.")
    if parts.username or parts.password:
        raise ConfigError("base_url", "The API base URL must not carry credentials; use api_key.")
    return value.strip().rstrip("/")


def _names(setting: str, value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(setting, f"`{setting}` must be a non-empty list of names, got {value!r}.")
    names = tuple(str(v).strip().lower() for v in value)
    bad = [n for n in names if not _TYPE_NAME.match(n)]
    if bad:
        raise ConfigError(setting, f"`{setting}` holds invalid names: {bad}.")
    return tuple(dict.fromkeys(names))


def _number(setting: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
            integer: bool = False) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if integer and number != int(number):
            raise ValueError
    except (TypeError, ValueError):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(setting, f"`{setting}` must be {kind}, got {value!r}.") from None
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(setting, f"`{setting}` must be {bounds}, got {value!r}.")
    return number


def _timezone(value: Any) -> Tuple[tzinfo, str]:
    name = str(value or "UTC").strip()
    if name.upper() in ("UTC", "Z"):
        return timezone.utc, "UTC"
    offset = re.match(r"^(?:UTC)?([+-])(\d{2}):?(\d{2})$", name)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        return timezone(sign * delta), name
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"Unknown time zone {name!r} (use an IANA name like "
                          "'Europe/Kyiv', or an offset like '+03:00').") from None


def parse_date_setting(setting: str, value: Any, tz: tzinfo) -> Optional[datetime]:
    """`2024-01-01` or `2024-01-01 10:00:00` (read in the API's time zone) -> UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ConfigError(setting, f"`{setting}` must be a date like 2024-01-31, got {value!r}.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


def validate_identifier(setting: str, value: str, section: str = "") -> str:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConfigError(setting, f"`{setting}` must be a plain SQL identifier "
                          f"(letters, digits, underscore), got {value!r}.", section=section or "pipeline")
    return value


def default_types() -> Sequence[str]:
    return list(defaults.DEFAULT_TYPES)
