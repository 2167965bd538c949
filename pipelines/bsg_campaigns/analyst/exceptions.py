"""What compiling and running the SQL of sql/ can raise."""

from __future__ import annotations

from bsg_campaigns.exceptions import BsgError


class SqlModelError(BsgError, ValueError):
    """A .sql file, or something about to be placed into SQL, is not acceptable."""
