"""The source's settings, declared once: `SourceSettings` is a dlt configspec. dlt resolves it
from `[sources.bsg]` (.dlt/config.toml, .dlt/secrets.toml, the global ~/.dlt files) or
`SOURCES__BSG__*` environment variables, coerces the types, and `on_resolved` validates the
values, normalizes them and rejects keys that are not settings. The resolved instance is the
typed result the source runs with. Every mistake is a `ConfigError`: one paragraph naming the
setting, where it was set and how to fix it."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, TypeGuard, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dlt.common.configuration import configspec
from dlt.common.configuration.container import Container
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException, ValueNotSecretException
from dlt.common.configuration.providers import EnvironProvider
from dlt.common.configuration.providers.doc import BaseDocProvider
from dlt.common.configuration.resolve import inject_section, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration, known_sections
from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from dlt.common.typing import TSecretStrValue
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from bsg_campaigns import settings as defaults
from bsg_campaigns.contract import privacy, tables
from bsg_campaigns.exceptions import SECTION, ConfigError

TFunction = TypeVar("TFunction", bound=Callable[..., Any])

_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")  # see is_identifier
_MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)

# Where dlt.source looks the settings up: (sources, <section>, <source name>), then fewer
# sections (dlt/extract/decorators.py: source_sections); both are "bsg" here.
SECTIONS = (known_sections.SOURCES, defaults.SOURCE_NAME, defaults.SOURCE_NAME)
ENV_PREFIX = SECTION.upper().replace(".", "__") + "__"

# Source arguments that choose what one run does. They are not settings (the spec leaves them
# out, so dlt never injects them): a forgotten SOURCES__BSG__BACKFILL_START would make every
# scheduled run a backfill that never moves the cursor. Set in config, they are reported.
RUN_MODE_ARGUMENTS = {
    "campaign_ids": "`bsg-campaigns run --campaign-id ID`",
    "backfill_start": "`bsg-campaigns run --start-date yyyy-mm-dd`",
    "backfill_end": "`bsg-campaigns run --end-date yyyy-mm-dd`",
    "report": "the `report` argument of bsg_source()",
}

# Tables dlt itself reads below [sources.bsg]: one per resource, the source's own name, and
# the sections of dlt's configs resolved while the source runs (extract workers, data writer
# buffers, schema normalizers, credentials-style embedded configs).
_DLT_TABLES = frozenset({
    defaults.SOURCE_NAME, "campaign_details", tables.CAMPAIGNS, tables.CAMPAIGN_STATISTICS,
    tables.CAMPAIGN_STATISTICS_HISTORY, tables.REJECTED_RECORDS, tables.MESSAGES, tables.MESSAGE_FALLBACKS,
    tables.MESSAGE_READS,
    known_sections.EXTRACT, known_sections.DATA_WRITER, known_sections.SCHEMA, known_sections.NORMALIZE,
    known_sections.LOAD, "credentials",
})


@configspec
class SourceSettings(BaseConfiguration):
    """Every setting of the source, with its default; `.dlt/config.toml` and the README's table
    document the same (tests/test_config.py checks both against this class)."""

    # Optional here so that `models` and `status` resolve without it; the source requires it.
    api_key: Optional[TSecretStrValue] = None
    base_url: str = defaults.DEFAULT_BASE_URL
    types: Optional[List[str]] = dataclasses.field(default_factory=lambda: list(defaults.DEFAULT_TYPES))
    start_date: Optional[str] = None
    refresh_window_hours: float = defaults.DEFAULT_REFRESH_WINDOW_HOURS
    timezone: str = defaults.DEFAULT_TIMEZONE
    concurrency: int = defaults.DEFAULT_CONCURRENCY
    max_requests_per_second: Optional[float] = 0.0
    page_size: int = defaults.DEFAULT_PAGE_SIZE
    list_window_months: int = defaults.DEFAULT_LIST_WINDOW_MONTHS
    cursor_overlap_minutes: float = defaults.DEFAULT_CURSOR_OVERLAP_MINUTES
    final_statuses: Optional[List[str]] = dataclasses.field(default_factory=lambda: list(defaults.FINAL_STATUSES))
    request_timeout_seconds: float = 30.0
    max_attempts: int = 6
    retry_backoff_seconds: float = 0.5
    max_retry_after_seconds: float = 300.0
    batch_size: int = 2000
    duckdb_load_memory_limit: str = defaults.DEFAULT_DUCKDB_LOAD_MEMORY_LIMIT
    # Message-level facts (GET /api/messages): off by default, they cost requests (see the README).
    messages: bool = False
    message_page_size: int = defaults.DEFAULT_PAGE_SIZE
    message_mismatch_rereads: int = defaults.DEFAULT_MESSAGE_MISMATCH_REREADS
    recipient_mode: str = privacy.DEFAULT_RECIPIENT_MODE
    recipient_hash_key: Optional[TSecretStrValue] = None
    recipient_last_digits: int = privacy.DEFAULT_LAST_DIGITS
    store_message_text: bool = False

    def on_resolved(self) -> None:
        pipeline_name = Container()[ConfigSectionContext].pipeline_name
        report_unknown_settings(pipeline_name)
        try:
            self._validate()
        except ConfigError as exc:  # name where the bad value was typed
            raise ConfigError(exc.setting, exc.problem, origin=setting_origin(exc.setting, pipeline_name),
                              fix=exc.fix) from None

    def _validate(self) -> None:
        if self.api_key is not None and not str(self.api_key).strip():
            self.api_key = None  # an empty key is a missing key (require_api_key says so)
        self.base_url = _base_url(self.base_url)
        self.types = _names("types", defaults.DEFAULT_TYPES if self.types is None else self.types)
        self.timezone = _timezone(self.timezone)[1]
        parse_date_setting("start_date", self.start_date, self.tz)
        self.refresh_window_hours = _number("refresh_window_hours", self.refresh_window_hours, low=0)
        self.concurrency = _whole("concurrency", self.concurrency, 1, 256)
        self.max_requests_per_second = (0.0 if self.max_requests_per_second in (None, 0, "0", "")
                                        else _number("max_requests_per_second", self.max_requests_per_second,
                                                     low=0.01))
        self.page_size = _whole("page_size", self.page_size, defaults.PAGE_SIZE_MIN, defaults.PAGE_SIZE_MAX)
        self.list_window_months = _whole("list_window_months", self.list_window_months, 1, 12)
        self.cursor_overlap_minutes = _number("cursor_overlap_minutes", self.cursor_overlap_minutes, low=0)
        self.final_statuses = _names("final_statuses", defaults.FINAL_STATUSES if self.final_statuses is None
                                     else self.final_statuses)
        self.request_timeout_seconds = _number("request_timeout_seconds", self.request_timeout_seconds, low=0.1)
        self.max_attempts = _whole("max_attempts", self.max_attempts, 1, 100)
        self.retry_backoff_seconds = _number("retry_backoff_seconds", self.retry_backoff_seconds, low=0)
        self.max_retry_after_seconds = _number("max_retry_after_seconds", self.max_retry_after_seconds, low=0)
        self.batch_size = _whole("batch_size", self.batch_size, 1, 1_000_000)
        self.duckdb_load_memory_limit = _memory_size("duckdb_load_memory_limit", self.duckdb_load_memory_limit)
        self.messages = _flag("messages", self.messages)
        self.message_page_size = _whole("message_page_size", self.message_page_size, defaults.PAGE_SIZE_MIN,
                                        defaults.PAGE_SIZE_MAX)
        self.message_mismatch_rereads = _whole("message_mismatch_rereads", self.message_mismatch_rereads, 0, 100)
        self.store_message_text = _flag("store_message_text", self.store_message_text)
        if self.recipient_hash_key is not None and not str(self.recipient_hash_key).strip():
            self.recipient_hash_key = None
        self.recipient_last_digits = _whole(privacy.LAST_DIGITS_SETTING, self.recipient_last_digits, 1,
                                            privacy.MAX_LAST_DIGITS)
        # the mode's and the key's own rules, where they are used: messages on (a key in mode hash)
        if self.messages:
            privacy.recipient_policy(self.recipient_mode, self.recipient_hash_key or privacy.generate_key(),
                                     self.recipient_last_digits)

    # -- derived values (computed from the validated fields) ------------------------------------

    @property
    def tz(self) -> tzinfo:
        return _timezone(self.timezone)[0]

    @property
    def first_run_start(self) -> Optional[datetime]:
        """`start_date` in UTC; None = DEFAULT_START_DAYS_BACK before the first run."""
        return parse_date_setting("start_date", self.start_date, self.tz)

    @property
    def refresh_window(self) -> timedelta:
        return timedelta(hours=self.refresh_window_hours)

    def recipient_policy(self, stored_fingerprint: Optional[str]) -> privacy.RecipientPolicy:
        """The phone -> recipient transform for this run. `stored_fingerprint`: the key fingerprint
        the dataset's recipients were hashed with (from the source state; None before the first
        hashed message). Mode hash without a key: on a dataset that never hashed, a key is generated
        into the project's .dlt/secrets.toml (first use); on one that did, the run stops (a new key
        would silently break every join with the stored hashes)."""
        key = None if self.recipient_hash_key is None else str(self.recipient_hash_key)
        if self.recipient_mode == "hash":
            if key is None and stored_fingerprint is None:
                key = store_generated_key()
            elif key is None:
                raise ConfigError(privacy.KEY_SETTING, f"`{privacy.KEY_SETTING}` is not set, and this dataset's "
                                  f"recipients were hashed with a key (fingerprint {stored_fingerprint}).",
                                  fix=f"Restore that key as `{privacy.KEY_SETTING}` under [{SECTION}] in "
                                      f".dlt/secrets.toml (or {ENV_PREFIX}{privacy.KEY_SETTING.upper()}) from "
                                      "your backup. A new key cannot join the stored hashes; to start over on "
                                      "purpose, load into a new dataset.")
            privacy.check_fingerprint(stored_fingerprint, privacy.parse_key(key))
        return privacy.recipient_policy(self.recipient_mode, key, self.recipient_last_digits)

    def require_api_key(self) -> str:
        if self.api_key is None:
            raise ConfigError("api_key", "The BSG api key is missing or empty.")
        return str(self.api_key)


SETTING_NAMES: Tuple[str, ...] = tuple(SourceSettings.get_resolvable_fields())


def resolve_settings(pipeline_name: Optional[str] = None, **explicit: Any) -> SourceSettings:
    """What `bsg_source` resolves, in the same sections; raises ConfigError for every mistake
    (a value dlt cannot coerce, a secret in config.toml, an unknown key, a value out of range)."""
    context = ConfigSectionContext(pipeline_name=pipeline_name, sections=SECTIONS)
    try:
        with inject_section(context):
            return resolve_configuration(SourceSettings(), explicit_value=explicit)
    except ConfigError as exc:
        if exc.setting not in explicit:
            raise
        # an argument wins over every provider: never name a file that also sets it as the origin
        raise ConfigError(exc.setting, exc.problem, fix=exc.fix) from None
    except ConfigValueCannotBeCoercedException as exc:
        raise coercion_error(exc, pipeline_name) from None
    except ValueNotSecretException:
        raise ConfigError("api_key", "The api key is a secret and dlt reads secrets only from .dlt/secrets.toml, "
                          "environment variables or a vault, not from config.toml.",
                          fix="Move `api_key` from .dlt/config.toml to [sources.bsg] in .dlt/secrets.toml "
                              "(or set SOURCES__BSG__API_KEY).") from None


_KINDS = {int: "a whole number", float: "a number", str: "text"}


def coercion_error(exc: ConfigValueCannotBeCoercedException, pipeline_name: Optional[str] = None) -> ConfigError:
    """dlt could not coerce a configured value into the setting's type."""
    setting = str(getattr(exc, "field_name", "") or "?")
    hint = getattr(exc, "hint", None)
    if hint in _KINDS:
        kind = _KINDS[hint]
    elif hint is list or getattr(hint, "__origin__", None) is list:
        env = f"{ENV_PREFIX}{setting.upper()}"
        kind = f"a list of names, e.g. [\"rcs\", \"sms\"] in TOML, or {env}='[\"rcs\",\"sms\"]' (JSON)"
    else:
        kind = f"of type {getattr(hint, '__name__', hint)}"
    shown = "" if setting in defaults.SECRET_SETTINGS else f", got {getattr(exc, 'field_value', '?')!r}"
    return ConfigError(setting, f"`{setting}` must be {kind}{shown}.", origin=setting_origin(setting, pipeline_name))


