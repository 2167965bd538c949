"""Column documentation is data: sql/columns.yml against what it generates (dbt property files,
README sections), against the warehouse a simulator run builds, and against contract/tables.py.

The dataset's bookkeeping tables (dlt's `_dlt_loads`, `_dlt_pipeline_state`, `_dlt_version` and
the runner's `_bsg_views`) are not documented. The loaded tables have no `_dlt_*` columns (the
connector loads arrow tables without dlt's row ids), so none is excluded: one appearing would
have to be documented.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import pyarrow as pa
import pytest
import yaml

from conftest import Harness
from bsg_campaigns.contract.privacy import generate_key
from bsg_campaigns import settings
from bsg_campaigns.analyst import docs, sqlcompile
from bsg_campaigns.analyst.exceptions import ColumnDocsError
from bsg_campaigns.contract import tables
from bsg_campaigns.simulator import Simulator, SimulatorConfig

REGENERATE = f"run `.venv/bin/{docs.COMMAND}` and commit the files it writes"

DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
    "double": "DOUBLE",
    "decimal(38,7)": "DECIMAL(38,7)",
    "json": "JSON",
}
ARROW_TYPES = {
    "bigint": pa.int64(),
    "text": pa.string(),
    "boolean": pa.bool_(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "decimal(38,7)": pa.decimal128(tables.PRICE_PRECISION, tables.PRICE_SCALE),
    "json": pa.string(),  # JSON text in arrow; the dlt hint makes it a json column
}
DLT_HINTS = {
    tables.CAMPAIGNS: tables.CAMPAIGNS_COLUMNS,
    tables.CAMPAIGN_STATISTICS: tables.STATISTICS_COLUMNS,
    tables.CAMPAIGN_STATISTICS_HISTORY: tables.HISTORY_COLUMNS,
    tables.REJECTED_RECORDS: tables.REJECTED_COLUMNS,
    tables.MESSAGES: tables.MESSAGES_COLUMNS,
    tables.MESSAGE_FALLBACKS: tables.MESSAGE_FALLBACKS_COLUMNS,
    tables.MESSAGE_READS: tables.MESSAGE_READS_COLUMNS,
}

Warehouse = Dict[str, List[Tuple[str, str]]]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """relation -> [(column, DuckDB type)] of a connector run over the simulator, views built."""
    simulator = Simulator(SimulatorConfig(seed=11, campaigns=40)).start()
    try:
        harness = Harness(tmp_path_factory.mktemp("column_docs"), simulator)
        harness.run(build_models=True, messages=True, recipient_hash_key=generate_key())
        rows = harness.query(
            "select table_name, column_name, data_type from information_schema.columns"
            f" where table_schema = '{harness.pipeline.dataset_name}' order by table_name, ordinal_position"
        )
    finally:
        simulator.stop()
    columns: Warehouse = {}
    for relation, column, data_type in rows:
        if not relation.startswith("_dlt_") and relation != "_bsg_views":
            columns.setdefault(relation, []).append((column, data_type))
    return columns


def mismatches(relations: Sequence[docs.Relation], warehouse: Warehouse) -> List[str]:
    """Every disagreement between the documentation and the warehouse, one line each."""
    found: List[str] = []
    documented = {r.name: r for r in relations}
    for name in sorted(set(warehouse) - set(documented)):
        found.append(f"{name}: in the warehouse, not documented in sql/columns.yml")
    for name in sorted(set(documented) - set(warehouse)):
        found.append(f"{name}: documented, not in the warehouse")
    for name in sorted(set(documented) & set(warehouse)):
        actual = dict(warehouse[name])
        doc = {c.name: c.type for c in documented[name].columns}
        found += [f"{name}.{c}: in the warehouse, not documented" for c in actual if c not in doc]
        found += [f"{name}.{c}: documented, not in the warehouse" for c in doc if c not in actual]
        found += [
            f"{name}.{c}: documented as {doc[c]}, the warehouse has {actual[c]}"
            for c in doc
            if c in actual and DUCKDB_TYPES[doc[c]] != actual[c]
        ]
    return found


def copy_checkout(tmp_path: Path) -> Path:
    """What the generator reads and writes, copied, so a test can edit it."""
    shutil.copytree(docs.REPOSITORY_ROOT / "sql", tmp_path / "sql")
    shutil.copy(docs.REPOSITORY_ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def edit_columns_file(root: Path, old: str, new: str) -> None:
    path = root / docs.COLUMNS_FILE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# generated files are current
# ---------------------------------------------------------------------------------------------


def test_generated_files_are_current():
    stale = docs.stale_files()
    assert not stale, f"generated from sql/columns.yml but stale: {[str(p) for p in stale]}; {REGENERATE}"


def test_a_doc_edit_without_regenerating_is_stale_until_written(tmp_path, capsys):
    root = copy_checkout(tmp_path)
    readme_before = (root / "README.md").read_text(encoding="utf-8")
    edit_columns_file(root, "become U+FFFD.", "become U+FFFD (edited).")
    assert docs.stale_files(root) == [docs.SOURCES_FILE, Path("README.md")]
    assert docs.main(["--check", "--root", str(root)]) == 1
    assert docs.COMMAND in capsys.readouterr().err

    assert docs.write(root) == [docs.SOURCES_FILE, Path("README.md")]
    assert docs.stale_files(root) == []
    assert docs.main(["--check", "--root", str(root)]) == 0
    readme_after = (root / "README.md").read_text(encoding="utf-8")
    assert "become U+FFFD (edited)." in readme_after
    assert "become U+FFFD (edited)." in (root / docs.SOURCES_FILE).read_text(encoding="utf-8")
    # only the marked sections change: the prose around them is kept
    section = re.compile(r"<!-- (\w+):start.*?<!-- \1:end -->", re.DOTALL)
    assert section.sub("", readme_after) == section.sub("", readme_before)


def test_a_hand_edit_of_a_generated_file_is_stale(tmp_path):
    root = copy_checkout(tmp_path)
    models = root / "sql" / "marts" / "_bsg_campaigns__models.yml"
    models.write_text(models.read_text(encoding="utf-8").replace("delivered / messages.", "delivered / all."),
                      encoding="utf-8")
    assert docs.stale_files(root) == [Path("sql", "marts", "_bsg_campaigns__models.yml")]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("check: unique_statistics_key", "check: no_such_check", "not in sqlcompile.CHECKS"),
        ("like: stg_campaigns.has_read_receipts\n", "like: stg_campaigns.no_such_column\n", "no such column"),
        ("Primary {FAILED_STATUSES+}.", "Primary {FAILED_STATUSE}.", "unknown placeholder"),
        ("type: double\n        description: delivered / messages.", "type: float\n        description: x.",
         "needs a name and a type"),
        ("  - name: daily_rates\n", "  - name: no_such_view\n", "not a model of sqlcompile.MODELS"),
        ("  - name: total_phones\n", "  - name: total_messages\n", "documented twice"),
        ("values: KNOWN_MESSAGE_STATUSES", "values: KNOWN_STATUSES", "not a tuple of settings.py"),
        ("{to: campaigns,", "{to: campaign,", "to 'campaign' is not documented"),
    ],
)
def test_a_malformed_columns_file_names_the_place(tmp_path, old, new, message):
    root = copy_checkout(tmp_path)
    edit_columns_file(root, old, new)
    with pytest.raises(ColumnDocsError, match=message):
        docs.expected_files(root)
    assert docs.main(["--check", "--root", str(root)]) == ColumnDocsError.exit_code == 2


# ---------------------------------------------------------------------------------------------
# the dbt property files
# ---------------------------------------------------------------------------------------------


def read_yaml(relative: Path) -> dict:
    return yaml.safe_load((docs.REPOSITORY_ROOT / relative).read_text(encoding="utf-8"))


def test_dbt_sources_are_the_loaded_tables_under_the_schema_var():
    (source,) = read_yaml(docs.SOURCES_FILE)["sources"]
    assert source["name"] == "bsg_campaigns"
    assert source["schema"] == "{{ var('bsg_campaigns_schema', 'bsg_campaigns') }}"
    assert [t["name"] for t in source["tables"]] == list(sqlcompile.SOURCE_TABLES)
    for table in source["tables"]:
        assert [c["name"] for c in table["columns"]] == sqlcompile.SOURCE_TABLES[table["name"]].names
        assert all(c["description"] and c["data_type"] for c in table["columns"])
    statistics = {c["name"]: c for c in source["tables"][1]["columns"]}
    accepted = statistics["status"]["data_tests"][1]["accepted_values"]
    assert accepted["arguments"]["values"] == list(settings.KNOWN_MESSAGE_STATUSES)
    assert accepted["config"]["severity"] == "warn"  # unknown_message_statuses is a warning


def test_dbt_models_document_every_view_of_its_layer():
    for layer in ("staging", "marts"):
        models = read_yaml(Path("sql", layer, "_bsg_campaigns__models.yml"))["models"]
        expected = [Path(p).stem for p in sqlcompile.MODELS if p.startswith(f"{layer}/")]
        assert [m["name"] for m in models] == expected
        for model in models:
            assert model["description"] and model["columns"]
            assert all(c["description"] and c["data_type"] for c in model["columns"])


def test_every_generic_test_that_mirrors_a_check_takes_its_severity():
    relations = docs.load()
    mirrored = {t.check: t.severity for r in relations for t in r.tests + sum((c.tests for c in r.columns), ())
                if t.check}
    assert set(mirrored) >= {"unique_campaign_id", "unique_statistics_key", "currency_code",
                             "unknown_message_statuses", "statistics_without_campaign"}
    for check, severity in mirrored.items():
        assert sqlcompile.load_sql_file(f"checks/{check}.sql").severity == severity


# ---------------------------------------------------------------------------------------------
# complete, both ways, against the warehouse and the contract
# ---------------------------------------------------------------------------------------------


def test_the_type_vocabulary_maps_to_the_warehouse():
    assert set(DUCKDB_TYPES) == set(docs.TYPES)


def test_every_column_of_the_warehouse_is_documented_and_nothing_else(warehouse):
    assert set(warehouse) >= set(sqlcompile.SOURCE_TABLES) | set(sqlcompile.model_names())
    problems = mismatches(docs.load(), warehouse)
    assert not problems, "sql/columns.yml and the warehouse disagree:\n" + "\n".join(problems)


def test_a_dropped_column_doc_is_reported(warehouse, tmp_path):
    root = copy_checkout(tmp_path)
    edit_columns_file(root, "      - like: stg_campaigns.has_read_receipts\n", "")
    assert mismatches(docs.load(root), warehouse) == [
        "campaign_rates.has_read_receipts: in the warehouse, not documented"
    ]


def test_a_column_added_to_a_view_is_reported(warehouse):
    grown = dict(warehouse, daily_rates=warehouse["daily_rates"] + [("median_rate", "DOUBLE")])
    retyped = dict(warehouse, stg_campaigns=[(c, "VARCHAR" if c == "created_date" else t)
                                             for c, t in warehouse["stg_campaigns"]])
    assert mismatches(docs.load(), grown) == ["daily_rates.median_rate: in the warehouse, not documented"]
    assert mismatches(docs.load(), retyped) == [
        "stg_campaigns.created_date: documented as date, the warehouse has VARCHAR"
    ]


def test_loaded_tables_agree_with_the_contract():
    """Names in order, types, NOT NULL (a `not_null` test exactly where the arrow field is not
    nullable) and json (where the dlt hint says json)."""
    loaded = [r for r in docs.load() if r.kind == "table"]
    assert [r.name for r in loaded] == list(sqlcompile.SOURCE_TABLES)
    for relation in loaded:
        schema = sqlcompile.SOURCE_TABLES[relation.name]
        assert [c.name for c in relation.columns] == schema.names, relation.name
        for column in relation.columns:
            arrow = schema.field(column.name)
            where = f"{relation.name}.{column.name}"
            assert ARROW_TYPES[column.type] == arrow.type, where
            plain_not_null = any(t.name == "not_null" and "where" not in t.arguments for t in column.tests)
            assert plain_not_null == (not arrow.nullable), where
            assert (column.type == "json") == (DLT_HINTS[relation.name][column.name]["data_type"] == "json"), where


def test_status_columns_expand_to_every_known_status():
    pivot = docs.load()[len(sqlcompile.SOURCE_TABLES) + 1]
    assert pivot.name == "stg_campaign_statistics"
    for side in ("primary", "fallback"):
        family = [c for c in pivot.columns if c.pattern == f"{side}_<status>"]
        assert [c.name for c in family] == [f"{side}_{s}" for s in settings.KNOWN_MESSAGE_STATUSES]
        assert all(c.description.endswith(f"exactly `{s}`, 0 when absent.")
                   for c, s in zip(family, settings.KNOWN_MESSAGE_STATUSES))
