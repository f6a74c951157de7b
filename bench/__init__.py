"""overlayscope's benchmark: us beside `du`, `gdu` and `docker`, on synthetic and real roots.

Run `python -m bench --help` (or `bench/run.py`); docs/performance.md explains what is
measured and holds the numbers. Not part of the installed package: nothing here is imported
by `overlayscope`, and pytest never collects it (speed is measured here, not in tests).
"""
