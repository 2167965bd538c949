"""Column documentation as data: `sql/columns.yml` documents every column of the loaded tables and
of the views once; this module writes everything else from it.

    python -m bsg_campaigns.analyst.docs            # rewrite the generated files
    python -m bsg_campaigns.analyst.docs --check    # exit 1 naming the stale ones

Generated: the dbt property files (`sql/staging/_bsg_campaigns__sources.yml`,
`sql/staging/_bsg_campaigns__models.yml`, `sql/marts/_bsg_campaigns__models.yml`) and the marked
sections (`<!-- name:start ... -->` .. `<!-- name:end -->`) of `README.md` and `sql/README.md`;
the prose around the markers is left alone. It works on a checkout (README.md is not installed).
The file's format is described at its top; tests/analyst/test_column_docs.py holds it to the
warehouse and to contract/tables.py.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from bsg_campaigns import settings
from bsg_campaigns.analyst import sqlcompile
from bsg_campaigns.analyst.exceptions import ColumnDocsError

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
COLUMNS_FILE = Path("sql", "columns.yml")
SOURCES_FILE = Path("sql", "staging", "_bsg_campaigns__sources.yml")
# dbt source name of the loaded tables; its schema is the var a dbt user sets to the dataset.
SOURCE_NAME = "bsg_campaigns"
SOURCE_SCHEMA = "{{ var('bsg_campaigns_schema', 'bsg_campaigns') }}"
# On DuckDB a dbt user reads the connector's file attached under its own alias (README, "dbt").
SOURCE_DATABASE = "{{ var('bsg_campaigns_database', target.database) }}"
COMMAND = "python -m bsg_campaigns.analyst.docs"

TYPES = ("bigint", "text", "boolean", "date", "timestamptz", "double", "decimal(38,7)", "json")
STATUS_PLACEHOLDER = "<status>"
# dbt generic tests the file may use, and the keys each takes besides `check`.
TEST_ARGUMENTS: Dict[str, Tuple[str, ...]] = {
    "not_null": ("where",),
    "unique": ("where",),
    "accepted_values": ("values", "where"),
    "relationships": ("to", "field", "where"),
}
RELATION_TEST_ARGUMENTS: Dict[str, Tuple[str, ...]] = {"unique_combination": ("columns",)}


@dataclass(frozen=True)
class DbtTest:
    """One dbt generic test: its name, arguments and the sql/checks file it mirrors."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    check: Optional[str] = None
    severity: str = "error"  # the mirrored check's severity


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    api: Optional[str] = None
    tests: Tuple[DbtTest, ...] = ()
    # Set on the columns a `<status>` name expands to: that name and its description for one row.
    pattern: Optional[str] = None
    pattern_description: Optional[str] = None
    # True when the column came with `like:` (documented where it is defined).
    inherited: bool = False


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # "table" (loaded by the connector, a dbt source) or "view" (a model)
    description: str
    columns: Tuple[Column, ...]
    tests: Tuple[DbtTest, ...] = ()
    # Views only: the model's path under sql/ (sqlcompile.MODELS), whose directory is its layer.
    path: Optional[str] = None

    @property
    def layer(self) -> str:
        return self.path.split("/")[0] if self.path else "source"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# reading sql/columns.yml
# ---------------------------------------------------------------------------------------------


def _placeholders() -> Dict[str, str]:
    """`{NAME}` in a description: a settings tuple of strings, rendered as `a`, `b`, ...;
    `{NAME+}` as `a` + `b` + ... (a bucket's sum)."""
    values: Dict[str, str] = {}
    for name in dir(settings):
        value = getattr(settings, name)
        if name.isupper() and isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            values[name] = ", ".join(f"`{v}`" for v in value)
            values[f"{name}+"] = " + ".join(f"`{v}`" for v in value)
    return values


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ColumnDocsError(f"{where}: needs a non-empty description")
    return " ".join(value.split())


