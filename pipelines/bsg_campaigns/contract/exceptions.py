"""What parsing a payload can raise. Never escapes a run: a RecordError becomes the reason of a
`rejected_records` row."""

from __future__ import annotations

from bsg_campaigns.exceptions import BsgError


class RecordError(BsgError, ValueError):
    """A payload that cannot be read under the documented tolerance; the text is the reason."""
