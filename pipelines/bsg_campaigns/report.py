"""What a run did, as it happens (progress) and at the end (summary, JSON for schedulers)."""

from __future__ import annotations

import threading
import time
import copy
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class RunReport:
    mode: str = "incremental"
    server_now: Optional[str] = None
    listed: Dict[str, int] = field(default_factory=dict)
    to_refresh: int = 0
    fetched: int = 0
    new: int = 0
    refreshed: int = 0
    explicit: int = 0
    backfilled: int = 0
    settled: int = 0
    still_open: int = 0
    rejected: int = 0
    gone: int = 0
    gone_ids: List[int] = field(default_factory=list)
    failed: int = 0  # not fetched this run (refused ones included); retried on later runs
    refused: Dict[str, List[int]] = field(default_factory=dict)  # a 4xx about the id: reason -> ids
    given_up: int = 0
    rows: Dict[str, int] = field(default_factory=dict)
    # GET /api/messages (the `messages` setting): campaigns read, pages, requests, reconciliation
    messages: Dict[str, int] = field(default_factory=dict)
    new_extra_fields: List[str] = field(default_factory=list)
    http: Dict[str, Any] = field(default_factory=dict)
    checks: Dict[str, Any] = field(default_factory=dict)
    models: List[str] = field(default_factory=list)
    load_ids: List[str] = field(default_factory=list)
    steps: Dict[str, Tuple[float, float]] = field(default_factory=dict)  # dlt step: (start, end) unix time
    cursors: Dict[str, Optional[str]] = field(default_factory=dict)
    status: str = "running"
    error: Optional[str] = None
    duration_seconds: float = 0.0
    _started: float = field(default_factory=time.monotonic, repr=False)
    _on_progress: Optional[Callable[["RunReport"], None]] = field(default=None, repr=False)
    _last_progress: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def listed_total(self) -> int:
        return sum(self.listed.values())

    def progress_due(self) -> bool:
        return self._on_progress is not None and time.monotonic() - self._last_progress >= 0.25

    def progress(self, force: bool = False) -> None:
        """Throttled: a terminal redraw at most 4 times a second."""
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= 0.25:
            self._last_progress = now
            self._on_progress(self)

    def add_rows(self, table: str, count: int) -> None:
        with self._lock:
            self.rows[table] = self.rows.get(table, 0) + count

    def finish(self, status: str, error: Optional[str] = None) -> None:
        self.status = status
        self.error = error
        self.duration_seconds = round(time.monotonic() - self._started, 3)

    def as_dict(self) -> Dict[str, Any]:
        data = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}
        data["listed_total"] = self.listed_total
        return data

    def progress_line(self) -> str:
        return (f"listed {self.listed_total} campaigns · details {self.fetched} fetched "
                f"({self.new} new, {self.refreshed} refreshed, {self.rejected} rejected) · "
                f"{self.http.get('requests', 0)} requests, {self.http.get('retries', 0)} retries")

    def summary_text(self) -> str:
        http = self.http or {}
        lines = [
            f"BSG campaigns run: {self.status.upper()}  ({self.mode}, {self.duration_seconds:.1f} s)",
            f"  server time      {self.server_now or '-'}",
            f"  listed           {self.listed_total}  "
            + "  ".join(f"{t}={n}" for t, n in sorted(self.listed.items())),
            f"  details fetched  {self.fetched}",
            f"    new            {self.new}",
            f"    refreshed      {self.refreshed}",
        ]
        if self.explicit:
            lines.append(f"    by id          {self.explicit}")
        if self.backfilled:
            lines.append(f"    backfilled     {self.backfilled}")
        lines += [
            f"  settled          {self.settled}  (final and quiet for the refresh window: not read again)",
            f"  still open       {self.still_open}  (re-read next run)",
            f"  rejected         {self.rejected}  (see table rejected_records)",
        ]
        if self.gone:
            lines.append(f"  gone             {self.gone}  (unknown or deleted ids, no longer refreshed: "
                         f"{_some(self.gone_ids)})")
        if self.failed:
            lines.append(f"  failed           {self.failed}  (retried next run)")
        for reason, ids in sorted(self.refused.items()):
            lines.append(f"    refused        {len(ids)}  (the API answered {reason}: {_some(ids)})")
        if self.given_up:
            lines.append(f"  given up         {self.given_up}  (still failing after the refresh window)")
        if self.messages:
            m = self.messages
            lines.append(f"  messages read    {m.get('campaigns', 0)} campaigns, {m.get('rows', 0)} messages, "
                         f"{m.get('requests', 0)} requests  (matched the statistics {m.get('matched', 0)}, "
                         f"disagreed {m.get('disagreed', 0)}, incomplete {m.get('incomplete', 0)}, "
                         f"read again next run {m.get('to_reread', 0)})")
        if self.rows:
            lines.append("  rows loaded      " + "  ".join(f"{t}={n}" for t, n in sorted(self.rows.items())))
        lines.append(f"  requests         {http.get('requests', 0)}  (retries {http.get('retries', 0)}, "
                     f"logins {http.get('logins', 0)}, token refreshes {http.get('refreshes', 0)})")
        if self.new_extra_fields:
            lines.append("  NEW API FIELDS   " + ", ".join(self.new_extra_fields)
                         + "  (kept in campaigns.extra_fields)")
        if self.checks:
            lines.append(f"  checks           {self.checks.get('summary', '')}")
        if self.error:
            lines.append(f"  error            {self.error}")
        return "\n".join(lines)


def _some(ids: List[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (" …" if len(ids) > 10 else "")
