"""Privacy end to end: a phone number never reaches a load package, a log, the trace, the state or
a table unless `recipient_mode = "raw"` is chosen.

Every recipient's full digits (the simulator's own truth, `sim.expected_messages`) are searched
for in everything a run leaves behind: every file under the run's folder (load packages in
extracted / normalized / loaded, state.json, last_run.json, ...; gzip files decompressed, parquet
read with pyarrow and searched by value, not only by bytes), the DEBUG logs of dlt and
bsg_campaigns, `pipeline.last_trace` (str and asdict), the dlt state, and every value of every
table of the dataset, dlt's own tables included (the stored state decompressed). Malformed
messages (the simulator's `message_corrupt_rate`: a price "abc", the phone as the country, a
leading 0, a text id holding the phone) become rejected_records and are searched too. The same
search with `raw` must find the numbers, so the proof can fail.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import logging
import re
import zlib
from pathlib import Path
from typing import Any, Dict, Iterable, List, Set

import pytest

from bsg_campaigns.contract.privacy import generate_key, hash_recipient, parse_key
from bsg_campaigns.simulator import Simulator, SimulatorConfig
from conftest import Harness
from reliability.util import CliPaths, run_cli

# 10 campaigns of 4,106 messages (seed 6, measured): every final status, `sent`, 85 fallback
# links, and each of the 4 corruptions (5 % of messages: ~200 rejected_records).
SIM = dict(seed=6, campaigns=10, new_per_day=2, message_corrupt_rate=0.05)
MODES = ("hash", "last_digits", "drop")


@pytest.fixture(scope="module")
def sim():
    simulator = Simulator(SimulatorConfig(**SIM)).start()
    yield simulator
    simulator.stop()


def listed(sim: Simulator) -> List[int]:
    return sim.visible_campaign_ids("rcs") + sim.visible_campaign_ids("sms")  # the default `types`


def recipients(sim: Simulator) -> Set[str]:
    """Every served phone number's digits (of every campaign the connector lists)."""
    numbers = {str(msg["phone"]) for cid in listed(sim) for msg in sim.expected_messages(cid)}
    assert len(numbers) > 1000, len(numbers)  # the search has something to find
    return numbers


# ---- where to search ----------------------------------------------------------------------

def _texts_of_file(path: Path) -> Iterable[str]:
    """What a file holds, as text: its bytes, decompressed when gzip, parquet values one by one."""
    data = path.read_bytes()
    yield data.decode("utf-8", "replace")
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
        yield data.decode("utf-8", "replace")
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        yield "\n".join(str(value) for column in table.columns for value in column.to_pylist())
        yield str(table.schema)


def file_texts(root: Path) -> Dict[str, List[str]]:
    return {str(p.relative_to(root)): list(_texts_of_file(p)) for p in sorted(root.rglob("*")) if p.is_file()}


def table_texts(harness: Harness) -> Dict[str, str]:
    """Every value of every table of the dataset (dlt's included; the stored state decompressed)."""
    out = {}
    with harness.pipeline.sql_client() as client:
        names = [row[0] for row in client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", client.dataset_name)]
        for name in names:
            rows = client.execute_sql(f"select * from {name}")
            values = [str(v) for row in rows for v in row]
            if name == "_dlt_pipeline_state":
                values += [json.dumps(_decompressed(state))
                           for (state,) in client.execute_sql("select state from _dlt_pipeline_state")]
            out[name] = "\n".join(values)
    assert {"messages", "message_fallbacks", "message_reads", "rejected_records", "_dlt_pipeline_state"} <= set(out)
    return out


_DIGIT_RUN = re.compile(r"[0-9]{9,}")


def numbers_in(text: str, needles: Set[str]) -> Set[str]:
    """The needles (9..15 digits) that occur in text: every window of every digit run is looked
    up in the set (4,000 `in` scans of each text took 18 s of a 21 s test)."""
    hits = set()
    for run in _DIGIT_RUN.findall(text):
        for width in range(9, min(len(run), 15) + 1):
            hits.update(run[i:i + width] for i in range(len(run) - width + 1) if run[i:i + width] in needles)
    return hits


def found(needles: Set[str], places: Dict[str, Any]) -> Dict[str, int]:
    """place -> how many of the needles occur in it (places with none left out)."""
    hits = {}
    for place, texts in places.items():
        text = "\n".join(texts) if isinstance(texts, list) else str(texts)
        count = len(numbers_in(text, needles))
        if count:
            hits[place] = count
    return hits


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def debug_logs(monkeypatch):
    """Every DEBUG line of dlt's and bsg_campaigns' loggers (attached to them directly: dlt's
    logger does not propagate to pytest's caplog; dlt sets its level from RUNTIME__LOG_LEVEL
    when a pipeline is made)."""
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "DEBUG")
    capture = _Capture()
    changed = []
    for name in ("dlt", "bsg_campaigns"):
        logger = logging.getLogger(name)
        changed.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(capture)
    yield capture.lines
    for logger, level in changed:
        logger.removeHandler(capture)
        logger.setLevel(level)


