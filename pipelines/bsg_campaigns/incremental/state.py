"""Incremental bookkeeping: cursors, campaigns still moving, campaigns to retry. Pure: the dlt
source state (a JSON-able dict) goes in, decisions and an updated dict come out; no I/O.

The dict lives in dlt's source state, which dlt commits inside the same load package as the
rows: it reaches the destination only with them, and is restored from there on a new machine.

Shape (version 1):
    cursors    {type: ISO UTC}               newest creation time listed per type
    recent     {type: {id: ISO UTC}}         ids listed at/after cursor - overlap (skip on re-list)
    open       {id: {type, status, finished_at, final_since}}   re-read every run until settled
    retry      {id: {reason, since}}         rejected/failed: re-read until the refresh window passes
    last_run   summary of the last committed run
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, MutableMapping, Optional, Sequence, Set

from bsg_campaigns.contract.campaigns import CampaignRecord


@dataclass(frozen=True)
class Observed:
    """The little of a fetched record that the state needs (records themselves stream on)."""

    type: Optional[str]
    status: Optional[str]
    finished_at: Optional[datetime]

    @classmethod
    def of(cls, record: CampaignRecord) -> "Observed":
        return cls(record.type, record.status, record.finished_at)

STATE_VERSION = 1


def iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def from_iso(value: Optional[str]) -> Optional[datetime]:
    return None if value is None else datetime.fromisoformat(value)


def init_state(state: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Fill a (possibly empty) dlt state dict with the keys this module uses."""
    state.setdefault("version", STATE_VERSION)
    for key in ("cursors", "recent", "open", "retry"):
        state.setdefault(key, {})
    return state


@dataclass(frozen=True)
class RefreshPolicy:
    refresh_window: timedelta
    final_statuses: Sequence[str]
    cursor_overlap: timedelta

    def is_settled(self, status: Optional[str], finished_at: Optional[datetime],
                   final_since: Optional[datetime], now: datetime) -> bool:
        """Final for sending and quiet for a whole refresh window: never read again."""
        if status not in self.final_statuses:
            return False
        reference = finished_at or final_since
        return reference is not None and reference + self.refresh_window <= now


def listing_start(state: MutableMapping[str, Any], campaign_type: str, first_start: datetime,
                  policy: RefreshPolicy) -> datetime:
    cursor = from_iso(state["cursors"].get(campaign_type))
    return first_start if cursor is None else cursor - policy.cursor_overlap


def already_known(state: MutableMapping[str, Any], campaign_type: str, campaign_id: int) -> bool:
    key = str(campaign_id)
    return key in state["recent"].get(campaign_type, {}) or key in state["open"] or key in state["retry"]


def ids_to_refresh(state: MutableMapping[str, Any]) -> List[int]:
    return sorted({int(k) for k in state["open"]} | {int(k) for k in state["retry"]})


@dataclass
class RunOutcome:
    """What this run did to each campaign; `apply_outcome` folds it into the state."""

    new: Set[int] = field(default_factory=set)
    refreshed: Set[int] = field(default_factory=set)
    explicit: Set[int] = field(default_factory=set)
    backfilled: Set[int] = field(default_factory=set)
    observed: Dict[int, Observed] = field(default_factory=dict)
    extra_field_names: Set[str] = field(default_factory=set)
    rejected: Dict[int, str] = field(default_factory=dict)
    failed: Dict[int, str] = field(default_factory=dict)
    gone: Dict[int, str] = field(default_factory=dict)
    listed: Dict[str, Dict[int, Optional[datetime]]] = field(default_factory=dict)
    move_cursor: bool = True


def affects_state(state: MutableMapping[str, Any], campaign_id: int, observed: Observed,
                  policy: RefreshPolicy, now: datetime) -> bool:
    """Would `apply_outcome` change the state for this observation? Not when the state knows
    nothing of the campaign and this very observation settles it (most of a backfill): keeping
    such observations until the end of the run would cost memory per campaign for nothing."""
    key = str(campaign_id)
    if key in state["open"] or key in state["retry"]:
        return True
    final_since = now if observed.status in policy.final_statuses else None
    return not policy.is_settled(observed.status, observed.finished_at, final_since, now)


@dataclass
class StateChanges:
    settled: List[int] = field(default_factory=list)
    still_open: int = 0
    given_up: List[int] = field(default_factory=list)
    cursors: Dict[str, Optional[str]] = field(default_factory=dict)


def apply_outcome(state: MutableMapping[str, Any], outcome: RunOutcome, policy: RefreshPolicy,
                  now: datetime) -> StateChanges:
    changes = StateChanges()
    open_, retry = state["open"], state["retry"]
    for campaign_id, record in outcome.observed.items():
        key = str(campaign_id)
        retry.pop(key, None)
        previous = open_.get(key, {})
        final_since = from_iso(previous.get("final_since"))
        if record.status in policy.final_statuses and final_since is None:
            final_since = now
        if policy.is_settled(record.status, record.finished_at, final_since, now):
            if open_.pop(key, None) is not None:
                changes.settled.append(campaign_id)
            continue
        open_[key] = {"type": record.type, "status": record.status, "finished_at": iso(record.finished_at),
                      "final_since": iso(final_since) if record.status in policy.final_statuses else None}
    for campaign_id, reason in {**outcome.rejected, **outcome.failed}.items():
        key = str(campaign_id)
        since = from_iso(retry.get(key, {}).get("since")) or now
        if since + policy.refresh_window <= now:
            retry.pop(key, None)
            open_.pop(key, None)
            changes.given_up.append(campaign_id)
        else:
            retry[key] = {"reason": reason[:300], "since": iso(since)}
    for campaign_id in outcome.gone:
        open_.pop(str(campaign_id), None)
        retry.pop(str(campaign_id), None)
    if outcome.move_cursor:
        _advance_cursors(state, outcome.listed, policy)
    changes.still_open = len(open_)
    changes.cursors = dict(state["cursors"])
    return changes


def _advance_cursors(state: MutableMapping[str, Any], listed: Dict[str, Dict[int, Optional[datetime]]],
                     policy: RefreshPolicy) -> None:
    for campaign_type, items in listed.items():
        times = [t for t in items.values() if t is not None]
        old = from_iso(state["cursors"].get(campaign_type))
        cursor = max(times + ([old] if old else []), default=None)
        if cursor is None:
            continue
        state["cursors"][campaign_type] = iso(cursor)
        floor = cursor - policy.cursor_overlap
        recent = {k: v for k, v in state["recent"].get(campaign_type, {}).items() if from_iso(v) >= floor}
        recent.update({str(i): iso(t) for i, t in items.items() if t is not None and t >= floor})
        state["recent"][campaign_type] = recent


def open_campaigns(state: MutableMapping[str, Any]) -> Iterable[Dict[str, Any]]:
    for key, entry in sorted(state.get("open", {}).items(), key=lambda kv: int(kv[0])):
        yield {"campaign_id": int(key), **entry}
