"""Parsed campaign records for the load-path and SQL-model benchmarks, without a network.

`make_records(n)` renders up to `distinct` real detail payloads with the simulator's own renderer,
parses each once with the connector's parser (`contract.campaigns.parse_detail`), and repeats them under
fresh campaign ids until there are `n` (so 100,000 records cost a few seconds, not minutes)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import List

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


def statistics_rows(records: List[CampaignRecord]) -> int:
    return sum(len(r.statistics) for r in records)


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)