def _render(template: str, where: str, **extra: str) -> str:
    try:
        return template.format_map({**_placeholders(), **extra})
    except (KeyError, ValueError) as ex:
        raise ColumnDocsError(f"{where}: unknown placeholder in the description: {ex}") from ex


def _check_severity(check: Any, where: str, sql_dir: Path) -> str:
    if f"checks/{check}.sql" not in sqlcompile.CHECKS:
        raise ColumnDocsError(f"{where}: check {check!r} is not in sqlcompile.CHECKS")
    return sqlcompile.load_sql_file(f"checks/{check}.sql", sql_dir).severity  # from its rendered config()


def _tests(raw: Any, allowed: Mapping[str, Tuple[str, ...]], where: str, sql_dir: Path) -> Tuple[DbtTest, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ColumnDocsError(f"{where}: tests must be a list")
    parsed: List[DbtTest] = []
    for item in raw:
        arguments: Dict[str, Any] = {}
        if isinstance(item, str):
            name = item
        elif isinstance(item, dict) and len(item) == 1:
            name, given = next(iter(item.items()))
            arguments.update(given or {})
        else:
            raise ColumnDocsError(f"{where}: a test is a name or a one-key mapping, not {item!r}")
        if name not in allowed:
            raise ColumnDocsError(f"{where}: test {name!r} is not one of {sorted(allowed)}")
        check = arguments.pop("check", None)
        severity = "error" if check is None else _check_severity(check, where, sql_dir)
        unknown = set(arguments) - set(allowed[name])
        if unknown:
            raise ColumnDocsError(f"{where}: test {name} takes {allowed[name]}, not {sorted(unknown)}")
        parsed.append(DbtTest(name=name, arguments=arguments, check=check, severity=severity))
    return tuple(parsed)


def _columns(raw: Any, where: str, known: Mapping[str, Relation], groups: Mapping[str, Any],
             sql_dir: Path) -> List[Column]:
    if not isinstance(raw, list) or not raw:
        raise ColumnDocsError(f"{where}: needs a list of columns")
    columns: List[Column] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ColumnDocsError(f"{where}: a column is a mapping, not {entry!r}")
        if "group" in entry:
            if entry["group"] not in groups:
                raise ColumnDocsError(f"{where}: no column group {entry['group']!r}")
            group_where = f"{where} (group {entry['group']})"
            columns.extend(_columns(groups[entry["group"]], group_where, known, groups, sql_dir))
            continue
        spot = f"{where}.{entry.get('name') or entry.get('like')}"
        tests = _tests(entry.get("tests"), TEST_ARGUMENTS, spot, sql_dir)
        if "like" in entry:
            relation_name, _, column_name = str(entry["like"]).partition(".")
            if relation_name not in known:
                raise ColumnDocsError(f"{spot}: like {entry['like']!r}: {relation_name!r} is not documented above it")
            try:
                base = known[relation_name].column(column_name)
            except KeyError:
                raise ColumnDocsError(f"{spot}: like {entry['like']!r}: no such column") from None
            description = _render(_text(entry["description"], spot), spot) if "description" in entry else base.description
            columns.append(Column(name=base.name, type=base.type, description=description, tests=tests,
                                  inherited=True))
            continue
        name, column_type = entry.get("name"), entry.get("type")
        if not isinstance(name, str) or column_type not in TYPES:
            raise ColumnDocsError(f"{spot}: needs a name and a type among {TYPES}")
        template = _text(entry.get("description"), spot)
        if STATUS_PLACEHOLDER in name:
            compact = _render(template, spot, status=STATUS_PLACEHOLDER)
            for status in settings.KNOWN_MESSAGE_STATUSES:
                columns.append(Column(name=name.replace(STATUS_PLACEHOLDER, status), type=column_type,
                                      description=_render(template, spot, status=status), tests=tests,
                                      pattern=name, pattern_description=compact))
        else:
            columns.append(Column(name=name, type=column_type, description=_render(template, spot),
                                  api=entry.get("api"), tests=tests))
    names = [c.name for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ColumnDocsError(f"{where}: columns documented twice: {repeated}")
    return columns


def load(root: Path = REPOSITORY_ROOT) -> List[Relation]:
    """Every documented relation: the loaded tables, then the views in build order."""
    sql_dir = root / "sql"
    data = yaml.safe_load((root / COLUMNS_FILE).read_text(encoding="utf-8"))
    groups = data.get("column_groups") or {}
    known: Dict[str, Relation] = {}
    model_paths = {Path(p).stem: p for p in sqlcompile.MODELS}
    for kind, key in (("table", "tables"), ("view", "views")):
        for raw in data.get(key) or []:
            name = raw.get("name")
            where = f"{COLUMNS_FILE}: {key}.{name}"
            if not isinstance(name, str) or name in known:
                raise ColumnDocsError(f"{where}: needs a name not used before")
            if kind == "view" and name not in model_paths:
                raise ColumnDocsError(f"{where}: not a model of sqlcompile.MODELS")
            relation = Relation(
                name=name,
                kind=kind,
                description=_render(_text(raw.get("description"), where), where),
                columns=tuple(_columns(raw.get("columns"), where, known, groups, sql_dir)),
                tests=_tests(raw.get("tests"), RELATION_TEST_ARGUMENTS, where, sql_dir),
                path=model_paths.get(name) if kind == "view" else None,
            )
            known[name] = relation
    views = [name for name, r in known.items() if r.kind == "view"]
    if views != list(model_paths):
        raise ColumnDocsError(f"{COLUMNS_FILE}: views must be the models of sqlcompile.MODELS in order,"
                              f" {list(model_paths)}; found {views}")
    return list(known.values())


# ---------------------------------------------------------------------------------------------
# dbt property files
# ---------------------------------------------------------------------------------------------


def _dbt_test(test: DbtTest, relations: Mapping[str, Relation]) -> Any:
    arguments = dict(test.arguments)
    config: Dict[str, Any] = {}
    column_name: Optional[str] = None
    if "where" in arguments:
        config["where"] = arguments.pop("where")
    if test.check is not None:
        if test.severity == "warning":
            config["severity"] = "warn"
        config["meta"] = {"mirrors_check": f"checks/{test.check}.sql"}
    name = test.name
    if name == "unique_combination":
        # dbt's `unique` on an expression: core dbt has no multi-column unique test.
        name = "unique"
        column_name = " || '|' || ".join(f"cast({c} as varchar)" for c in arguments.pop("columns"))
    if name == "accepted_values" and isinstance(arguments.get("values"), str):
        values = getattr(settings, arguments["values"], None)
        if not isinstance(values, tuple):
            raise ColumnDocsError(f"accepted_values: {arguments['values']!r} is not a tuple of settings.py")
        arguments["values"] = list(values)
    if name == "relationships":
        if arguments.get("to") not in relations:
            raise ColumnDocsError(f"relationships: to {arguments.get('to')!r} is not documented in {COLUMNS_FILE}")
        target = relations[arguments["to"]]
        arguments["to"] = (f"source('{SOURCE_NAME}', '{target.name}')" if target.kind == "table"
                           else f"ref('{target.name}')")
    body: Dict[str, Any] = {}
    if column_name is not None:
        body["column_name"] = column_name
    if arguments:
        body["arguments"] = arguments
    if config:
        body["config"] = config
    return {name: body} if body else name


def _dbt_columns(relation: Relation, relations: Mapping[str, Relation]) -> List[Dict[str, Any]]:
    columns: List[Dict[str, Any]] = []
    for column in relation.columns:
        entry: Dict[str, Any] = {"name": column.name, "description": column.description, "data_type": column.type}
        if column.api:
            entry["meta"] = {"api_field": column.api.replace("`", "")}
        if column.tests:
            entry["data_tests"] = [_dbt_test(t, relations) for t in column.tests]
        columns.append(entry)
    return columns


def _grain(relation: Relation, sql_dir: Path) -> str:
    """A view's grain, from its file's header (documented there, beside the query)."""
    if relation.path is None:
        return ""
    return sqlcompile.parse_header((sql_dir / relation.path).read_text(encoding="utf-8")).get("grain", "")


def _dbt_relation(relation: Relation, relations: Mapping[str, Relation], sql_dir: Path) -> Dict[str, Any]:
    description = relation.description
    grain = _grain(relation, sql_dir)
    if grain:
        description = f"{description}\n\nGrain: {grain}"
    entry: Dict[str, Any] = {"name": relation.name, "description": description}
    if relation.tests:
        entry["data_tests"] = [_dbt_test(t, relations) for t in relation.tests]
    entry["columns"] = _dbt_columns(relation, relations)
    return entry


class _DbtStyleDumper(yaml.SafeDumper):
    """Lists indented under their key, Jinja in double quotes and paragraphs as a block, as dbt's own
    examples write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if "{{" in value else "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_DbtStyleDumper.add_representer(str, _represent_str)


def _yaml_file(body: Dict[str, Any]) -> str:
    header = f"# Generated from sql/columns.yml by `{COMMAND}`: edit that file and run it, not this one.\n"
    return header + yaml.dump(body, Dumper=_DbtStyleDumper, sort_keys=False, allow_unicode=True, width=100)


def dbt_files(relations: Sequence[Relation], sql_dir: Path) -> Dict[Path, str]:
    """Path (relative to the repository) -> content of each dbt property file."""
    by_name = {r.name: r for r in relations}
    files = {
        SOURCES_FILE: _yaml_file({
            "version": 2,
            "sources": [{
                "name": SOURCE_NAME,
                "description": "The tables the bsg-campaigns connector loads (its dataset).",
                "database": SOURCE_DATABASE,
                "schema": SOURCE_SCHEMA,
                "tables": [_dbt_relation(r, by_name, sql_dir) for r in relations if r.kind == "table"],
            }],
        })
    }
    views = [r for r in relations if r.kind == "view"]
    for layer in dict.fromkeys(r.layer for r in views):
        files[Path("sql", layer, "_bsg_campaigns__models.yml")] = _yaml_file({
            "version": 2,
            "models": [_dbt_relation(r, by_name, sql_dir) for r in views if r.layer == layer],
        })
    return files


# ---------------------------------------------------------------------------------------------
# Markdown sections
# ---------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rows(relation: Relation) -> List[Column]:
    """One row per column, a `<status>` family as one row."""
    rows: List[Column] = []
    seen = set()
    for column in relation.columns:
        if column.pattern is None:
            rows.append(column)
        elif column.pattern not in seen:
            seen.add(column.pattern)
            statuses = ", ".join(settings.KNOWN_MESSAGE_STATUSES)
            rows.append(Column(name=column.pattern, type=column.type,
                               description=f"{column.pattern_description} One column per status of"
                                           f" settings.KNOWN_MESSAGE_STATUSES: {statuses}."))
    return rows


def _column_table(relation: Relation) -> List[str]:
    with_api = any(c.api for c in relation.columns)
    head = "| column | type | from the API | description |" if with_api else "| column | type | description |"
    lines = [head, "|---" * head.count(" | ") + "|---|"]
    for column in _rows(relation):
        cells = [f"`{column.name}`", column.type] + ([_cell(column.api or "")] if with_api else [])
        lines.append("| " + " | ".join(cells + [_cell(column.description)]) + " |")
    return lines


def tables_section(relations: Sequence[Relation]) -> str:
    """README: each loaded table, its description and columns."""
    lines: List[str] = []
    for relation in relations:
        if relation.kind == "table":
            lines += [f"**`{relation.name}`** — {relation.description}", ""] + _column_table(relation) + [""]
    return "\n".join(lines).rstrip("\n")


def views_section(relations: Sequence[Relation]) -> str:
    """README: one line per view."""
    lines = ["| view | layer | description |", "|---|---|---|"]
    lines += [f"| `{r.name}` | {r.layer} | {_cell(r.description)} |" for r in relations if r.kind == "view"]
    return "\n".join(lines)


def metrics_section(relations: Sequence[Relation]) -> str:
    """Both READMEs: the columns campaign_rates defines itself (not taken from stg_campaigns)."""
    rates = next(r for r in relations if r.name == "campaign_rates")
    lines = ["| metric | type | definition |", "|---|---|---|"]
    lines += [f"| `{c.name}` | {c.type} | {_cell(c.description)} |" for c in rates.columns if not c.inherited]
    return "\n".join(lines)


def view_columns_section(relations: Sequence[Relation], sql_dir: Path) -> str:
    """sql/README.md: every view with its grain (from its file's header) and its columns."""
    lines: List[str] = []
    for relation in relations:
        if relation.kind != "view":
            continue
        grain = _grain(relation, sql_dir)
        lines += [f"### `{relation.name}` ({relation.layer})", "", relation.description, ""]
        if grain:
            lines += [f"Grain: {grain}", ""]
        lines += _column_table(relation) + [""]
    return "\n".join(lines).rstrip("\n")


# Which marked sections each Markdown file holds, and what writes them.
SECTIONS: Dict[Path, Tuple[str, ...]] = {
    Path("README.md"): ("tables", "views", "metrics"),
    Path("sql", "README.md"): ("metrics", "columns"),
}


def _section_writers(relations: Sequence[Relation], sql_dir: Path) -> Dict[str, Callable[[], str]]:
    return {
        "tables": lambda: tables_section(relations),
        "views": lambda: views_section(relations),
        "metrics": lambda: metrics_section(relations),
        "columns": lambda: view_columns_section(relations, sql_dir),
    }


def replace_section(text: str, name: str, body: str, source: str = "<text>") -> str:
    pattern = re.compile(rf"<!-- {name}:start\b[^>]*-->\n.*?<!-- {name}:end -->", re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise ColumnDocsError(f"{source}: needs exactly one `<!-- {name}:start -->` .. `<!-- {name}:end -->` pair")
    start = f"<!-- {name}:start (generated from sql/columns.yml by `{COMMAND}`) -->"
    return pattern.sub(lambda _: f"{start}\n{body}\n<!-- {name}:end -->", text)


# ---------------------------------------------------------------------------------------------
# all outputs
# ---------------------------------------------------------------------------------------------


def expected_files(root: Path = REPOSITORY_ROOT) -> Dict[Path, str]:
    """Path (relative to `root`) -> the content each generated file must have now."""
    relations = load(root)
    sql_dir = root / "sql"
    files = dbt_files(relations, sql_dir)
    writers = _section_writers(relations, sql_dir)
    for relative, names in SECTIONS.items():
        text = (root / relative).read_text(encoding="utf-8")
        for name in names:
            text = replace_section(text, name, writers[name](), str(relative))
        files[relative] = text
    return files


def _stale(root: Path) -> Dict[Path, str]:
    """The generated files whose content differs from what the generator writes now, with that content."""
    return {
        relative: content
        for relative, content in expected_files(root).items()
        if not (root / relative).is_file() or (root / relative).read_text(encoding="utf-8") != content
    }


def stale_files(root: Path = REPOSITORY_ROOT) -> List[Path]:
    return list(_stale(root))


def write(root: Path = REPOSITORY_ROOT) -> List[Path]:
    """Rewrites the stale generated files; returns them."""
    stale = _stale(root)
    for relative, content in stale.items():
        (root / relative).write_text(content, encoding="utf-8")
    return list(stale)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    parser.add_argument("--root", type=Path, default=REPOSITORY_ROOT, help="the repository checkout")
    args = parser.parse_args(argv)
    try:
        changed = stale_files(args.root) if args.check else write(args.root)
    except ColumnDocsError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return ex.exit_code
    for relative in changed:
        print(f"{'stale' if args.check else 'wrote'}: {relative}")
    if args.check and changed:
        print(f"run `{COMMAND}` to regenerate them", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