# -- unknown keys ----------------------------------------------------------------------------------


def report_unknown_settings(pipeline_name: Optional[str] = None) -> None:
    """dlt ignores keys no spec asks for, so a typo (`refresh_window_hour = 24`) would silently
    keep the default. Every key below [sources.bsg] (and [sources.bsg.bsg]) in every TOML
    provider and every SOURCES__BSG__* variable must be a setting or one of dlt's own tables."""
    found = [problem for problem in _unknown_in_environment(pipeline_name)]
    found += [problem for problem in _unknown_in_documents(pipeline_name)]
    if found:
        raise ConfigError(found[0][0], " ".join(text for _, text in found),
                          fix=f"Correct the name or remove {'it' if len(found) == 1 else 'them'}; the settings are "
                              "listed in the README's Configuration section. Nothing was run.")


def _unknown_in_environment(pipeline_name: Optional[str]) -> List[Tuple[str, str]]:
    problems = []
    prefixes = [ENV_PREFIX] + ([f"{pipeline_name.upper()}__{ENV_PREFIX}"] if pipeline_name else [])
    for variable in sorted(os.environ):
        prefix = next((p for p in prefixes if variable.startswith(p)), None)
        if prefix is None:
            continue
        path = variable[len(prefix):].lower().split("__")
        if path[0] == defaults.SOURCE_NAME and len(path) > 1:  # SOURCES__BSG__BSG__<setting>
            prefix, path = prefix + path[0].upper() + "__", path[1:]
        name = path[0]
        if (len(path) == 1 and name in SETTING_NAMES) or (len(path) > 1 and name in _DLT_TABLES):
            continue
        typed = f"the environment variable {variable}"
        problems.append((name, _unknown_text(name, typed, lambda s: f"{prefix}{s.upper()}")))
    return problems


