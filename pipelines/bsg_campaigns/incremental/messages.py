"""Which campaigns' messages to read, and what a read changes. Pure: the dlt source state's
`messages` dict goes in, decisions and an updated dict come out; no I/O.

The rule (the detail's statistics are a free fingerprint: the messages grouped by status are what
they count):
- a fetched campaign's messages are read when its statistics differ from those its messages were
  last read *and matched* at (`read`): a new campaign, an open one whose counts moved, one whose
  last read disagreed or was incomplete. A run in which no counts moved reads no messages;
- a campaign that has settled (it left `open`) with a read that disagreed with its final counts,
  or was incomplete, is read again in full on the next runs (`reread`), at most
  `message_mismatch_rereads` times; then it is given up (the reconciliation check reports it);
- rows of every read are merged on the message id, never filtered against a cursor;
- `read` keeps only campaigns still open: a settled campaign that matched is never read again.

Counts are compared as {"primary:<status>" | "fallback:<status>": n}, non-zero only, in the
statistics' vocabulary (contract.messages.statistics_status).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Collection, Dict, List, Optional

from bsg_campaigns import settings as defaults
from bsg_campaigns.contract.campaigns import CampaignRecord
from bsg_campaigns.contract.message_pages import MessageColumns
from bsg_campaigns.contract.messages import statistics_status
from bsg_campaigns.incremental.state import MessagesState, SourceState, iso

Counts = Dict[str, int]


def init_messages_state(state: SourceState) -> MessagesState:
    """`state["messages"]`, created when missing (the same dict dlt persists)."""
    section = state.setdefault("messages", {"read": {}, "reread": {}})
    section.setdefault("read", {})
    section.setdefault("reread", {})
    return section


def statistics_counts(record: CampaignRecord) -> Counts:
    counts: Counts = {}
    for _channel, is_fallback, status, count in record.statistics:
        if count:
            key = _key(is_fallback, status)
            counts[key] = counts.get(key, 0) + count
    return counts


def fingerprint(counts: Counts) -> str:
    text = ",".join(f"{key}={counts[key]}" for key in sorted(counts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class PlannedRead:
    """A campaign whose messages this run reads, and what its read must count to match."""

    campaign_id: int
    expected: Counts
    primary_channel: Optional[str]
    reason: str  # "changed" (new, moved, or last read not matched) | "reread" (settled, disagreed)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.expected)


def plan_for(state: MessagesState, record: CampaignRecord) -> Optional[PlannedRead]:
    """The read a freshly fetched detail asks for, if any."""
    expected = statistics_counts(record)
    if state["read"].get(str(record.campaign_id)) == fingerprint(expected):
        return None
    return PlannedRead(record.campaign_id, expected, record.type, "changed")


def planned_rereads(state: MessagesState, fetched: Collection[int]) -> List[PlannedRead]:
    """Settled campaigns to read again (those fetched this run are planned from their detail)."""
    return [PlannedRead(int(key), dict(entry["expected"]), entry["primary_channel"], "reread")
            for key, entry in sorted(state["reread"].items(), key=lambda kv: int(kv[0]))
            if int(key) not in fetched]


@dataclass
class Tally:
    """A read's counts, in the statistics' vocabulary. A campaign's fallback messages are its SMS
    messages when its own channel is not SMS (an SMS campaign has no fallback)."""

    primary_channel: Optional[str]
    counts: Counts = field(default_factory=dict)

    def add(self, messages: MessageColumns) -> None:
        counts = self.counts
        own_is_sms = self.primary_channel == defaults.FALLBACK_CHANNEL
        for (channel, status), count in Counter(zip(messages["channel"], messages["status"])).items():
            is_fallback = not own_is_sms and channel == defaults.FALLBACK_CHANNEL
            key = _key(is_fallback, statistics_status(channel, status))
            counts[key] = counts.get(key, 0) + count


@dataclass(frozen=True)
class ReadOutcome:
    planned: PlannedRead
    complete: bool
    counts: Counts

    @property
    def matches(self) -> bool:
        return self.complete and self.counts == self.planned.expected


@dataclass
class MessageChanges:
    matched: int = 0
    disagreed: List[int] = field(default_factory=list)  # complete reads whose counts differ
    incomplete: List[int] = field(default_factory=list)
    to_reread: int = 0  # settled campaigns the next run reads again
    given_up: List[int] = field(default_factory=list)


def apply_reads(state: MessagesState, outcomes: List[ReadOutcome], open_ids: Collection[str], *,
                max_rereads: int, now: datetime) -> MessageChanges:
    """Fold this run's reads into the state; `open_ids` are the campaigns still open after the
    run (source state `open`, already updated)."""
    changes = MessageChanges()
    read, reread = state["read"], state["reread"]
    for outcome in outcomes:
        planned = outcome.planned
        key = str(planned.campaign_id)
        if outcome.matches:
            read[key] = planned.fingerprint
            reread.pop(key, None)
            changes.matched += 1
            continue
        (changes.disagreed if outcome.complete else changes.incomplete).append(planned.campaign_id)
        read.pop(key, None)  # an open campaign is read again on its next fetch, moved or not
        if key in open_ids:
            reread.pop(key, None)
            continue
        previous = reread.get(key)
        done = 0 if previous is None or planned.reason != "reread" else previous["rereads"] + 1
        if done >= max_rereads:
            reread.pop(key, None)
            changes.given_up.append(planned.campaign_id)
        else:
            reread[key] = {"expected": dict(planned.expected), "primary_channel": planned.primary_channel,
                           "rereads": done, "since": previous["since"] if previous else iso(now)}
    for key in [k for k in read if k not in open_ids]:
        del read[key]  # settled and matched: never read again
    changes.to_reread = len(reread)
    return changes


def _key(is_fallback: bool, status: str) -> str:
    return f"{'fallback' if is_fallback else 'primary'}:{status}"
