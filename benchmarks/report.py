"""results dict -> results.json + results.md (the tables BENCHMARKS.md quotes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple


def write_reports(results: Dict[str, Any], out_dir: Path) -> Tuple[Path, Path]:
    json_path = out_dir / "results.json"
    md_path = out_dir / "results.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def _f(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{suffix}"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return f"{value}{suffix}"


def _x(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _verdict(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("**PASS**" if ok else "**FAIL**")


def _table(header: List[str], rows: List[List[Any]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def markdown(r: Dict[str, Any]) -> str:
    meta = r.get("meta", {})
    m = meta.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())
    out = [f"# Benchmark results{' (quick: harness check only, not a measurement)' if meta.get('quick') else ''}", "",
           f"{m.get('cpus')} CPUs, Python {m.get('python')}, {versions}; load average at start "
           f"{m.get('loadavg_at_start')}; simulator latency {meta.get('latency_ms')} ms per request; "
           f"finished {meta.get('finished')} after {meta.get('total_s')} s.", ""]
    out += ["## Targets", ""]
    out += _table(["#", "target", "measured", "needed", "result"], _target_rows(r))
    sections = (("target1", _target1), ("target1_sweep", _sweep), ("target2", _target2), ("target3", _target3),
                ("target4", _target4), ("target5", _target5), ("target6_profile", _target6_profile),
                ("target6", _target6), ("target6_load", _target6_load), ("target6_from_2020", _target6_from_2020))
    for key, render in sections:
        if key in r:
            out += render(r[key])
    return "\n".join(out)


def _target_rows(r: Dict[str, Any]) -> List[List[Any]]:
    rows: List[List[Any]] = []
    t1 = r.get("target1")
    if t1:
        ratios = t1["ratios"]
        a = t1["approaches"]
        n, small_n = a.get("connector_16", {}).get("n", ""), a.get("connector_cli_16_small", {}).get("n", "")
        rows.append(["1", f"full load {n} campaigns, end to end with models, vs hand-written 16-thread requests "
                          "pool (steady state: first request to committed tables)",
                     _x(ratios.get("vs_pool_requests_16")), "≥ 0.90×",
                     _at_least(ratios.get("vs_pool_requests_16"), 0.9)])
        rows.append(["1", f"same, whole process (`bsg-campaigns run` vs the bare script, spawn to exit), {n} campaigns",
                     _x(ratios.get("whole_process_vs_pool_requests_16")), "≥ 0.90×",
                     _at_least(ratios.get("whole_process_vs_pool_requests_16"), 0.9)])
        rows.append(["1", f"same, whole process, {small_n} campaigns",
                     _x(ratios.get("whole_process_vs_pool_requests_16_small")), "≥ 0.90×",
                     _at_least(ratios.get("whole_process_vs_pool_requests_16_small"), 0.9)])
        rows.append(["1", "steady state vs dlt `rest_api_source` parallelized, 16 workers",
                     _x(ratios.get("vs_rest_api_parallel_16")), "≥ 2.50×",
                     _at_least(ratios.get("vs_rest_api_parallel_16"), 2.5)])
        rows.append(["1", f"steady state, share of the connector's network floor at 16 in flight "
                          f"({t1['network_floor']['list_pages']} list calls at pages of {t1.get('page_size')})",
                     _x(ratios.get("vs_network_floor")), "≥ 0.75×", _verdict(t1.get("pass_floor_75"))])
    sw = r.get("target1_sweep")
    if sw:
        cap = sw["rate_cap"]
        best = min((v.get("vs_ideal") or 99 for k, v in cap["runs"].items() if k.startswith("server_cap_c")),
                   default=None)
        client = cap["runs"].get("server_and_client_cap_c16", {})
        rows.append(["1", f"API cap R = {cap['rate']:.0f} requests/s (server only, connector defaults): run time "
                          "/ (requests / R), best concurrency", _x(best), "≤ 1.10×",
                     _verdict(sw.get("cap_within_10pct_server_only"))])
        rows.append(["1", "same, with `max_requests_per_second = R` set in the connector",
                     _x(client.get("vs_ideal")), "≤ 1.10×", _verdict(sw.get("cap_within_10pct_client_cap"))])
    t2 = r.get("target2")
    if t2:
        rows.append(["2", f"load path {t2['connector'].get('campaigns', '')} parsed campaigns → committed DuckDB "
                          "tables, vs raw `duckdb` insert of the arrow tables", _x(t2.get("ratio_vs_floor")),
                     "≤ 3.00×", _verdict(t2.get("pass"))])
    t3 = r.get("target3")
    if t3:
        peaks = t3["peak_rss_mb"]
        rows.append(["3", "peak RSS of a full load, by N (" + " / ".join(peaks) + ")",
                     " / ".join(f"{v:.0f} MB" for v in peaks.values()),
                     "≤ 400 MB, flat", _verdict(t3.get("pass"))])
    t4 = r.get("target4")
    if t4:
        rows.append(["4", f"incremental run: requests counted by the simulator ({t4['open_before_measured_run']} open, "
                          f"{sum(t4['new_campaigns'].values())} new)",
                     f"{t4['requests']} (list {t4['list_requests']}, detail {t4['detail_requests']}, "
                     f"login {t4['logins']})", f"≤ {t4['requests_allowed']}",
                     _verdict(t4.get("requests_pass"))])
        rows.append(["4", "incremental run time / full load time", _pct(t4.get("time_ratio")), "< 5%",
                     _verdict(bool(t4.get("time_ratio") is not None and t4["time_ratio"] < 0.05))])
    t5 = r.get("target5")
    if t5:
        rows.append(["5", f"build all models + run all checks on {t5.get('campaigns', 0):,} campaigns",
                     _f(t5.get("wall_s"), 2, " s"), "< 10 s", _verdict(t5.get("pass"))])
    rows += _target6_rows(r)
    return rows


def _target6_rows(r: Dict[str, Any]) -> List[List[Any]]:
    rows: List[List[Any]] = []
    t6 = r.get("target6")
    if t6:
        plan = t6["plan"]
        rows.append(["6", f"messages end to end, {plan.get('messages', 0):,} messages ({plan['campaigns']} campaigns), "
                          "whole process: `bsg-campaigns run` (messages on, phones hashed) vs the bare 16-thread "
                          "script (phones hashed); time ratio script / connector",
                     _x(t6.get("ratio_whole_process_vs_pool")), "≥ 0.90×", _verdict(t6.get("pass_throughput"))])
        peaks = t6.get("peak_rss_mb") or {}
        rows.append(["6", "peak RSS of the connector process by messages (" + " / ".join(f"{int(k):,}" for k in peaks)
                     + ")", " / ".join(_f(v, 0, " MB") for v in peaks.values()), "≤ 500 MB, flat (≤ 1.25×)",
                     _verdict(t6.get("pass_memory"))])
    t6l = r.get("target6_load")
    if t6l:
        rows.append(["6", f"messages load path, {t6l.get('rows', 0):,} parsed messages → committed tables, vs raw "
                          "`duckdb` insert of the arrow tables", _x(t6l.get("ratio_vs_floor")), "≤ 3.00×",
                     _verdict(t6l.get("pass"))])
    t6c = r.get("target6_from_2020")
    if t6c:
        n = t6c["approaches"].get("connector_cli_16", {}).get("n", "")
        rows.append(["6", f"campaigns: first run of {n} campaigns listed from {t6c.get('list_start')} "
                          f"({t6c.get('list_calls')} list calls), whole process, time ratio script / "
                          "`bsg-campaigns run`", _x(t6c.get("ratio_whole_process")), "≥ 0.90×",
                     _verdict(t6c.get("pass"))])
    return rows


def _at_least(value: Optional[float], needed: float) -> str:
    return _verdict(bool(value and value >= needed))


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


_LABELS = {
    "seq_requests": "plain sequential `requests` loop + pandas → DuckDB",
    "rest_api_defaults": "dlt `rest_api_source`, list → detail, defaults",
    "rest_api_parallel_16": "same, detail resource `parallelized`, 16 extract workers",
    "pool_requests_16": "hand-written 16-thread `requests` pool + pandas → DuckDB (extract + dump 2 tables)",
    "connector_16": "**bsg-campaigns**, concurrency 16, end to end (extract, normalize, load, models, checks)",
    "connector_cli_16": "**`bsg-campaigns run`** CLI process, concurrency 16 (the same, plus its own start-up)",
    "pool_requests_16_small": "hand-written 16-thread `requests` pool (as above)",
    "connector_cli_16_small": "**`bsg-campaigns run`** CLI process, concurrency 16",
}
_STEADY = ("seq_requests", "rest_api_defaults", "rest_api_parallel_16", "pool_requests_16", "connector_16")


def _target1(t1: Dict[str, Any]) -> List[str]:
    a = t1["approaches"]
    c = a.get("connector_16", {}).get("campaigns_per_s")
    rows = []
    for key in _STEADY:
        v = a.get(key)
        if not v:
            continue
        rows.append([_LABELS[key], _f(v.get("n")), _f(v.get("campaigns_per_s")),
                     _x(_safe_div(c, v.get("campaigns_per_s"))) if key != "connector_16" else "1.00×",
                     _f(v.get("wall_s"), 2), _f(v.get("process_s"), 2), _f(v.get("peak_rss_mb"), 0),
                     _requests(v), _f(v.get("cpu_s"), 1), "" if v.get("ok") else "FAILED"])
    fl = t1["network_floor"]
    rows.append([f"the connector's network floor at 16 in flight (1 login + {fl['list_pages']} list calls × 20 ms "
                 "+ N × 20 ms / 16)", _f(fl["n"]), _f(fl["campaigns_per_s"]), _x(_safe_div(c, fl["campaigns_per_s"])),
                 _f(fl["wall_s"], 2), "—", "—", "—", "—", ""])
    out = ["## Target 1 — throughput, side by side", "",
           f"Every approach lists the same creation-date windows ({t1.get('list_plan', {}).get('windows')}) with "
           f"pages of {t1.get('page_size')}; the catalogue needs {t1.get('list_plan', {}).get('list_calls')} list "
           "calls for them. *Steady state*: timed inside the process from the first request to committed tables "
           "(imports and process start excluded); *whole process*: spawn to exit.", ""]
    out += _table(["approach", "N", "campaigns/s (steady)", "connector ×", "steady s", "whole process s",
                   "peak RSS MB", "list / detail requests", "client CPU s", ""], rows)
    phases = a.get("connector_16", {}).get("phases") or {}
    if phases:
        out += ["Connector phases: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in phases.items()
                                                  if isinstance(v, (int, float))), ""]
    rows = []
    for script, cli in (("pool_requests_16", "connector_cli_16"), ("pool_requests_16_small", "connector_cli_16_small")):
        s, k = a.get(script), a.get(cli)
        if not s or not k:
            continue
        for key, v in ((script, s), (cli, k)):
            rows.append([_LABELS[key], _f(v.get("n")), _f(v.get("process_s"), 2), _f(v.get("process_campaigns_per_s")),
                         _x(_safe_div(k.get("process_campaigns_per_s"), v.get("process_campaigns_per_s"))),
                         _f(v.get("peak_rss_mb"), 0), _requests(v), _f(v.get("cpu_s"), 1),
                         "" if v.get("ok") else "FAILED"])
    out += ["### Whole process: what a scheduled run pays", "",
            "Each a fresh process from spawn to exit, same simulator, page size, windows and latency. The bare "
            "script imports requests (pandas and duckdb at the end) and dumps two tables; `bsg-campaigns run` "
            "imports dlt, keeps state, merges four tables, builds the views and runs every check.", ""]
    out += _table(["approach", "N", "whole process s", "campaigns/s", "CLI ×", "peak RSS MB",
                   "list / detail requests", "CPU s", ""], rows)
    return out


def _requests(v: Dict[str, Any]) -> str:
    sr = v.get("server_requests", {})
    return f"{sr.get('list', '—')} / {sr.get('detail', '—')}"


def _safe_div(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if not a or not b:
        return None
    return a / b


def _sweep(sw: Dict[str, Any]) -> List[str]:
    rows = []
    for c, v in sw["sweep"].items():
        fl = v.get("floor_campaigns_per_s")
        rows.append([c, _f(v.get("campaigns_per_s")), _f(fl), _pct(_safe_div(v.get("campaigns_per_s"), fl)),
                     _f(v.get("wall_s"), 2), _f(v.get("peak_rss_mb"), 0), _f(v.get("http", {}).get("retries", 0)),
                     "" if v.get("ok") else "FAILED"])
    out = ["### Concurrency sweep (no rate cap)", ""]
    out += _table(["concurrency", "campaigns/s", "floor at that concurrency", "% of floor", "wall s",
                   "peak RSS MB", "retries", ""], rows)
    cap = sw["rate_cap"]
    rows = []
    for key, v in cap["runs"].items():
        sr = v.get("server_requests", {})
        extract = (v.get("phases") or {}).get("extract_s")
        rows.append([key, _f(v.get("campaigns_per_s")), _f(v.get("wall_s"), 2), _f(v.get("accepted_requests")),
                     _f(v.get("requests_needed")), _f(v.get("ideal_s"), 2), _x(v.get("vs_ideal")), _f(extract, 2),
                     _x(_safe_div(extract, v.get("ideal_s"))), _f(sr.get("status", {}).get("429", 0)),
                     _f(v.get("http", {}).get("retries", 0)), "" if v.get("ok") else "FAILED"])
    out += [f"### API rate cap: simulator `rate_limit` = {cap['rate']:.0f} requests/s", ""]
    out += _table(["run", "campaigns/s", "wall s", "requests served (429s excluded)", "requests needed (catalogue)",
                   "ideal = needed / R (s)", "wall / ideal",
                   "extract s", "extract / ideal", "429s", "client retries", ""], rows)
    return out


def _target2(t2: Dict[str, Any]) -> List[str]:
    c, f = t2["connector"], t2["floor"]
    rows = [["raw `duckdb`: CREATE TABLE AS SELECT from the 3 arrow tables (the floor)", _f(f.get("wall_s"), 2),
             _f(f.get("peak_rss_mb"), 0)],
            ["bsg-campaigns path: DetailBatches → connector transformers → dlt extract/normalize/load",
             _f(c.get("wall_s"), 2), _f(c.get("peak_rss_mb"), 0)]]
    out = ["## Target 2 — load path", "",
           f"{c.get('campaigns', 0):,} parsed campaigns; rows: {c.get('rows')}; arrow tables built from the "
           f"records in one go: {f.get('arrow_from_records_s')} s.", ""]
    return out + _table(["path", "seconds", "peak RSS MB"], rows) + _load_breakdown(c, t2)


def _load_breakdown(c: Dict[str, Any], pair: Dict[str, Any]) -> List[str]:
    out: List[str] = []
    if pair.get("pairs"):
        out += ["Each side's median run is shown; every pair (floor s / connector s = ratio): " + ", ".join(
            f"{p['floor_s']} / {p['connector_s']} = {_x(p['ratio'])}" for p in pair["pairs"]), ""]
    bd = c.get("breakdown_s") or {}
    if bd:
        out += ["Where the connector path's time goes: " + ", ".join(f"{k} {v} s" for k, v in bd.items()), ""]
    jobs = c.get("load_jobs") or {}
    if jobs:
        out += ["Load jobs: " + ", ".join(f"{k} {v} s" for k, v in jobs.items()), ""]
    return out


def _target3(t3: Dict[str, Any]) -> List[str]:
    rows = []
    for n, v in t3["runs"].items():
        ph = v.get("rss_peak_by_phase_mb") or {}
        rows.append([_f(int(n)), _f(v.get("peak_rss_mb"), 0)] + [_f(ph.get(k), 0) for k in
                                                                  ("before_run", "extract", "normalize", "load",
                                                                   "models_and_checks")]
                    + [_f(v.get("wall_s"), 1), _f(v.get("campaigns_per_s")),
                       _f((v.get("rows") or {}).get("campaign_statistics")), "" if v.get("ok") else "FAILED"])
    out = ["## Target 3 — memory (full load, whole connector process)", ""]
    out += _table(["campaigns", "peak RSS MB", "RSS at start", "peak in extract", "in normalize", "in load",
                   "in models+checks", "wall s", "campaigns/s", "statistics rows", ""], rows)
    out += [f"Growth from the smallest to the largest N: {_x(t3.get('growth_largest_vs_smallest'))}.", ""]
    return out


def _target4(t4: Dict[str, Any]) -> List[str]:
    full, settle, inc = t4["full_load"], t4.get("settle_run", {}), t4["incremental"]
    new = sum(t4["new_campaigns"].values())
    out = ["## Target 4 — incremental cost", "",
           f"Run 1, the full load: {full.get('campaigns')} campaigns in {_f(full.get('wall_s'), 2)} s "
           f"({full.get('server_requests', {}).get('total')} requests). "
           f"Run 2, after the simulated clock moved on: {settle.get('campaigns')} fetched "
           f"({settle.get('new')} new, {settle.get('refreshed')} refreshed). Run 3, measured, later again.", "",
           f"The allowance comes from the catalogue: after runs 1 and 2 the documented rule (final, and "
           f"finished a whole refresh window ago) keeps {t4['open_before_measured_run']} campaigns open (the "
           f"connector reported {t4.get('connector_reported_open')}; not used), {new} were created since "
           f"({t4['new_campaigns']}), and the new window needs {t4['list_pages_needed']} list calls.", "",
           f"Run 3: {_f(inc.get('wall_s'), 2)} s ({_pct(t4.get('time_ratio'))} of the full load); "
           f"requests {t4['requests']} = list {t4['list_requests']} + detail {t4['detail_requests']} + login "
           f"{t4['logins']} (allowed {t4['requests_allowed']} = {t4['list_pages_needed']} list calls + "
           f"{t4['open_before_measured_run']} open + {new} new + 1 login); "
           f"fetched {inc.get('campaigns')} ({inc.get('new')} new, {inc.get('refreshed')} refreshed); phases "
           + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in (inc.get("phases") or {}).items()
                       if isinstance(v, (int, float))) + ".", ""]
    return out


def _target5(t5: Dict[str, Any]) -> List[str]:
    out = ["## Target 5 — SQL models", "",
           f"{t5.get('rows')} rows (synthetic, inserted directly in {t5.get('synthesize_s')} s). "
           f"`runner.build_and_check` (rebuild {len(t5.get('models') or [])} views + run every check): "
           f"**{_f(t5.get('wall_s'), 2)} s**; checks: {t5.get('checks')}.", ""]
    if t5.get("sql_execution_s") is not None:
        out += [f"Of that, {t5['sql_execution_s']} s executing {t5.get('sql_statements')} SQL statements in DuckDB "
                f"and {t5.get('python_side_s')} s on the Python side (reading, qualifying, transpiling the .sql "
                "files). Slowest statements:", ""]
        out += _table(["seconds", "statement"], [[s["s"], f"`{s['sql'][:120]}…`"]
                                                  for s in (t5.get("slowest_statements") or [])[:5]])
    scans = t5.get("model_full_scans_s") or {}
    if scans:
        out += ["Reading every model view in full once (what a dashboard pays; views are lazy): "
                + ", ".join(f"{k} {v} s" for k, v in scans.items())
                + f"; total {t5.get('model_full_scans_total_s')} s.", ""]
    if t5.get("next_run_s") is not None:
        small = t5.get("small_fixed_cost") or {}
        out += [f"Next run on the same data (compiled SQL cached, views unchanged): {t5['next_run_s']} s, "
                f"{t5.get('next_run_sql_statements')} statements. Fixed cost on {small.get('campaigns')} campaigns: "
                f"first call {small.get('first_call_s')} s, later calls {small.get('later_calls_median_s')} s.", ""]
    return out


_MESSAGE_LABELS = {
    "messages_pool_16": "hand-written 16-thread `requests` pool + pandas → DuckDB, phones HMAC-hashed",
    "messages_cli_16": "**`bsg-campaigns run`**, messages on (recipient_mode hash), concurrency 16",
    "messages_pool_16_nohash": "the same script, phones stored as they come (no hashing)",
}


def _message_row(label: str, v: Dict[str, Any]) -> List[Any]:
    sr = v.get("server_requests") or {}
    return [label, _f(v.get("messages")), _f(v.get("process_s"), 2), _f(v.get("process_messages_per_s"), 0),
            _f(v.get("peak_rss_mb"), 0), _f(v.get("cpu_s"), 1), _f(v.get("simulator_cpu_s"), 1),
            f"{sr.get('messages', '—')} / {v.get('message_pages_needed', '—')}",
            "" if v.get("ok") else "FAILED"]


_MESSAGE_HEADER = ["approach", "messages", "whole process s", "messages/s", "peak RSS MB", "CPU s",
                   "simulator CPU s", "message pages served / needed", ""]


def _target6(t6: Dict[str, Any]) -> List[str]:
    plan = t6["plan"]
    out = ["## Target 6 — messages (issue 12)", "",
           f"{plan['campaigns']} campaigns of {t6.get('campaign_size', 0):,} own messages each (plus the fallback "
           f"SMS of rcs campaigns): {plan.get('messages', 0):,} messages, {plan.get('message_pages')} pages of 500 "
           "(from the catalogue), 20 ms per request, 16 in flight, each approach a fresh process timed from spawn "
           "to exit.", ""]
    out += _table(_MESSAGE_HEADER, [_message_row(_MESSAGE_LABELS.get(k, k), v) for k, v in t6["approaches"].items()])
    out += [f"Script / connector time: {_x(t6.get('ratio_whole_process_vs_pool'))} against the hashing script, "
            f"{_x(t6.get('ratio_whole_process_vs_pool_nohash'))} against the one that stores phones as they come.", ""]
    rows = []
    for n, v in t6["memory"].items():
        rows.append([_f(int(n)), _f(v.get("peak_rss_mb"), 0), _f(v.get("process_s"), 1),
                     _f(v.get("process_messages_per_s"), 0), _f(v.get("cpu_s"), 1),
                     _f((v.get("table_rows") or {}).get("messages")), "" if v.get("ok") else "FAILED"])
    out += ["### Peak RSS of `bsg-campaigns run` by size", ""]
    out += _table(["messages", "peak RSS MB", "whole process s", "messages/s", "CPU s", "messages rows", ""], rows)
    out += [f"Growth from the smallest to the largest: {_x(t6.get('rss_growth_largest_vs_smallest'))}.", ""]
    return out


def _target6_profile(t6p: Dict[str, Any]) -> List[str]:
    run = t6p["run"]
    out = ["## Target 6 — where a message run's time goes", "",
           f"`runner.run` (models included) on {t6p['plan']['campaigns']} campaigns, {_f(run.get('messages'))} "
           f"messages: {_f(run.get('wall_s'), 2)} s ({_f(run.get('process_s'), 2)} s whole process), client CPU "
           f"{run.get('cpu_s')} s, simulator CPU {run.get('simulator_cpu_s')} s; phases "
           + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in (run.get("phases") or {}).items()
                       if isinstance(v, (int, float))) + ".", ""]
    for title, key in (("All threads", "all"), ("Message workers (fetch + parse)", "message_workers"),
                       ("Main thread (batches, arrow, dlt extract / normalize / load, models)", "main")):
        summary = (t6p.get("stacks") or {}).get(key)
        if not summary:
            continue
        out += [f"### {title}: {summary['samples']} samples (every 10 ms)", ""]
        if key == "all":
            out += _table(["thread", "samples", "%"], [list(t) for t in summary["threads"]])
        out += _table(["self (leaf frame)", "samples", "%"], [list(t) for t in summary["self"][:12]])
    return out


def _target6_load(t6l: Dict[str, Any]) -> List[str]:
    c, f = t6l["messages_connector"], t6l["messages_floor"]
    out = ["## Target 6 — messages load path", "",
           f"{t6l.get('rows', 0):,} parsed message records (hash policy); rows: {c.get('rows')}; arrow tables built "
           f"from the records in one go: {f.get('arrow_from_records_s')} s.", ""]
    out += _table(["path", "seconds", "peak RSS MB"], [
        ["raw `duckdb`: CREATE TABLE AS SELECT from the 2 arrow tables (the floor)", _f(f.get("wall_s"), 2),
         _f(f.get("peak_rss_mb"), 0)],
        ["bsg-campaigns path: MessageBatches → connector transformers → dlt extract/normalize/load",
         _f(c.get("wall_s"), 2), _f(c.get("peak_rss_mb"), 0)]])
    return out + _load_breakdown(c, t6l)


def _target6_from_2020(t6c: Dict[str, Any]) -> List[str]:
    out = ["## Target 6 — campaigns, first run listed from 2020", "",
           f"Both list the same {t6c.get('list_calls')} windows × types from {t6c.get('list_start')} (most empty), "
           "then read every detail; whole process.", ""]
    rows = []
    for k, v in t6c["approaches"].items():
        sr = v.get("server_requests") or {}
        rows.append([_LABELS.get(k, k), _f(v.get("n")), _f(v.get("process_s"), 2), _f(v.get("peak_rss_mb"), 0),
                     _f(v.get("cpu_s"), 1), f"{sr.get('list', '—')} / {sr.get('detail', '—')}",
                     "" if v.get("ok") else "FAILED"])
    out += _table(["approach", "campaigns", "whole process s", "peak RSS MB", "CPU s", "list / detail requests", ""],
                  rows)
    return out