def _unknown_in_documents(pipeline_name: Optional[str]) -> List[Tuple[str, str]]:
    problems = []
    for provider in _providers():
        if not isinstance(provider, BaseDocProvider):
            continue
        for scope in (None, pipeline_name) if pipeline_name else (None,):
            for sections in (SECTIONS[:2], SECTIONS):
                # BaseDocProvider annotates pipeline_name as str where ConfigProvider has
                # Optional[str]; its get_key_path treats None as "no pipeline" (dlt passes None too).
                table, _ = provider.get_value(sections[-1], Any, scope, *sections[:-1])  # type: ignore[arg-type]
                if not isinstance(table, dict):
                    continue
                for name, value in table.items():
                    if name in SETTING_NAMES and not isinstance(value, dict):
                        continue
                    if isinstance(value, dict) and (name in _DLT_TABLES and not (
                            sections == SECTIONS and name == defaults.SOURCE_NAME)):
                        continue
                    where = _document_location(provider, name, scope, *sections)
                    header = ".".join(((scope,) if scope else ()) + sections)
                    typed = f"`{name}` under [{header}] in {where}"
                    problems.append((name, _unknown_text(name, typed, lambda s: f"`{s}`")))
    return problems


def _unknown_text(name: str, typed: str, spelled: Any) -> str:
    if name in RUN_MODE_ARGUMENTS:
        return (f"{typed[0].upper()}{typed[1:]} is not a setting: `{name}` chooses what one run does (use "
                f"{RUN_MODE_ARGUMENTS[name]}); as configuration it would apply to every scheduled run.")
    close = difflib.get_close_matches(name, SETTING_NAMES, n=1, cutoff=0.6)
    suggestion = f": did you mean {spelled(close[0])}?" if close else "."
    return f"{typed[0].upper()}{typed[1:]} is not a setting of the BSG source{suggestion}"


