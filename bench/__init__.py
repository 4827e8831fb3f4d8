"""TicketQ benchmarks: each module runs with ``python -m bench.<name>`` and writes
``bench/results/<name>.json``. See docs/benchmarks.md."""
