"""Destination-specific SQL lives only in sqlcompile.dialect_fixups; every model and check
transpiles to every supported dialect without constructs that dialect lacks."""

from __future__ import annotations

import pytest
import sqlglot

from bsg_campaigns.analyst import sqlcompile

ALL_FILES = list(sqlcompile.MODELS) + list(sqlcompile.CHECKS)


@pytest.mark.parametrize("relative", ALL_FILES)
def test_bigquery_text_has_no_epoch_extract(relative):
    text = sqlcompile.compile_file(relative, "bigquery", "analytics")
    assert "EPOCH" not in text.upper()
    sqlglot.parse_one(text, read="bigquery")


def test_fixups_touch_only_bigquery():
    expression = sqlglot.parse_one("select extract(epoch from a) from t", read="duckdb")
    assert sqlcompile.dialect_fixups(expression, "postgres") is expression
    assert "UNIX_MICROS(a)" in sqlcompile.generate(expression, "bigquery")