# -- the recipient hash key, generated on first use ------------------------------------------------


def store_generated_key() -> str:
    """A new recipient_hash_key written under [sources.bsg] of the project's .dlt/secrets.toml
    (created when missing, readable by its owner only), and set in dlt's secrets provider so this
    process resolves it too. Logs where it went (never the key). A secrets file that cannot be
    written stops the run: a key that lives only in memory would be lost with the process."""
    import fcntl
    import logging

    import tomlkit

    settings_dir = Container()[PluggableRunContext].context.settings_dir
    path = os.path.abspath(os.path.join(settings_dir, "secrets.toml"))
    key = privacy.generate_key()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Two pipelines of one project starting together must not each write their own key: the
        # file is read and written under an exclusive lock, and a key found there is used.
        with open(path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            document = (tomlkit.parse(open(path, encoding="utf-8").read()) if os.path.exists(path)
                        else tomlkit.document())
            table: Any = document
            for section in SECTION.split("."):
                if section not in table:
                    table[section] = tomlkit.table()
                table = table[section]
            found = str(table.get(privacy.KEY_SETTING) or "").strip()
            if found:  # another run of the project wrote one meanwhile
                key = found
            else:
                table[privacy.KEY_SETTING] = key
                # a new file beside it, then renamed over it: a kill mid-write never truncates the
                # user's secrets, and the result is readable by its owner only
                temporary = f"{path}.{os.getpid()}.tmp"
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "w", encoding="utf-8") as secrets_file:
                    secrets_file.write(tomlkit.dumps(document))
                    secrets_file.flush()
                    os.fsync(secrets_file.fileno())
                os.replace(temporary, path)
    except (OSError, ValueError) as exc:  # tomlkit's parse errors are ValueErrors
        raise ConfigError(privacy.KEY_SETTING, f"`{privacy.KEY_SETTING}` is not set and a new key could not be "
                          f"written to {path} ({type(exc).__name__}: {exc}).",
                          fix=privacy.SECRETS_FIX) from None
    for provider in _providers():
        if getattr(provider, "supports_secrets", False) and isinstance(provider, BaseDocProvider):
            provider.set_value(privacy.KEY_SETTING, key, None, *SECTIONS[:2])
            break
    logging.getLogger("bsg_campaigns.config").warning(
        "%s %s (fingerprint %s) into %s: back it up like the api key; a lost key cannot be recovered and "
        "new recipients would no longer join the stored ones", "found" if found else "generated",
        privacy.KEY_SETTING, privacy.key_fingerprint(bytes.fromhex(key)), path)
    return key


