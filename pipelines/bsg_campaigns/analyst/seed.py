"""The package's precompiled SQL (`compiled_sql.json`, read by viewcache.SqlCache behind its memory
and file caches): every view and every check that does not read `check_context`, compiled for
the default dataset with no source table missing (after a run's load every source table exists),
in the dialects of DuckDB and PostgreSQL. Entries are keyed exactly as a run keys them
(viewcache.compile_key), through the same functions a run compiles with, so the seed is what a
first run would have written to its own cache file. The file names the sqlglot release it was
compiled with; with another one installed it is not read (its keys could only miss).

The keys hash the rendered SQL and viewcache.compiler_fingerprint(): sqlglot's version and the
bytes of templating.py, sqlcompile.py, checks.py, models.py, viewcache.py, settings.py and
contract/tables.py. After editing any of those or any file of sql/:

    python -m bsg_campaigns.analyst.seed

tests/analyst/test_seed.py fails while the file differs from what this generates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from bsg_campaigns import settings
from bsg_campaigns.analyst.checks import check_statements
from bsg_campaigns.analyst.models import cached_view_statements
from bsg_campaigns.analyst.sqlcompile import CheckContext, default_table_path
from bsg_campaigns.analyst.viewcache import SEED_FILE, SqlCache, cache_document, sqlglot_version

# sqlglot's dialect names as dlt's DuckDB and PostgreSQL capabilities give them.
SEED_DIALECTS = ("duckdb", "postgres")


class _Collecting(SqlCache):
    """Answers nothing (every statement is compiled), keeps what a run would keep in its file."""

    def __init__(self) -> None:
        super().__init__(None)
        self.kept: Dict[str, List[str]] = {}

    def get(self, key: str) -> Optional[List[str]]:
        self.misses += 1
        return None

    def put(self, key: str, statements: Sequence[str], *, persist: bool = True) -> None:
        if persist:
            self.kept[key] = [str(s) for s in statements]


def generate_seed() -> Dict[str, List[str]]:
    """The entries, compiled afresh (neither this process's memory nor the seed is consulted)."""
    table_path = default_table_path(settings.DATASET_NAME)
    cache = _Collecting()
    for dialect in SEED_DIALECTS:
        cached_view_statements(cache, dialect, table_path)
        check_statements(dialect, table_path, CheckContext(), cache=cache)  # keeps only run-independent texts
    return dict(sorted(cache.kept.items()))


def write_seed(path: Path = SEED_FILE) -> int:
    entries = generate_seed()
    document = cache_document(entries, sqlglot=sqlglot_version())
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return len(entries)


if __name__ == "__main__":
    count = write_seed()
    print(f"wrote {count} compiled statements to {SEED_FILE}")
    sys.exit(0)
