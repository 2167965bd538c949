"""Parsed campaign records for the load-path and SQL-model benchmarks, without a network.

`make_records(n)` renders up to `distinct` real detail payloads with the simulator's own renderer,
parses each once with the connector's parser (`contract.campaigns.parse_detail`), and repeats them under
fresh campaign ids until there are `n` (so 100,000 records cost a few seconds, not minutes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any, List

from bsg_campaigns.contract.campaigns import CampaignRecord, parse_detail


def make_records(n: int, distinct: int = 5000, seed: int = 7) -> List[CampaignRecord]:
    from bsg_campaigns.simulator import Simulator, SimulatorConfig
    from bsg_campaigns.simulator.render import served_detail

    sim = Simulator(SimulatorConfig(seed=seed, campaigns=min(n, distinct), history_days=30))
    fetched_at = sim.now
    base: List[CampaignRecord] = []
    for idx in range(sim.catalogue.count_visible(sim.now_ts)):
        body = served_detail(sim.catalogue, idx, sim.now_ts, sim.knobs, sim.config.currency)
        parsed = parse_detail(body, fetched_at=fetched_at)
        if isinstance(parsed, CampaignRecord):
            base.append(parsed)
    if not base:
        raise RuntimeError("the simulator rendered no parseable campaign")
    out: List[CampaignRecord] = []
    next_id = 100_000_000
    round_no = 0
    while len(out) < n:
        shift = timedelta(seconds=round_no)
        for record in base:
            if len(out) >= n:
                break
            next_id += 1
            out.append(dataclasses.replace(record, campaign_id=next_id,
                                           fetched_at=record.fetched_at + shift))
        round_no += 1
    return out


def make_message_records(n: int, distinct: int = 20_000, seed: int = 7) -> List[Any]:
    """`n` parsed message records: the pages of one simulator campaign (`distinct` messages, its
    fallback SMS included) parsed with the connector's page parser under the default `hash`
    policy, repeated under fresh message ids (and their fallback links shifted alike)."""
    import json

    from bsg_campaigns.contract.message_pages import parse_message_page
    from bsg_campaigns.contract.messages import FallbackLink
    from bsg_campaigns.contract.privacy import recipient_policy
    from bsg_campaigns.simulator import Simulator, SimulatorConfig

    probe = {"seed": seed, "campaigns": 20, "whatsapp_share": 0.0, "future_days": 0.0}
    sim = Simulator(SimulatorConfig(**probe))
    # an rcs campaign with fallbacks, so message_fallbacks has rows too
    cid = max(sim.visible_campaign_ids("rcs"),
              key=lambda c: len(sim.campaign_messages(c)) - sim.campaign_messages(c).own)
    sim = Simulator(SimulatorConfig(**probe, message_counts={cid: distinct}))
    messages = sim.campaign_messages(cid)
    policy = recipient_policy("hash", MESSAGE_KEY)
    base: List[Any] = []
    for offset in range(0, len(messages), 500):
        body = json.dumps({"data": [messages.message(pos) for pos in range(offset, min(offset + 500, len(messages)))],
                           "meta": {"page": {"total": len(messages), "limit": 500, "offset": offset}}})
        base.extend(parse_message_page(body, fetched_at=sim.now, policy=policy, campaign_id=cid).records)
    out: List[Any] = []
    round_no = 0
    while len(out) < n:
        shift = round_no * 10_000_000_000  # beyond a campaign's id stride: no id repeats
        for record in base[:n - len(out)]:
            out.append(dataclasses.replace(
                record, message_id=record.message_id + shift, campaign_id=record.campaign_id + round_no,
                fallbacks=tuple(FallbackLink(f.channel, f.fallback_message_id + shift, f.parts) for f in record.fallbacks)))
        round_no += 1
    return out


MESSAGE_KEY = "7f3a9c1e5b2d4f6089a1c3e5f7b9d0e2a4c6e8f0b1d3f5a7c9e1b3d5f7a9c0e2"  # run.MESSAGE_HASH_KEY


def statistics_rows(records: List[CampaignRecord]) -> int:
    return sum(len(r.statistics) for r in records)


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)
