"""SQL files -> statements for one destination: parse with sqlglot, qualify table names with the
dataset, transpile to the destination's dialect. Pure text work; the probes of a dlt SQL client and
the cache of compiled statements are in viewcache.py, running views and checks in models.py and
checks.py.

The SQL lives in files under `sql/` (see `sql/README.md`), written once in a portable dialect
(`SOURCE_DIALECT`) as Jinja templates that dbt runs as they are; templating.py renders them with
unqualified table names. Nothing from configuration is pasted
into SQL text: the dataset name and every identifier are validated (`config.is_identifier`) and
placed as sqlglot identifiers; the check parameters are validated integers rendered as sqlglot
literals; there are no user SQL fragments. Destination-specific SQL, where sqlglot's transpiling
is not enough, lives in `dialect_fixups` and nowhere else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import pyarrow as pa
import sqlglot
from sqlglot import exp

from bsg_campaigns import settings
from bsg_campaigns.config import is_identifier
from bsg_campaigns.contract import tables
from bsg_campaigns.analyst import templating
from bsg_campaigns.analyst.exceptions import SqlModelError

logger = logging.getLogger(__name__)


SQL_DIR = settings.SQL_DIR

# The dialect the .sql files are written in (they are kept plain enough to read as postgres too).
SOURCE_DIALECT = "duckdb"
# Dialects every file must transpile to (tests check each file against each of them).
PORTABLE_DIALECTS = ("bigquery", "snowflake", "databricks", "redshift", "postgres", "duckdb")

# A catalog may be a BigQuery project id (`my-project-123`): hyphens allowed, nothing else.
_CATALOG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# Build order: each model only reads source tables and the models listed before it.
MODELS: Tuple[str, ...] = (
    "staging/stg_campaigns.sql",
    "staging/stg_campaign_statistics.sql",
    "staging/stg_campaign_statistics_history.sql",
    "staging/stg_messages.sql",
    "marts/campaign_rates.sql",
    "marts/daily_rates.sql",
    "marts/statistics_growth.sql",
    "marts/message_daily_rates.sql",
    "marts/delivery_times.sql",
    "marts/recipients_reached.sql",
    "marts/message_costs.sql",
)

# Report order: integrity of the loaded tables first, then the marts, then warnings.
CHECKS: Tuple[str, ...] = (
    "checks/unique_campaign_id.sql",
    "checks/unique_statistics_key.sql",
    "checks/negative_counts.sql",
    "checks/counts_exceed_total_messages.sql",
    "checks/rates_out_of_range.sql",
    "checks/currency_code.sql",
    "checks/done_but_pending.sql",
    "checks/messages_match_statistics.sql",
    "checks/unknown_message_statuses.sql",
    "checks/messages_match_statistics_open.sql",
    "checks/statistics_without_campaign.sql",
    "checks/empty_run.sql",
)

# The loaded tables the SQL may read, with the exact arrow schema the connector loads.
SOURCE_TABLES: Dict[str, pa.Schema] = {
    tables.CAMPAIGNS: tables.CAMPAIGNS_SCHEMA,
    tables.CAMPAIGN_STATISTICS: tables.STATISTICS_SCHEMA,
    tables.CAMPAIGN_STATISTICS_HISTORY: tables.HISTORY_SCHEMA,
    tables.REJECTED_RECORDS: tables.REJECTED_SCHEMA,
    tables.MESSAGES: tables.MESSAGES_SCHEMA,
    tables.MESSAGE_FALLBACKS: tables.MESSAGE_FALLBACKS_SCHEMA,
    tables.MESSAGE_READS: tables.MESSAGE_READS_SCHEMA,
}

# Relations the runner provides to check queries as CTEs (never stored in the dataset).
CHECK_CONTEXT_RELATION = "check_context"
KNOWN_STATUSES_RELATION = "known_message_statuses"
CHECK_RELATIONS = (CHECK_CONTEXT_RELATION, KNOWN_STATUSES_RELATION)

SEVERITIES = ("error", "warning")
SAMPLE_ROWS = 5
# Upper bound for the refresh window (100 years): keeps every integer far inside BIGINT.
_MAX_HOURS = 24 * 366 * 100
_MAX_COUNT = 10**12

_HEADER_KEY_RE = re.compile(r"^--\s?([a-z][a-z _]*):\s*(.*)$")


def validate_identifier(value: Any, what: str = "identifier") -> str:
    """Returns `value` when it is a plain SQL identifier (`config.is_identifier`), else raises."""
    if not is_identifier(value):
        raise SqlModelError(
            f"{what} {value!r} is not a plain identifier (letters, digits, underscore; not starting"
            " with a digit; at most 63 characters)"
        )
    return value


# --------------------------------------------------------------------------------------------
# .sql files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlFile:
    """One .sql file: its name (the view or check name), path, text rendered from the template
    (templating.py) and the header fields of that text."""

    name: str
    path: Path
    text: str
    header: Mapping[str, str]

    @property
    def severity(self) -> str:
        return self.header.get("severity", "error")

    @property
    def description(self) -> str:
        """One line: a check's `summary` (else its `guards`), a model's `grain`."""
        return self.header.get("summary") or self.header.get("guards") or self.header.get("grain") or self.name


def parse_header(text: str) -> Dict[str, str]:
    """The `-- key: value` fields of a file's leading comment block; indented comment lines
    continue the previous field. Stops at the first line that is not a comment."""
    header: Dict[str, str] = {}
    last: Optional[str] = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = _HEADER_KEY_RE.match(stripped)
        if match and not stripped.startswith("--  "):
            last = match.group(1).strip()
            header[last] = match.group(2).strip()
        elif last is not None and header.get(last) is not None and last != "columns":
            more = stripped[2:].strip()
            header[last] = f"{header[last]} {more}".strip()
    return header


def load_sql_file(relative_path: str, sql_dir: Optional[Path] = None) -> SqlFile:
    path = (sql_dir or SQL_DIR) / relative_path
    name = validate_identifier(path.stem, f"SQL file name of {relative_path}")
    text = templating.render(sql_dir or SQL_DIR, relative_path).text
    header = parse_header(text)
    return SqlFile(name=name, path=path, text=text, header=header)


def model_files(sql_dir: Optional[Path] = None) -> List[SqlFile]:
    return [load_sql_file(p, sql_dir) for p in MODELS]


def check_files(sql_dir: Optional[Path] = None) -> List[SqlFile]:
    files = [load_sql_file(p, sql_dir) for p in CHECKS]
    for f in files:
        if f.severity not in SEVERITIES:
            raise SqlModelError(f"{f.path}: severity must be one of {SEVERITIES}, not {f.severity!r}")
    return files


def model_names() -> List[str]:
    return [Path(p).stem for p in MODELS]


def parse_sql(text: str, source: str = "<sql>") -> exp.Query:
    """Parses one SELECT (or set operation) written in SOURCE_DIALECT; anything else is refused."""
    try:
        statements = [s for s in sqlglot.parse(text, read=SOURCE_DIALECT) if s is not None]
    except sqlglot.errors.ParseError as ex:
        raise SqlModelError(f"{source}: sqlglot cannot parse it: {ex}") from ex
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise SqlModelError(f"{source}: must hold exactly one SELECT query")
    return statements[0]


# --------------------------------------------------------------------------------------------
# qualification and transpilation
# --------------------------------------------------------------------------------------------

TablePath = Callable[[str], Sequence[str]]


def default_table_path(dataset_name: str) -> TablePath:
    """`name -> [dataset, name]`: what a dlt SQL client gives on DuckDB and Postgres."""
    validate_identifier(dataset_name, "dataset name")
    return lambda name: [dataset_name, name]


def _table_expr(path: Sequence[str]) -> exp.Table:
    parts = list(path)
    if len(parts) < 2 or len(parts) > 3:
        raise SqlModelError(f"unexpected table path {parts!r}")
    validate_identifier(parts[-1], "table name")
    validate_identifier(parts[-2], "dataset name")
    catalog = None
    if len(parts) == 3:
        if not isinstance(parts[0], str) or not _CATALOG_RE.fullmatch(parts[0]):
            raise SqlModelError(f"catalog name {parts[0]!r} is not a plain identifier")
        catalog = exp.to_identifier(parts[0])
    return exp.Table(
        this=exp.to_identifier(parts[-1]), db=exp.to_identifier(parts[-2]), catalog=catalog
    )


def _sql_type(arrow_type: pa.DataType) -> exp.DataType:
    if pa.types.is_int64(arrow_type):
        return exp.DataType.build("BIGINT")
    if pa.types.is_boolean(arrow_type):
        return exp.DataType.build("BOOLEAN")
    if pa.types.is_timestamp(arrow_type):
        return exp.DataType.build("TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP")
    if pa.types.is_decimal(arrow_type):
        return exp.DataType.build(f"DECIMAL({arrow_type.precision}, {arrow_type.scale})")
    return exp.DataType.build("TEXT")


def empty_relation(schema: pa.Schema) -> exp.Select:
    """A zero-row SELECT with the table's columns and types: stands in for a source table the
    destination does not have yet (e.g. no history loaded), so the views still build."""
    columns = [
        exp.cast(exp.null(), _sql_type(f.type)).as_(validate_identifier(f.name, "column"))
        for f in schema
    ]
    return exp.select(*columns).limit(0)


def _union_all(selects: Sequence[exp.Select]) -> exp.Query:
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def check_relations(context: "CheckContext") -> Dict[str, exp.Query]:
    """The runner-provided relations of check queries, built from validated values only."""
    context.validate()

    def bigint(value: Optional[int]) -> exp.Expression:
        literal = exp.null() if value is None else exp.Literal.number(int(value))
        return exp.cast(literal, exp.DataType.build("BIGINT"))

    check_context = exp.select(
        bigint(context.refresh_window_hours).as_("refresh_window_hours"),
        bigint(context.campaigns_listed).as_("campaigns_listed"),
        bigint(context.campaigns_loaded).as_("campaigns_loaded"),
    )
    statuses = list(dict.fromkeys(settings.KNOWN_MESSAGE_STATUSES))
    for status in statuses:
        validate_identifier(status, "known message status")
    known = _union_all(
        [
            exp.select(exp.cast(exp.Literal.string(s), exp.DataType.build("TEXT")).as_("status"))
            for s in statuses
        ]
    )
    return {CHECK_CONTEXT_RELATION: check_context, KNOWN_STATUSES_RELATION: known}


def qualify(
    query: exp.Query,
    table_path: TablePath,
    *,
    source: str = "<sql>",
    missing_tables: Sequence[str] = (),
    relations: Optional[Mapping[str, exp.Query]] = None,
) -> exp.Query:
    """Returns a copy of `query` whose references to source tables and models carry the dataset
    (and catalog) from `table_path`; missing source tables become typed empty relations and the
    runner relations (`check_context`, `known_message_statuses`) become leading CTEs. Any other
    table name, or an already qualified one, is refused."""
    query = query.copy()
    relations = relations or {}
    known_models = set(model_names())
    missing = {m.lower() for m in missing_tables}
    cte_names = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    used_relations: Set[str] = set()
    for table in list(query.find_all(exp.Table)):
        name = table.name
        if not isinstance(table.this, exp.Identifier) or not name:
            raise SqlModelError(f"{source}: unsupported table expression {table.sql()!r}")
        if table.args.get("db") or table.args.get("catalog"):
            raise SqlModelError(
                f"{source}: reference tables unqualified ({table.sql()!r}); the runner adds the dataset"
            )
        key = name.lower()
        if key in cte_names:
            continue
        if key in CHECK_RELATIONS:
            if key not in relations:
                raise SqlModelError(f"{source}: `{name}` is only available to checks")
            used_relations.add(key)
            continue
        if key in SOURCE_TABLES and key in missing:
            stand_in = empty_relation(SOURCE_TABLES[key]).subquery(table.alias_or_name)
            table.replace(stand_in)
            continue
        if key not in SOURCE_TABLES and key not in known_models:
            raise SqlModelError(
                f"{source}: unknown table `{name}` (known: source tables {sorted(SOURCE_TABLES)},"
                f" models {sorted(known_models)})"
            )
        qualified = _table_expr(table_path(key))
        table.set("this", qualified.this)
        table.set("db", qualified.args.get("db"))
        table.set("catalog", qualified.args.get("catalog"))
        if not table.alias:
            # keep `campaigns.col` style column references working after qualification
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
    if used_relations:
        ctes = [
            exp.CTE(this=relations[name].copy(), alias=exp.TableAlias(this=exp.to_identifier(name)))
            for name in CHECK_RELATIONS
            if name in used_relations
        ]
        with_ = query.args.get("with_")
        if with_ is None:
            query.set("with_", exp.With(expressions=ctes))
        else:
            with_.set("expressions", ctes + list(with_.expressions))
    return query


def dialect_fixups(expression: exp.Expr, dialect: str) -> exp.Expr:
    """The one place for destination-specific SQL: rewrites sqlglot does not do by itself.

    - BigQuery has no EXTRACT(EPOCH FROM ts); UNIX_MICROS(ts) / 1e6 is the same number."""
    if dialect != "bigquery":
        return expression

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Extract) and node.this.name.upper() == "EPOCH":
            micros = exp.Anonymous(this="UNIX_MICROS", expressions=[node.expression.copy()])
            return exp.Paren(this=exp.Div(this=micros, expression=exp.Literal.number("1000000.0")))
        return node

    return expression.copy().transform(rewrite)


def generate(expression: exp.Expr, dialect: str, source: str = "<sql>") -> str:
    expression = dialect_fixups(expression, dialect)
    try:
        return expression.sql(
            dialect=dialect, pretty=True, comments=False, unsupported_level=sqlglot.ErrorLevel.RAISE
        )
    except sqlglot.errors.SqlglotError as ex:
        raise SqlModelError(f"{source}: cannot transpile to {dialect}: {ex}") from ex


def compile_file(
    relative_path: str,
    dialect: str,
    dataset_name: str = settings.DATASET_NAME,
    *,
    context: Optional["CheckContext"] = None,
    missing_tables: Sequence[str] = (),
    table_path: Optional[TablePath] = None,
) -> str:
    """The exact SELECT text the runner would execute for one file (relative to `sql/`) on a
    destination of `dialect`, with tables qualified by `dataset_name`. For inspection and tests."""
    sql_file = load_sql_file(relative_path)
    query = parse_sql(sql_file.text, str(sql_file.path))
    is_check = relative_path.replace("\\", "/").startswith("checks/")
    relations = check_relations(context or CheckContext()) if is_check else None
    qualified = qualify(
        query,
        table_path or default_table_path(dataset_name),
        source=str(sql_file.path),
        missing_tables=missing_tables,
        relations=relations,
    )
    return generate(qualified, dialect, str(sql_file.path))


def view_ddl(sql_file: SqlFile, dialect: str, table_path: TablePath,
             missing_tables: Sequence[str] = ()) -> Tuple[str, str]:
    """(DROP VIEW IF EXISTS ... CASCADE, CREATE VIEW ... AS <qualified query>) for one model file."""
    query = parse_sql(sql_file.text, str(sql_file.path))
    qualified = qualify(query, table_path, source=str(sql_file.path), missing_tables=missing_tables)
    target = _table_expr(table_path(sql_file.name))
    drop = exp.Drop(tables=[target.copy()], kind="VIEW", exists=True, cascade=True)
    create = exp.Create(this=target.copy(), kind="VIEW", expression=qualified)
    return generate(drop, dialect, str(sql_file.path)), generate(create, dialect, str(sql_file.path))


def view_statements(
    dialect: str,
    table_path: TablePath,
    missing_tables: Sequence[str] = (),
    sql_dir: Optional[Path] = None,
    compile_view: Optional[Callable[[SqlFile], Tuple[str, str]]] = None,
) -> Tuple[List[str], List[str], List[str]]:
    """(view names in build order, DROP statements in reverse order, CREATE statements in order).
    `compile_view` replaces `view_ddl` per file (the runner passes a cached one)."""
    names: List[str] = []
    drops: List[str] = []
    creates: List[str] = []
    for sql_file in model_files(sql_dir):
        if compile_view is None:
            drop, create = view_ddl(sql_file, dialect, table_path, missing_tables)
        else:
            drop, create = compile_view(sql_file)
        names.append(sql_file.name)
        drops.insert(0, drop)
        creates.append(create)
    return names, drops, creates


@dataclass
class CheckContext:
    """What the checks need to know about the run. `refresh_window_hours` is the connector's
    refresh window; `campaigns_listed` / `campaigns_loaded` come from the run (None: unknown)."""

    refresh_window_hours: int = settings.DEFAULT_REFRESH_WINDOW_HOURS
    campaigns_listed: Optional[int] = None
    campaigns_loaded: Optional[int] = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def check(name: str, value: Any, optional: bool, upper: int) -> None:
            if value is None and optional:
                return
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
                raise SqlModelError(f"CheckContext.{name} must be an integer in [0, {upper}], not {value!r}")

        check("refresh_window_hours", self.refresh_window_hours, False, _MAX_HOURS)
        check("campaigns_listed", self.campaigns_listed, True, _MAX_COUNT)
        check("campaigns_loaded", self.campaigns_loaded, True, _MAX_COUNT)
