"""What keeps the per-run cost of the analyst layer small: the probes of a dlt SQL client, a cache
of the compiled SQL (sqlglot's output per file) and the bookkeeping that lets a build skip the
view DDL when nothing changed.

Compiled SQL cache. Parsing, qualifying and transpiling the .sql files costs far more than
executing the statements on a small incremental load. `SqlCache` keeps the output per file, keyed
by a hash of everything the text depends on: the file's text as rendered from its template (so an
edited macro or var of sql/dbt_project.yml that changes the SQL changes the key), the kind of statement, the dialect,
the qualified name of every table it may read (dataset, catalog), the source tables modelled as
empty, the check relations' values (only for files that mention them) and `compiler_fingerprint()`
(sqlglot's version and the code of the modules that render and compile). It lives in this process and, when
the caller gives a directory (the pipeline's working dir: same owner and trust as dlt's own
`state.json` and load packages), in a small JSON file there, written atomically with mode 0600.
Behind both, read-only, the package's own `compiled_sql.json` (seed.py writes it, a test keeps it
current): every statement that does not depend on a run's values, compiled for the default dataset
on DuckDB and PostgreSQL, so that a first run (no working dir yet: dlt creates it empty) does not
pay sqlglot for them either: 0.46-0.54 s -> 0.22-0.32 s of building the views and running the
checks after a first run of 2,000 campaigns, measured. Its keys are the same content hashes, so
an entry of a stale seed is never used: it only misses.
A file that is unreadable or not in this format is ignored and rewritten. The cached text is
executed as stored (not re-verified against its key): the file is trusted like the rest of the
working dir, which also holds the .sql jobs dlt executes.

View bookkeeping. The dataset holds one small table, `_bsg_views` (`view_name`,
`definition_hash` = hash of the executed CREATE statement), written in the same transaction as
the views. A build first reads it in one statement that also selects from every view with a
false predicate: if that succeeds and the hashes equal those of the statements about to be run,
the views are already exactly these and no DDL runs. A new dataset, a view dropped or broken
outside the runner, a changed .sql file, another sqlglot version, a source table appearing or
disappearing: the statement fails or the hashes differ, and every view is rebuilt. (A view
replaced by hand under the same name, with the bookkeeping left alone, is not noticed until the
next change; `build_models(pipeline, force=True)` rebuilds unconditionally.)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import sqlglot
from sqlglot import exp

from bsg_campaigns import settings
from bsg_campaigns.analyst.sqlcompile import SOURCE_TABLES, TablePath, _table_expr, generate, model_names, validate_identifier
from bsg_campaigns.analyst.exceptions import SqlModelError

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "bsg_sql_cache.json"
SEED_FILE = Path(__file__).with_name("compiled_sql.json")
_CACHE_FORMAT = 1
MAX_FILE_ENTRIES = 256
MAX_MEMORY_ENTRIES = 2048
BOOKKEEPING_TABLE = "_bsg_views"
_CHECK_CONTEXT_RE = re.compile(r"\bcheck_context\b", re.IGNORECASE)

# Shared by every SqlCache of this process (keys are content hashes: no cross-talk).
_MEMORY: Dict[str, List[str]] = {}
_MEMORY_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------
# probes of a dlt SQL client
# --------------------------------------------------------------------------------------------


def client_dialect(client: Any) -> str:
    dialect = getattr(client.capabilities, "sqlglot_dialect", None)
    if not dialect:
        raise SqlModelError(
            "the destination's capabilities name no sqlglot dialect; cannot transpile the SQL models"
        )
    return str(dialect)


def client_table_path(client: Any) -> TablePath:
    validate_identifier(client.dataset_name, "dataset name")

    def path(name: str) -> List[str]:
        validate_identifier(name, "table name")
        return list(client.make_qualified_table_name_path(name, quote=False, casefold=True))

    return path


def missing_source_tables(client: Any, dialect: str, table_path: TablePath) -> List[str]:
    """Source tables the destination does not have (yet), probed with a zero-row SELECT."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    missing = []
    for name in SOURCE_TABLES:
        probe = exp.select(exp.Literal.number(1)).from_(_table_expr(table_path(name))).limit(0)
        try:
            client.execute_sql(generate(probe, dialect))
        except DatabaseUndefinedRelation:
            missing.append(name)
    return missing


