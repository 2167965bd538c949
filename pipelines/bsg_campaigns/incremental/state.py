"""Incremental bookkeeping: cursors, campaigns still moving, campaigns to retry. Pure: the dlt
source state (a JSON-able dict) goes in, decisions and an updated dict come out; no I/O.

The dict lives in dlt's source state, which dlt commits inside the same load package as the
rows: it reaches the destination only with them, and is restored from there on a new machine.

Its shape is `SourceState` (version 1); ids are JSON object keys, so strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import (Any, Dict, Iterable, List, Mapping, MutableMapping, NotRequired, Optional, Sequence, Set, TypedDict,
                    cast, overload)

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


class OpenEntry(TypedDict):
    """A campaign still moving: re-read every run until settled. Times ISO UTC."""

    type: Optional[str]
    status: Optional[str]
    finished_at: Optional[str]
    final_since: Optional[str]  # first run that saw a final status (None while not final)


class RetryEntry(TypedDict):
    """Rejected or failed: re-read until the refresh window has passed since `since`."""

    reason: str  # at most 300 characters
    since: str  # ISO UTC


class LastRun(TypedDict):
    """Summary of the last committed run; the checks compare it with what was loaded."""

    server_now: Optional[str]
    mode: str  # "incremental", "by id" or "backfill"
    fetched: int
    new: int
    refreshed: int
    rejected: int
    settled: int
    gone: int
    failed: int
    listed: int
    requests: int
    messages: NotRequired[Dict[str, int]]  # the `messages` setting: campaigns read, rows, requests, ...


class RereadEntry(TypedDict):
    """A settled campaign whose messages must be read again in full."""

    expected: Dict[str, int]  # its final statistics
    primary_channel: Optional[str]
    rereads: int  # re-reads done so far that still disagreed
    since: str  # ISO UTC: the run that found the disagreement


class MessagesState(TypedDict):
    """`state["messages"]`; ids are JSON object keys, so strings."""

    read: Dict[str, str]  # {id: fingerprint of the statistics its last complete, matching read saw}
    reread: Dict[str, RereadEntry]
    # The fingerprint of the key the dataset's recipients are hashed with (never the key: see
    # contract/privacy.py); set by the first run that hashes.
    key_fingerprint: NotRequired[str]


class SourceState(TypedDict):
    """The dlt source state as this package keeps it (the same dict dlt persists)."""

    version: int  # STATE_VERSION
    cursors: Dict[str, str]  # {type: ISO UTC}: newest creation time listed per type
    recent: Dict[str, Dict[str, str]]  # {type: {id: ISO UTC}}: listed at/after cursor - overlap
    open: Dict[str, OpenEntry]  # {id: ...}
    retry: Dict[str, RetryEntry]  # {id: ...}
    last_run: NotRequired[LastRun]  # from the end of the first run on
    seen_extra_fields: NotRequired[List[str]]  # unknown detail fields already reported, sorted
    messages: NotRequired[MessagesState]  # the `messages` setting (incremental/messages.py)


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: Optional[datetime]) -> Optional[str]: ...
def iso(moment: Optional[datetime]) -> Optional[str]:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


@overload
def from_iso(value: str) -> datetime: ...
@overload
def from_iso(value: Optional[str]) -> Optional[datetime]: ...
def from_iso(value: Optional[str]) -> Optional[datetime]:
    return None if value is None else datetime.fromisoformat(value)


def init_state(state: MutableMapping[str, Any]) -> SourceState:
    """Fill a (possibly empty) dlt state dict with the keys this module uses. Returns the same
    dict, typed: dlt persists that very object."""
    state.setdefault("version", STATE_VERSION)
    for key in ("cursors", "recent", "open", "retry"):
        state.setdefault(key, {})
    return cast(SourceState, state)  # every required key is now set


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


def listing_start(state: SourceState, campaign_type: str, first_start: datetime,
                  policy: RefreshPolicy) -> datetime:
    cursor = from_iso(state["cursors"].get(campaign_type))
    return first_start if cursor is None else cursor - policy.cursor_overlap


def already_known(state: SourceState, campaign_type: str, campaign_id: int) -> bool:
    key = str(campaign_id)
    return key in state["recent"].get(campaign_type, {}) or key in state["open"] or key in state["retry"]


def ids_to_refresh(state: SourceState) -> List[int]:
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


def affects_state(state: SourceState, campaign_id: int, observed: Observed,
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


def apply_outcome(state: SourceState, outcome: RunOutcome, policy: RefreshPolicy,
                  now: datetime) -> StateChanges:
    changes = StateChanges()
    open_, retry = state["open"], state["retry"]
    for campaign_id, record in outcome.observed.items():
        key = str(campaign_id)
        retry.pop(key, None)
        previous = open_.get(key)
        final_since = None if previous is None else from_iso(previous["final_since"])
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
        retrying = retry.get(key)
        since = now if retrying is None else from_iso(retrying["since"])
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


def _advance_cursors(state: SourceState, listed: Dict[str, Dict[int, Optional[datetime]]],
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


def open_campaigns(state: Mapping[str, Any]) -> Iterable[Dict[str, Any]]:
    """A committed state as read back from a pipeline: empty before the first run."""
    for key, entry in sorted(state.get("open", {}).items(), key=lambda kv: int(kv[0])):
        yield {"campaign_id": int(key), **entry}