def in_process_places(harness: Harness, logs: List[str]) -> Dict[str, Any]:
    pipeline = harness.pipeline
    trace = pipeline.last_trace
    places: Dict[str, Any] = dict(file_texts(harness.root))
    places.update({f"table {name}": text for name, text in table_texts(harness).items()})
    places["debug logs"] = logs
    places["trace str"] = str(trace)
    places["trace asdict"] = json.dumps(trace.asdict(), default=str)
    places["trace steps"] = [repr(dataclasses.asdict(step)) if dataclasses.is_dataclass(step) else repr(step)
                             for step in trace.steps]
    places["dlt state"] = json.dumps(pipeline.state, default=str)
    return places


def _run_in_process(tmp_path: Path, sim: Simulator, mode: str, store_text: bool, logs: List[str]):
    harness = Harness(tmp_path, sim, "privacy")
    key = generate_key()
    harness.run(messages=True, recipient_mode=mode, recipient_hash_key=key, store_message_text=store_text,
                message_page_size=200)
    assert len(logs) > 100  # DEBUG was on
    return harness, key


# One reason per corruption the simulator serves (simulator/messages.py MESSAGE_CORRUPTIONS).
CORRUPTION_REASONS = ("amount.value is not a plain decimal number", "country is not an ISO 3166-1",
                      "phone is not a phone number", "id ")


def _loaded_as_expected(harness: Harness, sim: Simulator, mode: str, store_text: bool, key: str) -> None:
    """The run read what the search is about: every message, loaded or rejected, with its text
    kept or not (values, so a run that loaded nothing cannot pass)."""
    expected = {msg["id"]: msg for cid in listed(sim) for msg in sim.expected_messages(cid)}
    rows = harness.query("select message_id, recipient, text, status from messages")
    rejected = harness.query("select count(*) from rejected_records where reason like 'message %' "
                             "or reason like 'data[%'")[0][0]
    assert rejected > 50 and len(rows) + rejected == len(expected)
    reasons = [r[0] for r in harness.query("select reason from rejected_records")]
    for reason in CORRUPTION_REASONS:  # every corruption was served and rejected
        assert any(reason in text for text in reasons), (reason, reasons[:5])
    for message_id, recipient, text, status in rows:
        msg = expected[message_id]
        digits = str(msg["phone"])
        assert status == msg["status"] or (status, msg["status"]) in (("not_rcs_user", "not_service_user"),)
        assert text == (msg["text"] if store_text else None)
        if mode == "last_digits":
            assert recipient == digits[-4:]
        elif mode == "drop":
            assert recipient is None
        elif mode == "hash":
            assert recipient == hash_recipient(parse_key(key), digits)
        else:
            assert recipient == digits