# --------------------------------------------------------------------------------------------
# compiled SQL cache
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def compiler_fingerprint() -> str:
    """sqlglot's version and the source of every module that turns .sql files into statements:
    a new release of either invalidates every cached text."""
    digest = hashlib.sha256(f"sqlglot {sqlglot_version()}; format {_CACHE_FORMAT}".encode())
    package = Path(__file__).resolve().parents[1]
    for module in ("analyst/templating.py", "analyst/sqlcompile.py", "analyst/checks.py", "analyst/models.py",
                   "analyst/viewcache.py", "settings.py", "contract/tables.py"):
        try:
            digest.update((package / module).read_bytes())
        except OSError:  # installed without sources (pyc only, a zip): the package version then
            from importlib.metadata import PackageNotFoundError, version

            try:
                digest.update(version("bsg-campaigns").encode())
            except PackageNotFoundError:
                pass
            break
    return digest.hexdigest()


def compile_key(
    kind: str,
    name: str,
    text: str,
    dialect: str,
    table_path: TablePath,
    missing_tables: Sequence[str] = (),
    context_values: Optional[Sequence[Any]] = None,
) -> str:
    """The cache key of one file's compiled statements. `context_values` (the check relations'
    values) only count for a file whose text mentions `check_context`."""
    uses_context = context_values is not None and uses_check_context(text)
    parts = {
        "kind": kind,
        "name": name,
        "text": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "dialect": dialect,
        "paths": [list(table_path(t)) for t in (*SOURCE_TABLES, *model_names())],
        "missing": sorted(m.lower() for m in missing_tables),
        "context": list(context_values or ()) if uses_context else None,
        "statuses": list(settings.KNOWN_MESSAGE_STATUSES) if kind == "check" else None,
        "compiler": compiler_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def uses_check_context(text: str) -> bool:
    """Whether a check's compiled text depends on the run's CheckContext values."""
    return bool(_CHECK_CONTEXT_RE.search(text))


class SqlCache:
    """Compiled statements by key: this process's memory, plus `directory/bsg_sql_cache.json`
    when a directory is given (loaded on first use, saved by `save()` when something was added)."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self.path = Path(directory) / CACHE_FILE_NAME if directory is not None else None
        self._file: Optional[Dict[str, List[str]]] = None
        self._dirty = False
        self.hits = 0
        self.misses = 0

    def _file_entries(self) -> Dict[str, List[str]]:
        if self._file is None:
            self._file = _read_cache_file(self.path) if self.path is not None else {}
        return self._file

    def get(self, key: str) -> Optional[List[str]]:
        with _MEMORY_LOCK:
            found = _MEMORY.get(key)
        if found is None:
            found = self._file_entries().get(key)
            if found is None:
                found = seed_entries().get(key)
            if found is not None:
                _remember(key, found)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return list(found)

    def put(self, key: str, statements: Sequence[str], *, persist: bool = True) -> None:
        """Remembers `statements`; `persist=False` keeps them out of the file (text that depends
        on one run's values, e.g. how many campaigns it listed, would only churn the file)."""
        value = [str(s) for s in statements]
        _remember(key, value)
        if self.path is not None and persist:
            self._put_file(key, value)

    def _put_file(self, key: str, value: List[str]) -> None:
        entries = self._file_entries()
        entries.pop(key, None)
        entries[key] = value  # newest last
        while len(entries) > MAX_FILE_ENTRIES:
            entries.pop(next(iter(entries)))
        self._dirty = True

    def save(self) -> None:
        """Writes the file if anything was added (atomically; a failure is logged, not raised)."""
        if self.path is None or not self._dirty:
            return
        try:
            _write_cache_file(self.path, self._file_entries())
            self._dirty = False
        except OSError as ex:
            logger.warning("could not write the SQL cache %s: %s", self.path, ex)


def _remember(key: str, value: List[str]) -> None:
    with _MEMORY_LOCK:
        _MEMORY.pop(key, None)
        _MEMORY[key] = value
        while len(_MEMORY) > MAX_MEMORY_ENTRIES:
            _MEMORY.pop(next(iter(_MEMORY)))


def clear_memory_cache() -> None:
    with _MEMORY_LOCK:
        _MEMORY.clear()


@functools.lru_cache(maxsize=1)
def _seed_document() -> Optional[Dict[str, Any]]:
    return _read_document(SEED_FILE)


def seed_entries() -> Mapping[str, List[str]]:
    """The package's precompiled statements: empty when the file is missing or unreadable, or was
    compiled with another sqlglot than the installed one (its keys would all miss anyway)."""
    document = _seed_document()
    if document is None or seed_sqlglot_version() != sqlglot_version():
        return {}
    return _entries(document, SEED_FILE)


def seed_sqlglot_version() -> Optional[str]:
    """The sqlglot release the package's seed was compiled with (None: no readable seed)."""
    version = (_seed_document() or {}).get("sqlglot")
    return version if isinstance(version, str) else None


def sqlglot_version() -> str:
    # sqlglot sets __version__ from a generated module it ships untyped
    version: str = sqlglot.__version__  # type: ignore[attr-defined]
    return version


def cache_document(entries: Mapping[str, List[str]], **about: str) -> Dict[str, Any]:
    """What a cache file holds: its format, `about` (the seed names its sqlglot), the entries."""
    return {"format": _CACHE_FORMAT, **about, "entries": entries}


def _read_cache_file(path: Path) -> Dict[str, List[str]]:
    document = _read_document(path)
    return {} if document is None else _entries(document, path)


def _read_document(path: Path) -> Optional[Dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as ex:
        logger.info("ignoring unreadable SQL cache %s: %s", path, ex)
        return None
    return data if isinstance(data, dict) else {}


def _entries(data: Dict[str, Any], path: Path) -> Dict[str, List[str]]:
    entries = data.get("entries") if data.get("format") == _CACHE_FORMAT else None
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(s, str) for s in v)
        for k, v in entries.items()
    ):
        logger.info("ignoring SQL cache %s: not a cache file of this version", path)
        return {}
    return dict(entries)


def _write_cache_file(path: Path, entries: Mapping[str, List[str]]) -> None:
    if not path.parent.is_dir():
        return  # never create directories: the caller's working dir exists or there is no file
    handle, temporary = tempfile.mkstemp(prefix=".bsg_sql_cache.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(cache_document(entries), out)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def pipeline_cache(pipeline: Any) -> SqlCache:
    """The cache for a dlt pipeline: its working dir when it has one that exists, else memory only."""
    working_dir = getattr(pipeline, "working_dir", None)
    if isinstance(working_dir, (str, os.PathLike)) and Path(working_dir).is_dir():
        return SqlCache(Path(working_dir))
    return SqlCache(None)


# --------------------------------------------------------------------------------------------
# view bookkeeping
# --------------------------------------------------------------------------------------------


def definition_hash(create_statement: str) -> str:
    return hashlib.sha256(create_statement.encode("utf-8")).hexdigest()[:32]


def bookkeeping_probe(dialect: str, table_path: TablePath, view_names: Sequence[str]) -> str:
    """`SELECT view_name, definition_hash FROM <ds>._bsg_views WHERE NOT EXISTS (SELECT 1 FROM
    <ds>.<view> WHERE FALSE) AND ...`: fails when the table or any view is missing or broken."""
    query = exp.select("view_name", "definition_hash").from_(_table_expr(table_path(BOOKKEEPING_TABLE)))
    for name in view_names:
        empty = exp.select(exp.Literal.number(1)).from_(_table_expr(table_path(name))).where(exp.false())
        query = query.where(exp.not_(exp.Exists(this=empty)), append=True)
    return generate(query, dialect)


def bookkeeping_statements(dialect: str, table_path: TablePath, hashes: Mapping[str, str]) -> List[str]:
    """CREATE TABLE IF NOT EXISTS, DELETE every row, INSERT one row per view."""
    table = _table_expr(table_path(BOOKKEEPING_TABLE))
    text = exp.DataType.build("TEXT")
    create = exp.Create(
        this=exp.Schema(
            this=table.copy(),
            expressions=[exp.ColumnDef(this=exp.to_identifier(c), kind=text.copy())
                         for c in ("view_name", "definition_hash")],
        ),
        kind="TABLE",
        exists=True,
    )
    delete = exp.Delete(this=table.copy(), where=exp.Where(this=exp.true()))  # BigQuery wants a WHERE
    rows = [exp.Tuple(expressions=[exp.Literal.string(validate_identifier(name, "view name")),
                                   exp.Literal.string(_hex(value))])
            for name, value in hashes.items()]
    insert = exp.Insert(
        this=exp.Schema(this=table.copy(), expressions=[exp.to_identifier("view_name"),
                                                        exp.to_identifier("definition_hash")]),
        expression=exp.Values(expressions=rows),
    )
    return [generate(create, dialect), generate(delete, dialect), generate(insert, dialect)]


def _hex(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{1,64}", value):
        raise SqlModelError(f"not a hex digest: {value!r}")
    return value


def stored_definitions(client: Any, dialect: str, table_path: TablePath,
                       view_names: Sequence[str]) -> Optional[Dict[str, str]]:
    """What `_bsg_views` says is built, or None when it or any view cannot be read."""
    try:
        rows = client.execute_sql(bookkeeping_probe(dialect, table_path, view_names))
    except Exception as ex:  # missing dataset, table or view: the build decides to rebuild
        logger.debug("view bookkeeping not readable, rebuilding the views: %s", ex)
        return None
    return {str(name): str(value) for name, value in rows or []}
