"""The package's precompiled SQL (`compiled_sql.json`, read by viewcache.SqlCache behind its memory
and file caches): every view and every check that does not read `check_context`, compiled for
the default dataset with no source table missing (after a run's load every source table exists),
in the dialects of DuckDB and PostgreSQL. Entries are keyed exactly as a run keys them
(viewcache.compile_key), through the same functions a run compiles with, so the seed is what a
first run would have written to its own cache file.

    python -m bsg_campaigns.analyst.seed        # rewrite compiled_sql.json after editing sql/ or the compiler

tests/analyst/test_seed.py fails while the file differs from what this generates."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from bsg_campaigns import settings
from bsg_campaigns.analyst.checks import check_statements
from bsg_campaigns.analyst.models import cached_view_statements
from bsg_campaigns.analyst.sqlcompile import CheckContext, default_table_path
from bsg_campaigns.analyst.viewcache import _CACHE_FORMAT, CACHE_FILE_NAME, SEED_FILE, SqlCache

# sqlglot's dialect names as dlt's DuckDB and PostgreSQL capabilities give them.
SEED_DIALECTS = ("duckdb", "postgres")


def generate_seed() -> Dict[str, List[str]]:
    """The entries, compiled afresh (the seed itself is not consulted)."""
    table_path = default_table_path(settings.DATASET_NAME)
    with tempfile.TemporaryDirectory() as scratch:
        cache = SqlCache(Path(scratch), seeded=False)
        for dialect in SEED_DIALECTS:
            cached_view_statements(cache, dialect, table_path)
            check_statements(dialect, table_path, CheckContext(), cache=cache)  # keeps only run-independent texts
        cache.save()
        written = Path(scratch) / CACHE_FILE_NAME
        entries: Dict[str, List[str]] = json.loads(written.read_text(encoding="utf-8"))["entries"]
    return dict(sorted(entries.items()))


def write_seed(path: Path = SEED_FILE) -> int:
    entries = generate_seed()
    path.write_text(json.dumps({"format": _CACHE_FORMAT, "entries": entries}, indent=1, sort_keys=True) + "\n",
                    encoding="utf-8")
    return len(entries)


if __name__ == "__main__":
    count = write_seed()
    print(f"wrote {count} compiled statements to {SEED_FILE}")
    sys.exit(0)
