"""Incremental bookkeeping, pure: cursors, campaigns still moving, when a campaign is settled; the typed shape of dlt's source state."""