# -- where a value was typed ---------------------------------------------------------------------


def setting_origin(setting: str, pipeline_name: Optional[str] = None) -> Optional[str]:
    """The provider and key dlt took `setting` from, in dlt's lookup order (pipeline-scoped
    first, then the most specific sections); None when it was not configured (a default or an
    explicit argument)."""
    scopes = (pipeline_name, None) if pipeline_name else (None,)
    paths = [SECTIONS[:n] for n in range(len(SECTIONS), -1, -1)]
    for scope in scopes:
        for provider in _providers():
            for path in paths:
                try:
                    value, key = provider.get_value(setting, Any, scope, *path)
                except Exception:  # noqa: BLE001 - a provider that cannot answer (a vault offline)
                    continue
                if value is None:
                    continue
                if isinstance(provider, EnvironProvider):
                    return f"the environment variable {key}"
                header = ".".join(((scope,) if scope else ()) + path)
                where = _document_location(provider, setting, scope, *path)
                return f"`{setting}` under [{header}] in {where}" if header else f"`{setting}` in {where}"
    return None


def _document_location(provider: Any, key: str, scope: Optional[str], *sections: str) -> str:
    """The file a TOML value came from: dlt merges ./.dlt and the global dir into one provider
    and marks values from the global file with a "global:" origin."""
    try:
        origin = provider.get_value_location(key, scope, *sections) or ""
    except Exception:  # noqa: BLE001 - providers without locations
        origin = ""
    paths: List[str] = list(getattr(provider, "present_locations", None) or [])
    if not paths:
        name: str = getattr(provider, "name", "the configuration")
        return name
    return os.path.abspath(paths[-1] if origin.startswith("global:") else paths[0])


def _providers() -> Sequence[Any]:
    return Container()[PluggableRunContext].providers.providers


@configspec(init=False)
class PostgresCredentialsPasswordOptional(PostgresCredentials):
    """dlt's PostgreSQL credentials require a password, libpq does not: with trust auth,
    ~/.pgpass or PGPASSWORD a URL without one is the normal setup (runner.make_pipeline)."""

    # dlt's base declares `password: TSecretStrValue = None`; Optional is what makes the spec
    # resolve without one.
    password: Optional[TSecretStrValue] = None  # type: ignore[assignment]


