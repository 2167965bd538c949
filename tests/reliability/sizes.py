"""Full vs reduced sizes in one place (`BSG_RELIABILITY_FULL=1` selects full size)."""

from __future__ import annotations

import os

FULL = os.environ.get("BSG_RELIABILITY_FULL", "").strip().lower() in ("1", "true", "yes", "on")


def size(reduced: int, full: int) -> int:
    return full if FULL else reduced


MIXED_FAULT_CAMPAIGNS = size(600, 2000)   # the 10 % mixed-fault load
PER_KIND_CAMPAIGNS = size(40, 200)        # one fault kind at a time
CRASH_TRIALS = size(3, 12)                # SIGKILL trials (cycling extract / normalize / load)
CRASH_CAMPAIGNS = size(150, 400)
HYPOTHESIS_EXAMPLES = size(150, 1500)
# The tables whose load job is killed right after it committed (every one in a full run).
COMMIT_KILL_TABLES = (["campaigns", "campaign_statistics", "campaign_statistics_history", "rejected_records"] if FULL
                      else ["campaign_statistics", "campaign_statistics_history"])
# The message path (test_message_faults.py): SIGKILL trials while one sending campaign's messages
# are read (alternating a first and a later run), its size there, and its size under faults.
MESSAGE_CRASH_TRIALS = size(2, 6)
MESSAGE_CRASH_MESSAGES = size(5_000, 20_000)
MESSAGE_FAULT_MESSAGES = size(2_000, 20_000)
MESSAGE_COMMIT_KILL_TABLES = (["messages", "message_fallbacks", "message_reads"] if FULL else ["messages"])
