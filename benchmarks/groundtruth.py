"""What an approach must request, from the simulator's catalogue alone (never from the connector).

Every allowance and floor in `run.py` comes from here: the same deterministic catalogue the served
simulator holds (same spec, built in-process, no HTTP), read through the simulator's public API
(`visible_campaign_ids`, `expected_detail`, `advance`). Nothing here imports the connector's
state or policy code: a defect there (say, a policy that never settles a campaign) must not move
the allowance it is graded against.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

_FMT = "%Y-%m-%d %H:%M:%S"
# The vendor's campaign statuses after which nothing more is sent (the reference, not our settings).
FINAL_STATUSES = ("done", "stopped", "spam")


def catalogue(spec: Dict[str, Any]) -> Any:
    """The served simulator's twin: `SimulatorConfig(**spec)` exactly as `serve_sim` builds it."""
    from bsg_campaigns.simulator import Simulator, SimulatorConfig

    return Simulator(SimulatorConfig(**spec))


def windows(start: datetime, end: datetime, months: int = 3) -> List[Tuple[datetime, datetime]]:
    """Consecutive inclusive [from, to] creation-date windows of at most `months` (the server's
    rule for filter[from]..filter[to]), to the second, in UTC."""
    from bsg_campaigns.extract.discovery import add_months  # calendar arithmetic only

    out = []
    cursor = start.astimezone(timezone.utc).replace(microsecond=0)
    end = end.astimezone(timezone.utc)
    while cursor <= end:
        upper = min(add_months(cursor, months) - timedelta(seconds=1), end)
        out.append((cursor, upper))
        cursor = upper + timedelta(seconds=1)
    return out


def list_calls(sim: Any, types: Sequence[str], plan: Sequence[Tuple[datetime, datetime]], page_size: int) -> int:
    """List requests needed to page through `plan` per type: ceil(listed / page_size) per window,
    and one request for a window with nothing in it (the answer that says so)."""
    calls = 0
    for campaign_type in types:
        for lo, hi in plan:
            listed = _count_created(sim, campaign_type, lo, hi)
            calls += max(1, math.ceil(listed / page_size))
    return calls


def _count_created(sim: Any, campaign_type: str, lo: datetime, hi: datetime) -> int:
    now = sim.now
    return sum(1 for cid in sim.visible_campaign_ids(campaign_type)
               if lo <= _created(sim, cid) <= min(hi, now))


def _created(sim: Any, campaign_id: int) -> datetime:
    return _utc(sim.expected_detail(campaign_id)["created_at"])


def _utc(text: Optional[str]) -> Optional[datetime]:
    return None if text is None else datetime.strptime(text, _FMT).replace(tzinfo=timezone.utc)


def _settled(detail: Dict[str, Any], final_since: Optional[datetime], now: datetime, window: timedelta) -> bool:
    """The documented rule (README, config.toml): final, and quiet for a whole refresh window since
    finished_at (or, without one, since it was first seen final)."""
    if detail["status"] not in FINAL_STATUSES:
        return False
    reference = _utc(detail.get("finished_at")) or final_since
    return reference is not None and reference + window <= now


def open_after_runs(sim: Any, types: Sequence[str], run_times: Sequence[datetime],
                    refresh_window: timedelta) -> Dict[int, Optional[datetime]]:
    """Campaigns a correct incremental loader must still re-read after runs at `run_times` (the
    simulated clock of each run, ascending): every campaign is read when first listed and again
    on every later run until the rule above settles it. Returns {id: first seen final or None}.
    `sim` is advanced to the last run time."""
    open_: Dict[int, Optional[datetime]] = {}
    seen: Set[int] = set()
    for moment in run_times:
        _advance_to(sim, moment)
        visible = {cid for t in types for cid in sim.visible_campaign_ids(t)}
        for cid in sorted((visible - seen) | set(open_)):
            detail = sim.expected_detail(cid)
            final = detail["status"] in FINAL_STATUSES
            final_since = (open_.get(cid) or moment) if final else None
            if _settled(detail, final_since, moment, refresh_window):
                open_.pop(cid, None)
            else:
                open_[cid] = final_since
        seen |= visible
    return open_


def new_since(sim: Any, types: Sequence[str], before: datetime, after: datetime) -> Dict[str, int]:
    """Campaigns per type that exist at `after` but not at `before`. `sim` ends at `after`."""
    _advance_to(sim, before)
    known = {t: set(sim.visible_campaign_ids(t)) for t in types}
    _advance_to(sim, after)
    return {t: len(set(sim.visible_campaign_ids(t)) - known[t]) for t in types}


def newest_created(sim: Any, campaign_type: str) -> Optional[datetime]:
    ids = sim.visible_campaign_ids(campaign_type)
    return _created(sim, ids[-1]) if ids else None  # ids grow with created_at


def _advance_to(sim: Any, moment: datetime) -> None:
    delta = (moment - sim.now).total_seconds()
    if delta < 0:
        raise ValueError(f"the simulated clock is already past {moment}")
    sim.advance(seconds=delta)
