"""An offline, deterministic BSG One-API simulator for demos, integration tests and benchmarks.

    from bsg_campaigns.simulator import Simulator, SimulatorConfig
    with Simulator(SimulatorConfig(seed=42, campaigns=300)).start() as sim:
        sim.base_url, sim.api_key          # talk real HTTP to it
        sim.advance(hours=6)               # the simulated clock moves only when told
        sim.configure(fault_rate=0.1)      # runtime knobs, thread-safe
        sim.expected_messages(campaign_id) # what GET /api/messages serves for a campaign now

Pure stdlib. The campaign catalogue is a pure function of the seed; every campaign's detail is
a pure function of (campaign, simulated now). GET /api/messages serves each campaign's messages
(page[offset], page[limit] 15..500, sort id|phone|delivered, way, filter[id|campaign_id|
reference_id|from|to]), derived lazily from the same profile: grouped by status they are the
detail's statistics at every moment, statuses only move forward, and an RCS message re-sent as
SMS links its fallback message (messages.py says how; phone and delivered sorts need
filter[campaign_id]). SimulatorConfig(message_counts={campaign_id: 2_000_000}) sizes chosen
campaigns for scale tests. Modules: config (settings and knobs), campaign
(one campaign's evolution), catalogue (the index), render (bodies and variants), listing (the
list endpoint), messages (the messages endpoint), auth (JWT), traffic (stats, rate limit, faults), api (routing), server (HTTP),
core (the Simulator object).
"""

from .config import KNOB_NAMES, VARIANT_OPTIONS, SimulatorConfig
from .core import Simulator

__all__ = ["Simulator", "SimulatorConfig", "KNOB_NAMES", "VARIANT_OPTIONS"]
