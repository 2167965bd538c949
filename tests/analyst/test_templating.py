"""The connector's rendering of the dbt templates (analyst/templating.py): dbt's source/ref/var/config
and `return()` idiom, on small projects written here, and on the repository's own files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile, templating

MACROS = """
{% macro outer(prefix) -%}
    {%- set words = inner() -%}
    {% for word in words %}{{ prefix }}{{ word }}{{ ', ' if not loop.last }}{% endfor %}
{%- endmacro %}

{% macro inner() -%}
    {%- do return(var('words')) -%}
{%- endmacro %}
"""


def project(tmp_path: Path, template: str, macros: str = MACROS) -> Path:
    (tmp_path / "macros").mkdir()
    (tmp_path / "macros" / "words.sql").write_text(macros)
    (tmp_path / settings.DBT_PROJECT_FILE).write_text("name: p\nvars:\n  words: [a, b]\n")
    (tmp_path / "model.sql").write_text(template)
    return tmp_path


def test_a_macro_returns_a_value_to_a_macro_defined_after_it_in_the_same_file(tmp_path):
    rendered = templating.render(project(tmp_path, "select {{ outer('x_') }} from {{ source('bsg_campaigns', 't') }}"),
                                 "model.sql")
    assert rendered.text == "select x_a, x_b from t"


def test_ref_var_and_config(tmp_path):
    template = ("{{ config(severity='warn') }}\nselect {{ var('missing', 7) }} as n, '{{ var('words') | join('+') }}'"
                " as w from {{ ref('stg_x') }} join {{ ref('other_package', 'stg_y') }}")
    rendered = templating.render(project(tmp_path, template), "model.sql")
    # dbt's severity name becomes the header the connector reads (`-- severity: warning`)
    assert rendered.text == "-- severity: warning\nselect 7 as n, 'a+b' as w from stg_x join stg_y"
    assert rendered.config == {"severity": "warn"}


@pytest.mark.parametrize("template, message", [
    ("select {{ var('nowhere') }}", "var 'nowhere' is not defined"),
    ("select * from {{ source('other', 'campaigns') }}", "unknown source 'other'"),
    ("select {{ undefined_macro() }}", "cannot render the template"),
    ("select {% if %}", "cannot render the template"),
])
def test_refuses(tmp_path, template, message):
    with pytest.raises(sqlcompile.SqlModelError, match=message):
        templating.render(project(tmp_path, template), "model.sql")


def test_a_macro_defined_twice_is_refused(tmp_path):
    with pytest.raises(sqlcompile.SqlModelError, match="macro outer defined twice"):
        templating.render(project(tmp_path, "select 1", MACROS + MACROS), "model.sql")


def test_repository_checks_read_the_runner_relations_and_severity_from_config():
    for relative in sqlcompile.CHECKS:
        source = (sqlcompile.SQL_DIR / relative).read_text()
        assert source.splitlines()[0] in ("{{ config(severity='error') }}", "{{ config(severity='warn') }}")
        assert "check_context " not in source and "known_message_statuses " not in source  # macros, for dbt
    done = sqlcompile.load_sql_file("checks/done_but_pending.sql")
    assert done.severity == "error" and "cross join check_context as x" in done.text
    unknown = sqlcompile.load_sql_file("checks/unknown_message_statuses.sql")
    assert unknown.severity == "warning" and "from known_message_statuses as k" in unknown.text
