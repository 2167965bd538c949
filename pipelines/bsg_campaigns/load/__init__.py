"""dlt's extract, normalize and load steps, settling what a crash left, and publishing the DuckDB file readers see."""
