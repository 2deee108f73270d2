"""The demo: a simulated trading stream processor using the library, and a native stack runner.

- :mod:`tracker.demo.scenario` — the simulated workload (SQL queries, failures, error storms).
- :mod:`tracker.demo.app` — the demo service (``velo-tracker demo-app``), a WSGI app.
- :mod:`tracker.demo.runner` — ``velo-tracker demo``: the app, Prometheus and Alertmanager as
  local processes, configured by the same functions that wrote the compose stack's files.
"""
