"""Build step that ships the repository's top-level `sql/` inside the package, as
`bsg_campaigns/sql/` (everything else about the package is declared in pyproject.toml).

`sql/` stays at the top of the repository, where analysts read and edit it, while setuptools only
installs files that live inside a package directory: this copy is the one build step a wheel
needs for `sqlcompile.SQL_DIR` to find the files after `pip install .`. Editable installs skip it
(their code reads the checkout's `sql/`); an sdist carries `sql/` through MANIFEST.in, so a wheel
built from it has the files too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SQL_SOURCE = Path(__file__).resolve().parent / "sql"
SQL_PACKAGE_DIR = Path("bsg_campaigns", "sql")
# The templates and macros, their docs, and the dbt project's YAML (settings.py reads the status
# buckets from dbt_project.yml).
SHIPPED_SUFFIXES = (".sql", ".md", ".yml")


def sql_files() -> list:
    return sorted(p.relative_to(SQL_SOURCE) for p in SQL_SOURCE.rglob("*")
                  if p.is_file() and p.suffix in SHIPPED_SUFFIXES)


class BuildPyWithSql(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / SQL_PACKAGE_DIR
        # A build directory reused from an earlier build must not keep a deleted or renamed file.
        shutil.rmtree(target, ignore_errors=True)
        for relative in sql_files():
            self.mkpath(str((target / relative).parent))
            self.copy_file(str(SQL_SOURCE / relative), str(target / relative))

    def get_outputs(self, include_bytecode: bool = True) -> list:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib) / SQL_PACKAGE_DIR / r) for r in sql_files()]


setup(cmdclass={"build_py": BuildPyWithSql})
