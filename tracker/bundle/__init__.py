"""The observability bundle, generated from one :class:`~tracker.bundle.config.BundleConfig`.

One module per artifact, all reading metric names from :mod:`tracker.names`:

- :mod:`.config` — the configuration (a frozen dataclass, loadable from YAML);
- :mod:`.dashboard` — the Grafana dashboard, built with grafanalib, then brought to the
  current Grafana JSON model by :mod:`.grafana_model` (the one place that post-processes
  grafanalib's output);
- :mod:`.rules` and :mod:`.rule_tests` — Prometheus recording and alerting rules, and their
  ``promtool test rules`` unit tests;
- :mod:`.k8s` — the same rules and dashboard as a ``PrometheusRule`` and a Grafana-sidecar ``ConfigMap``;
- :mod:`.provisioning` — the demo stack's Grafana, Prometheus and Alertmanager configuration
  (``--demo`` only), every address derived from one :class:`~tracker.bundle.provisioning.StackAddresses`;
- :mod:`.lint` and :mod:`.schema` — the dashboard lint and the JSON Schema validation;
- :mod:`.generate` — the list of generated files, their markers, writing them safely, and the drift check;
- :mod:`.checks` and :mod:`.commands` — ``velo-tracker check`` and ``velo-tracker generate``.
"""

from .config import BundleConfig, ConfigError, load_config

__all__ = ["BundleConfig", "ConfigError", "load_config"]
