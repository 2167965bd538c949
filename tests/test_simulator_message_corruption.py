"""The simulator's `message_corrupt_rate` knob: the same messages stay broken (persistent per
id), the share follows the rate, every kind is served, and expected_messages stays canonical."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Dict, List

from bsg_campaigns.simulator import Simulator, SimulatorConfig
from bsg_campaigns.simulator.messages import MESSAGE_CORRUPTIONS, message_corruption_of


def _page(sim: Simulator, cid: int) -> List[Dict[str, Any]]:
    token = json.loads(urllib.request.urlopen(urllib.request.Request(
        f"{sim.base_url}/api/auth/login", data=json.dumps({"api_key": sim.api_key}).encode(),
        headers={"Content-Type": "application/json"})).read())["bearer"]
    request = urllib.request.Request(f"{sim.base_url}/api/messages?filter[campaign_id]={cid}&page[limit]=500",
                                     headers={"Authorization": f"Bearer {token}"})
    return json.loads(urllib.request.urlopen(request).read())["data"]


def test_message_corruption_is_persistent_and_canonical_in_expectations():
    with Simulator(SimulatorConfig(seed=6, campaigns=10, new_per_day=2, message_corrupt_rate=0.2)).start() as sim:
        cid = max(sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms"),
                  key=sim.expected_message_count)
        expected = sim.expected_messages(cid)[:500]
        first, second = _page(sim, cid), _page(sim, cid)
        assert first == second  # persistent: the same messages, broken the same way
        broken = [(e, s) for e, s in zip(expected, first) if e != s]
        kinds = {message_corruption_of(6, e["id"], 0.2) for e, _ in broken}
        assert kinds == set(MESSAGE_CORRUPTIONS)
        assert 0.12 * len(expected) < len(broken) < 0.28 * len(expected)
        for canonical, served in broken:
            kind = message_corruption_of(6, canonical["id"], 0.2)
            changed = {k for k in canonical if canonical[k] != served[k]}
            assert changed == {"price_abc": {"amount"}, "country_is_phone": {"country"},
                               "phone_leading_zero": {"phone"}, "id_text": {"id"}}[kind]
            if kind == "country_is_phone":
                assert served["country"] == str(canonical["phone"])
            if kind == "id_text":
                assert str(canonical["phone"]) in served["id"]
        sim.configure(message_corrupt_rate=0.0)
        assert _page(sim, cid) == expected