# -- value rules ----------------------------------------------------------------------------------


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("base_url", "The API base URL is missing.")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError("base_url", f"The API base URL must be an http(s) URL, got {value!r}.")
    if parts.username or parts.password:
        raise ConfigError("base_url", "The API base URL must not carry credentials; use api_key.")
    return value.strip().rstrip("/")


def _names(setting: str, value: Any) -> List[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(setting, f"`{setting}` must be a non-empty list of names, got {value!r}.")
    names = [str(v).strip().lower() for v in value]
    bad = [n for n in names if not _TYPE_NAME.match(n)]
    if bad:
        raise ConfigError(setting, f"`{setting}` holds invalid names: {bad}.")
    return list(dict.fromkeys(names))


def _number(setting: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
            integer: bool = False) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if integer and number != int(number):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(setting, f"`{setting}` must be {kind}, got {value!r}.") from None
    if number != number or (low is not None and number < low) or (high is not None and number > high):
        bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(setting, f"`{setting}` must be {bounds}, got {value!r}.")
    return number


def _flag(setting: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(setting, f"`{setting}` must be true or false, got {value!r}.")


def _whole(setting: str, value: Any, low: int, high: int) -> int:
    return int(_number(setting, value, low=low, high=high, integer=True))


def _memory_size(setting: str, value: Any) -> str:
    limit = "" if value is None else str(value).strip()
    if limit and not _MEMORY_SIZE.match(limit):
        raise ConfigError(setting, f"`{setting}` {limit!r} is not a size: use e.g. \"64MB\" or \"1GB\", or \"\" "
                          "for DuckDB's default.")
    return limit


def _timezone(value: Any) -> Tuple[tzinfo, str]:
    name = str(value or "UTC").strip()
    if name.upper() in ("UTC", "Z"):
        return timezone.utc, "UTC"
    offset = re.match(r"^(?:UTC)?([+-])(\d{2}):?(\d{2})$", name)
    if offset:
        sign = 1 if offset.group(1) == "+" else -1
        delta = timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        if delta >= timedelta(hours=24):
            raise ConfigError("timezone", f"The time zone offset {name!r} is out of range (at most ±23:59).")
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
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ConfigError(setting, f"`{setting}` is out of range, got {value!r}.") from None


def is_identifier(value: object) -> TypeGuard[str]:
    """The one rule for a name placed into SQL (the dataset name; the analyst layer's tables,
    views and columns): ASCII letters, digits and underscores, not starting with a digit, at most
    63 characters (PostgreSQL cuts longer names short, so two could become one)."""
    return isinstance(value, str) and IDENTIFIER.fullmatch(value) is not None


def as_keyword_arguments(spec: Type[BaseConfiguration]) -> Callable[[TFunction], TFunction]:
    """Gives the decorated function a signature with one keyword argument per field of `spec`
    (default: the field's). dlt binds explicit arguments by the function's signature
    (inject.with_config: `sig.bind_partial(...)` -> explicit values of the spec), so this lets
    callers write `bsg_source(base_url=..., concurrency=4)` while the settings are declared once,
    in the spec; dlt hands the resolved instance to the parameter annotated with the spec and
    the same values to the function's `**kwargs`."""
    import inspect

    def decorate(function: TFunction) -> TFunction:
        signature = inspect.signature(function)
        own = [p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        instance = spec()
        settings = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=getattr(instance, name),
                                      annotation=hint)
                    for name, hint in spec.get_resolvable_fields().items()]
        setattr(function, "__signature__", signature.replace(parameters=own + settings))  # inspect reads it
        return function

    return decorate


def check_settings(source_args: Dict[str, Any]) -> Tuple[float, Tuple[str, ...]]:
    """`refresh_window_hours` and `final_statuses` as the source resolves and validates them (for
    the checks); `source_args` may hold any `bsg_source` arguments. Raises ConfigError (a UserError)."""
    settings = resolve_settings(**{k: v for k, v in source_args.items() if k in SETTING_NAMES})
    return settings.refresh_window_hours, tuple(settings.final_statuses or defaults.FINAL_STATUSES)
