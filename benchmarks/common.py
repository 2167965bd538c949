"""Shared plumbing: the simulator in its own process, each measured approach in its own process
(peak RSS per approach from `wait4`), and the simulator's admin endpoints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_LINE = re.compile(r"base_url=(\S+) api_key=(\S+)")


class SimProcess:
    """`python -m benchmarks.serve_sim SPEC` in a child process; admin calls over HTTP."""

    def __init__(self, workdir: Path, **spec: Any) -> None:
        self.spec = spec
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen] = None
        self.base_url = ""
        self.api_key = ""

    def __enter__(self) -> "SimProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "simulator.stderr", "ab")
        self.proc = subprocess.Popen([PYTHON, "-m", "benchmarks.serve_sim", json.dumps(self.spec)],
                                     stdout=subprocess.PIPE, stderr=log, cwd=self.workdir, env=child_env(),
                                     text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        match = _LINE.search(line)
        if not match:
            self.__exit__()
            raise RuntimeError(f"simulator did not start: {line!r} (see {self.workdir}/simulator.stderr)")
        self.base_url, self.api_key = match.group(1), match.group(2)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body or {}).encode() if method == "POST" else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> Dict[str, Any]:
        return self._call("GET", "/_sim/stats")

    def reset_stats(self) -> None:
        self._call("POST", "/_sim/reset_stats")

    def advance(self, **duration: float) -> str:
        return self._call("POST", "/_sim/advance", duration)["now"]

    def configure(self, **knobs: Any) -> Dict[str, Any]:
        return self._call("POST", "/_sim/config", knobs)

    def warm_up(self, types: List[str], windows: List[List[str]]) -> int:
        """List every campaign once (pages of 500): the simulator draws and caches each campaign's
        profile on first use, so without this the first approach measured would pay for it."""
        from urllib.parse import urlencode

        login = urllib.request.Request(self.base_url + "/api/auth/login", method="POST",
                                       data=json.dumps({"api_key": self.api_key}).encode(),
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=30) as response:
            token = json.loads(response.read())["bearer"]
        seen = 0
        for campaign_type, (list_from, list_to) in [(t, w) for t in types for w in windows]:
            offset = 0
            while True:
                query = urlencode({"filter[type]": campaign_type, "filter[from]": list_from, "filter[to]": list_to,
                                   "page[limit]": 500, "page[offset]": offset})
                request = urllib.request.Request(f"{self.base_url}/api/campaigns?{query}",
                                                 headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=60) as response:
                    body = json.loads(response.read())
                offset += len(body["data"])
                if not body["data"] or offset >= body["meta"]["page"]["total"]:
                    break
            seen += offset
        self.reset_stats()
        return seen

    def cpu_seconds(self) -> float:
        """CPU time the simulator process has used so far (user + system)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOURCES__", "DESTINATION__", "EXTRACT__", "NORMALIZE__", "LOAD__",
                                "DATA_WRITER__", "RUNTIME__"))}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RUNTIME__LOG_LEVEL"] = "WARNING"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class ChildResult:
    name: str
    ok: bool
    wall_s: float  # the child's own measurement of the measured part
    process_s: float  # the whole child process, imports included
    peak_rss_mb: float
    cpu_s: float
    data: Dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "wall_s": round(self.wall_s, 3),
                "process_s": round(self.process_s, 3), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "cpu_s": round(self.cpu_s, 2), **self.data, **({"error": self.error} if self.error else {})}


def run_child(name: str, module: str, params: Dict[str, Any], workdir: Path, *,
              env: Optional[Dict[str, str]] = None, timeout: float = 900.0,
              wrap: Optional[List[str]] = None) -> ChildResult:
    """Run `python -m module PARAMS_JSON RESULT_PATH` in its own process. The child writes a JSON
    result (with `wall_s`); peak RSS and CPU come from `wait4` on that child alone."""
    result_path = workdir / f"{name}.result.json"
    workdir.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    argv = (wrap or []) + [PYTHON, "-m", module, json.dumps(params), str(result_path)]
    proc = run_process(name, argv, workdir, env=env, timeout=timeout)
    data: Dict[str, Any] = json.loads(result_path.read_text()) if result_path.exists() else {}
    ok = proc.ok and bool(data) and not data.get("error")
    error = "" if ok else (data.get("error") or proc.error)
    wall = float(data.pop("wall_s", proc.wall_s))
    data.pop("error", None)
    return ChildResult(name, ok, wall, proc.process_s, proc.peak_rss_mb, proc.cpu_s, data, error)


def run_process(name: str, argv: List[str], workdir: Path, *, env: Optional[Dict[str, str]] = None,
                timeout: float = 900.0, stdout_name: Optional[str] = None) -> ChildResult:
    """Run any command as its own process, timed from spawn to exit (process start and imports
    included: what a scheduler pays). Output goes to WORKDIR/NAME.log (stdout to `stdout_name`
    if given); peak RSS and CPU from `wait4` on that process alone."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = open(workdir / f"{name}.log", "wb")
    out = open(workdir / stdout_name, "wb") if stdout_name else log
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=log if stdout_name else subprocess.STDOUT, cwd=workdir,
                            env=child_env(env))
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - started
    log.close()
    out.close()
    code = proc.returncode = os.waitstatus_to_exitcode(status)
    error = "" if code == 0 else f"exit {code}: " + (workdir / f"{name}.log").read_text(errors="replace")[-2000:]
    return ChildResult(name, code == 0, elapsed, elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime,
                       {}, error)


def child_main(func: Any) -> None:
    """Entry point of a measured child: `func(params) -> dict with wall_s`, written as JSON."""
    params = json.loads(sys.argv[1])
    result_path = Path(sys.argv[2])
    try:
        result = func(params)
    except BaseException as exc:  # report, do not hide
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
        result_path.write_text(json.dumps(result, default=str))
        sys.exit(1)
    result_path.write_text(json.dumps(result, default=str))


class RssSampler:
    """Samples this process's RSS every `interval` s in a daemon thread: peak RSS by time window
    (e.g. by dlt step, using the trace's timestamps afterwards)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.samples: List[Tuple[float, float]] = []  # (unix time, MB)
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/statm") as handle:
                rss_pages = int(handle.read().split()[1])
            self.samples.append((time.time(), rss_pages * self._page / 1048576))
            self._stop.wait(self.interval)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> Optional[float]:
        values = [mb for t, mb in self.samples if start <= t <= end]
        return round(max(values), 1) if values else None


def self_peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
