"""What compiling and running the SQL of sql/ can raise."""

from __future__ import annotations

from bsg_campaigns.exceptions import RunFailed, UserError


class SqlModelError(RunFailed, ValueError):
    """A .sql file, or something about to be placed into SQL, is not acceptable: the models could
    not be built (exit 1; the loads of the run stay committed)."""


class ColumnDocsError(UserError, ValueError):
    """sql/columns.yml is malformed or disagrees with sql/ (a check, a model); the message names
    the place."""
