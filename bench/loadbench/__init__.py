"""bench/run's modules: see bench/run for what is measured, and report.py for
how a section is added."""
