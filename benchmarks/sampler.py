"""A wall-clock stack sampler for every thread of this process, writing py-spy's raw format
(`thread (name);func (file:line);...;leaf COUNT`), which `python -m benchmarks.stacks` summarises.

py-spy is not installed here; cProfile sees the main thread only, while the message pages are
fetched and parsed in the client's worker threads. Every `interval` s the sampler takes
`sys._current_frames()`: a thread blocked in a socket read shows as that read (network wait), one
waiting for the GIL at the line it will run next. It needs the GIL itself, so it samples a
CPU-bound thread less often than py-spy would; shares between threads are indicative."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Optional


class StackSampler:
    def __init__(self, path: Path, interval: float = 0.01) -> None:
        self.path = path
        self.interval = interval
        self.counts: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                self.counts[_stack(names.get(ident, str(ident)), frame)] += 1

    def __enter__(self) -> "StackSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as handle:
            for stack, n in self.counts.most_common():
                handle.write(f"{stack} {n}\n")


def _stack(thread_name: str, frame: Optional[Any]) -> str:
    frames = []
    while frame is not None:
        code = frame.f_code
        frames.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
        frame = frame.f_back
    # pool workers are numbered (bsg-messages_3): one name per pool
    base = thread_name.rsplit("_", 1)[0] if thread_name.rsplit("_", 1)[-1].isdigit() else thread_name
    return ";".join([f"thread ({base})"] + frames[::-1])
