"""The settings are declared once (config.SourceSettings, a dlt configspec): the source's
signature, .dlt/config.toml and the README's table agree with it; unknown keys are reported,
dlt's own tables are not; run-mode arguments never come from configuration; the error
translator answers any exception shape."""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Dict

import pytest

from bsg_campaigns import bsg_source
from bsg_campaigns.settings import SECRET_SETTINGS
from bsg_campaigns.config import RUN_MODE_ARGUMENTS, SETTING_NAMES, SourceSettings, resolve_settings
from bsg_campaigns.exceptions import ConfigError
from bsg_campaigns.app.runner import _translate
from bsg_campaigns.config import source_refresh_hours
from bsg_campaigns.exceptions import RunFailed, UserError

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS: Dict[str, Any] = dict(SourceSettings())


@pytest.fixture(autouse=True)
def no_developer_settings(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("SOURCES__"):
            monkeypatch.delenv(name)


def _toml_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


def test_config_toml_documents_every_setting_with_its_default():
    text = (ROOT / ".dlt" / "config.toml").read_text()
    table = tomllib.loads(text)["sources"]["bsg"]
    # a setting without a default (start_date) is documented as a commented-out example
    source_part = text[text.index("\n[sources.bsg]\n") + 1:].split("\n[", 1)[0]
    commented = set(re.findall(r"^# (\w+) = ", source_part, flags=re.MULTILINE))
    assert set(table) | commented == set(SETTING_NAMES) - set(SECRET_SETTINGS)
    for name, value in table.items():
        assert _toml_value(value) == _toml_value(DEFAULTS[name]), name
    for name in commented:
        assert DEFAULTS[name] is None, name
    secrets_example = tomllib.loads((ROOT / ".dlt" / "secrets.toml.example").read_text())
    assert set(secrets_example["sources"]["bsg"]) == set(SECRET_SETTINGS)


def test_readme_table_lists_every_setting_with_its_default():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration"):readme.index("## Tables")]
    rows = re.findall(r"^\| `(\w+)`[^|]*\| ([^|]*) \|", section, flags=re.MULTILINE)
    assert [name for name, _ in rows] == list(SETTING_NAMES)
    for name, cell in rows:
        shown = re.match(r"`([^`]*)`", cell.strip())
        if DEFAULTS[name] is None:
            assert shown is None, (name, cell)  # described in words: "365 days before the first run"
            continue
        value = DEFAULTS[name]
        expected = {_toml_value(value), str(value)}
        if isinstance(value, float) and value.is_integer():
            expected.add(str(int(value)))
        assert shown is not None and shown.group(1) in expected, (name, cell, expected)


def test_source_signature_is_the_spec_plus_run_mode_arguments():
    parameters = inspect.signature(bsg_source).parameters
    assert list(parameters) == ["settings", *RUN_MODE_ARGUMENTS, *SETTING_NAMES]
    for name in SETTING_NAMES:
        assert parameters[name].default == DEFAULTS[name], name
    assert not set(RUN_MODE_ARGUMENTS) & set(SETTING_NAMES)  # dlt injects only the spec's fields


def test_keyword_settings_reach_the_source_validated():
    from dlt.common.configuration.inject import get_fun_last_config

    bsg_source(api_key="k", base_url="http://127.0.0.1:9/", concurrency="3", types=["SMS"])
    resolved = get_fun_last_config(bsg_source._f)  # what dlt injected into the source function
    assert isinstance(resolved, SourceSettings)
    assert (resolved.base_url, resolved.concurrency, resolved.types) == ("http://127.0.0.1:9", 3, ["sms"])


def test_values_resolve_from_the_source_table_and_dlt_tables_are_not_unknown(monkeypatch):
    monkeypatch.setenv("SOURCES__BSG__BSG__PAGE_SIZE", "100")  # dlt's (sources, section, name) path
    monkeypatch.setenv("SOURCES__BSG__REFRESH_WINDOW_HOURS", "24")
    for name in ("SOURCES__BSG__EXTRACT__WORKERS", "SOURCES__BSG__CAMPAIGNS__SELECTED",
                 "SOURCES__BSG__DATA_WRITER__BUFFER_MAX_ITEMS", "SOURCES__BSG__SCHEMA__NAMING",
                 "SOURCES__BSG__CREDENTIALS__X", "BSG_CAMPAIGNS__SOURCES__BSG__PAGE_SIZE"):
        monkeypatch.setenv(name, "200" if "PAGE_SIZE" in name else "snake_case")
    settings = resolve_settings()
    assert (settings.page_size, settings.refresh_window_hours) == (100, 24.0)
    assert resolve_settings("bsg_campaigns").page_size == 200  # pipeline-scoped wins, as in dlt
    assert source_refresh_hours({}) == 24.0


@pytest.mark.parametrize("variable", ["SOURCES__BSG__BACKFILL_START", "SOURCES__BSG__CAMPAIGN_IDS",
                                      "SOURCES__BSG__BSG__BACKFILL_END", "SOURCES__BSG__REPORT"])
def test_run_mode_arguments_in_the_environment_are_reported(monkeypatch, variable):
    monkeypatch.setenv(variable, "2024-01-01")
    with pytest.raises(ConfigError) as info:
        bsg_source(api_key="k")  # embedded use, no CLI: the source itself refuses
    assert variable in str(info.value) and "not a setting" in str(info.value)


def test_unknown_setting_names_the_closest(monkeypatch):
    monkeypatch.setenv("SOURCES__BSG__REFRESH_WINDOW_HOUR", "24")
    with pytest.raises(ConfigError, match="did you mean SOURCES__BSG__REFRESH_WINDOW_HOURS"):
        resolve_settings()
    with pytest.raises(UserError, match="SOURCES__BSG__REFRESH_WINDOW_HOUR"):
        source_refresh_hours({})  # the models command reads the window through the same spec


def test_translator_answers_nested_credential_traces():
    """The crash of issue 10: dlt's traces for embedded credentials are LookupTraces, not
    LookupTrace (no `.key`)."""
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.common.configuration.resolve import resolve_configuration
    from dlt.destinations.impl.postgres.configuration import PostgresClientConfiguration

    with pytest.raises(ConfigFieldMissingException) as info:
        resolve_configuration(PostgresClientConfiguration(), sections=("destination", "postgres"))
    translated = _translate(info.value)
    assert isinstance(translated, UserError) and "`credentials`" in str(translated)
    assert "DESTINATION__POSTGRES__CREDENTIALS" in str(translated)


class _Hostile(Exception):
    step = property(lambda self: 1 / 0)

    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


def test_translator_never_crashes():
    assert isinstance(_translate(_Hostile()), RunFailed)
    plain = _translate(RuntimeError("disk full\nsecond line of detail"))
    assert isinstance(plain, RunFailed) and "disk full." in str(plain) and "second line" not in str(plain)



def test_translator_lets_our_errors_explain_themselves():
    """No list of our types in the translator: any BsgError in the chain gives the paragraph
    (`explain`) and, through its exit code, the error class."""
    from bsg_campaigns.api.exceptions import ApiUnavailable
    from bsg_campaigns.exceptions import BsgError

    class QuotaExceeded(BsgError):  # a layer's new error, unknown to the translator
        exit_code = 2

        def explain(self, step: str) -> str:
            return f"Raise the account's quota, then run again ({step} stopped)."

    def failed_step(cause: BaseException) -> Exception:
        wrapper = RuntimeError("dlt's wrapper")
        wrapper.step = "extract"  # as dlt's PipelineStepFailed
        wrapper.__cause__ = cause
        return wrapper

    translated = _translate(failed_step(QuotaExceeded("quota")))
    assert type(translated) is UserError
    assert str(translated) == "Raise the account's quota, then run again (extract stopped)."
    translated = _translate(failed_step(ApiUnavailable("20 campaign details in a row could not be fetched")))
    assert type(translated) is RunFailed and str(translated) == (
        "The BSG API failed during extract: 20 campaign details in a row could not be fetched. Nothing was committed "
        "for this run; the next run resumes from the last committed state.")

def test_cli_scrubs_secret_values_from_any_message(monkeypatch):
    from bsg_campaigns.app.console import scrubbed as _scrubbed

    monkeypatch.setenv("SOURCES__BSG__API_KEY", "live_leaky_key_42")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://u:pw12345@db/x")
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", "/data/bsg.duckdb")  # a path, not a secret
    text = _scrubbed("key live_leaky_key_42 url postgresql://u:pw12345@db/x file /data/bsg.duckdb")
    assert text == "key *** url *** file /data/bsg.duckdb"


def test_a_bad_backfill_argument_is_named_as_an_argument():
    with pytest.raises(ConfigError) as info:
        bsg_source(api_key="k", backfill_start="2024-13-01")
    message = str(info.value)
    assert "`backfill_start` must be a date" in message and "bsg_source()" in message
    assert "[sources.bsg]" not in message  # not a setting: no advice to configure it
