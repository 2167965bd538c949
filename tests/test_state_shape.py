"""The source state dlt commits to the destination has exactly the shape `SourceState` declares:
mypy checks the code that writes it, this checks the JSON that a real run leaves behind (what a
new machine restores), so the TypedDict cannot drift from the stored state."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, List, NotRequired, Union, get_args, get_origin, get_type_hints, is_typeddict

from bsg_campaigns.incremental.state import STATE_VERSION, SourceState
from bsg_campaigns.contract.privacy import generate_key, key_fingerprint
from bsg_campaigns.simulator import Simulator, SimulatorConfig

from conftest import Harness


def _problems(value: Any, hint: Any, where: str) -> List[str]:
    """How `value` (parsed JSON) departs from the type `hint`; [] when it conforms."""
    origin, args = get_origin(hint), get_args(hint)
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where} is {type(value).__name__}, expected an object"]
        # include_extras keeps NotRequired (the class's own __required_keys__ cannot see it
        # through string annotations on Python 3.11)
        fields = get_type_hints(hint, include_extras=True)
        optional = {k for k, h in fields.items() if get_origin(h) is NotRequired}
        problems = [f"{where} lacks {k!r}" for k in sorted(set(fields) - optional - set(value))]
        problems += [f"{where} has undeclared {k!r}" for k in sorted(set(value) - set(fields))]
        for key in sorted(set(value) & set(fields)):
            field = fields[key]
            problems += _problems(value[key], get_args(field)[0] if key in optional else field, f"{where}.{key}")
        return problems
    if origin is Union:
        if any(not _problems(value, option, where) for option in args):
            return []
        return [f"{where} = {value!r} is none of {args}"]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where} is {type(value).__name__}, expected an object"]
        return [p for k, v in value.items() for p in _problems(k, args[0], f"{where} key") + _problems(v, args[1], f"{where}[{k!r}]")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{where} is {type(value).__name__}, expected a list"]
        return [p for i, v in enumerate(value) for p in _problems(v, args[0], f"{where}[{i}]")]
    if hint is type(None):
        return [] if value is None else [f"{where} = {value!r}, expected null"]
    if isinstance(value, hint) and not (isinstance(value, bool) and hint is not bool):
        return []
    return [f"{where} = {value!r}, expected {hint.__name__}"]


def test_the_committed_state_is_a_source_state(tmp_path):
    with Simulator(SimulatorConfig(seed=11, campaigns=120, extra_fields=True)).start() as sim:
        sim.put_detail(90000003, '{"data": {"id": 90000003, "statistics": {"delivered": "12a"}}}',
                       created_at="2026-10-30 11:00:00", type="sms")
        harness = Harness(tmp_path, sim)
        key = generate_key()
        harness.run(messages=True, recipient_hash_key=key)
        sim.advance(hours=6)
        second = harness.run(messages=True, recipient_hash_key=key)
        committed = json.loads(json.dumps(harness.source_state))  # what the destination holds

    assert _problems(committed, SourceState, "state") == []
    # Every part of the shape is exercised, so each was checked above.
    assert set(committed) == set(get_type_hints(SourceState))
    assert committed["version"] == STATE_VERSION
    assert committed["open"] and committed["recent"]["rcs"] and committed["cursors"]["sms"]
    assert set(committed["retry"]) == {"90000003"}
    assert committed["retry"]["90000003"]["reason"] == "statistics.delivered is not an integer: '12a'"
    assert committed["seen_extra_fields"] == sorted(committed["seen_extra_fields"]) != []
    assert committed["last_run"]["mode"] == "incremental"
    assert committed["messages"]["read"] and committed["messages"]["key_fingerprint"] == key_fingerprint(
        bytes.fromhex(key))
    assert committed["last_run"]["refreshed"] == second.refreshed > 0
    assert committed["last_run"]["server_now"] == second.server_now
    for entry in committed["open"].values():  # times are ISO UTC
        assert entry["finished_at"] is None or datetime.fromisoformat(entry["finished_at"]).utcoffset().total_seconds() == 0
    assert all(datetime.fromisoformat(t).utcoffset().total_seconds() == 0 for t in committed["cursors"].values())
