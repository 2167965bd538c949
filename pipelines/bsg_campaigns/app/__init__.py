"""What users run: the command line, the demo, the run's report, and the public calls (exclusive_run, build_models_and_checks)."""