@pytest.mark.parametrize("store_text", [False, True], ids=["no-text", "text"])
@pytest.mark.parametrize("mode", MODES)
def test_no_phone_number_anywhere_unless_raw(mode, store_text, tmp_path, sim, debug_logs, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may write the checkout's .dlt/
    harness, key = _run_in_process(tmp_path, sim, mode, store_text, debug_logs)
    _loaded_as_expected(harness, sim, mode, store_text, key)
    places = in_process_places(harness, debug_logs)
    assert any("/normalized/" in p or "/loaded/" in p for p in places), sorted(places)[:20]
    assert found(recipients(sim), places) == {}


@pytest.mark.parametrize("mode", ["hash", "raw"])
def test_extracted_and_normalized_packages(mode, tmp_path, sim, monkeypatch):
    """A run leaves only loaded packages; here each stage is stopped at: the extracted package
    (dlt's item files), then the normalized one, then loaded, searched at every step."""
    from bsg_campaigns import bsg_source

    monkeypatch.chdir(tmp_path)
    harness = Harness(tmp_path, sim, "stages")
    pipeline = harness.pipeline
    source = bsg_source(**harness.source_args(messages=True, recipient_mode=mode, recipient_hash_key=generate_key(),
                                              store_message_text=True, message_page_size=200))
    needles = recipients(sim)
    seen = {}
    for stage, step in (("extracted", lambda: pipeline.extract(source)), ("normalized", pipeline.normalize),
                        ("loaded", pipeline.load)):
        step()
        files = file_texts(Path(pipeline.working_dir))
        # the messages' own file of this stage (parquet: searched by value) is among those searched
        folder = {"extracted": "normalize/extracted/", "normalized": "load/normalized/", "loaded": "load/loaded/"}[stage]
        assert any(name.startswith(folder) and "/messages." in name and name.endswith(".parquet")
                   for name in files), sorted(files)
        seen[stage] = found(needles, files)
    if mode == "raw":
        assert all(seen[stage] for stage in seen), seen  # the numbers are in every stage's files
    else:
        assert seen == {"extracted": {}, "normalized": {}, "loaded": {}}


@pytest.mark.parametrize("store_text", [False, True], ids=["no-text", "text"])
def test_the_same_search_finds_raw_numbers(store_text, tmp_path, sim, debug_logs, monkeypatch):
    """The proof can fail: with `raw` the numbers are in the tables and the load packages."""
    monkeypatch.chdir(tmp_path)
    harness, key = _run_in_process(tmp_path, sim, "raw", store_text, debug_logs)
    _loaded_as_expected(harness, sim, "raw", store_text, key)
    needles = recipients(sim)
    hits = found(needles, in_process_places(harness, debug_logs))
    assert hits["table messages"] > 0.9 * len(needles)
    assert hits["table rejected_records"] > 0  # a rejection keeps its raw payload in raw mode
    assert any("/loaded/" in place for place in hits), hits


@pytest.mark.parametrize("mode", MODES + ("raw",))
def test_cli_subprocess_at_debug_leaks_no_number(mode, tmp_path, sim):
    """`bsg-campaigns run` as a user runs it, RUNTIME__LOG_LEVEL=DEBUG, stdout and stderr kept."""
    paths = CliPaths(tmp_path)
    result = run_cli(["run", "--no-models"], sim, paths, timeout=240, RUNTIME__LOG_LEVEL="DEBUG",
                     SOURCES__BSG__MESSAGES="true", SOURCES__BSG__RECIPIENT_MODE=mode,
                     SOURCES__BSG__RECIPIENT_HASH_KEY=generate_key(), SOURCES__BSG__STORE_MESSAGE_TEXT="true",
                     SOURCES__BSG__MESSAGE_PAGE_SIZE="200")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DEBUG" in result.stderr + result.stdout  # the log level took effect
    places: Dict[str, Any] = {"stdout": result.stdout, "stderr": result.stderr}
    places.update(file_texts(paths.root))  # the pipelines dir, the published file and its working copy
    import duckdb

    con = duckdb.connect(str(paths.db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'bsg_campaigns'").fetchall()]
        for name in tables:
            places[f"table {name}"] = "\n".join(
                str(v) for row in con.execute(f'select * from bsg_campaigns."{name}"').fetchall() for v in row)
        for (state,) in con.execute("select state from bsg_campaigns._dlt_pipeline_state").fetchall():
            places["stored state"] = json.dumps(_decompressed(state))
        messages = con.execute("select count(*) from bsg_campaigns.messages").fetchone()[0]
    finally:
        con.close()
    assert messages > 1000
    hits = found(recipients(sim), places)
    if mode == "raw":
        assert hits.get("table messages", 0) > 1000, hits
    else:
        assert hits == {}


def _decompressed(state: str) -> Any:
    from dlt.common.versioned_state import decompress_state

    try:
        return decompress_state(state)
    except (ValueError, zlib.error):
        return state
