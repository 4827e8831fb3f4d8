"""Reliability suite. Full-size trials are marked ``slow`` and run only with ``-m slow``
(see ``tests/conftest.py``)."""
