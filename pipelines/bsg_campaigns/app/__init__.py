"""What users run: the command line, the demo, one run end to end, and the public calls (exclusive_run, build_models_and_checks, run)."""
