"""``velo-tracker demo-app`` and ``velo-tracker demo``: their options and entry points.

Imported by the CLI for every command, so nothing heavy is imported here: the app and the
runner (which needs the bundle's dependencies) are imported when their command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tracker.config import DEFAULT_BUFFER_CAPACITY
from tracker.names import DEFAULT_NAMESPACE

_DASHBOARD_FILE = Path("dashboards") / "velostream-error-tracking.json"


def _error_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (got {text})")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


def _workload_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--error-rate", type=_error_rate, default=0.1, metavar="FRACTION",
                        help="fraction of simulated SQL queries that fail (default: 0.1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the simulated workload, for a reproducible run (default: random)")


def configure_demo_app(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8000", metavar="HOST:PORT",
                        help="address to serve on (default: 127.0.0.1:8000; port 0 picks a free one)")
    _workload_options(parser)
    parser.add_argument("--queries-per-second", type=float, default=5.0, metavar="N",
                        help="simulated SQL queries per second (default: 5)")
    parser.add_argument("--storm-size", type=int, default=1000, metavar="N",
                        help="errors one storm records (default: 1000)")
    parser.add_argument("--paused", action="store_true",
                        help="start with the workload paused (POST /resume starts it)")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                        help=f"metric-name prefix (default: {DEFAULT_NAMESPACE})")
    parser.add_argument("--buffer-capacity", type=int, default=DEFAULT_BUFFER_CAPACITY, metavar="N",
                        help=f"distinct recent errors the buffer holds (default: {DEFAULT_BUFFER_CAPACITY})")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="on a loopback address, also answer this Host name (repeatable; loopback "
                             "names always work; on other addresses Host is not checked)")


def run_demo_app(args: argparse.Namespace) -> int:
    from .app import DemoSettings, parse_listen, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        host, port = parse_listen(args.listen)
        settings = DemoSettings(
            seed=args.seed,
            error_rate=args.error_rate,
            queries_per_second=args.queries_per_second,
            storm_size=args.storm_size,
            paused=args.paused,
            namespace=args.namespace,
            buffer_capacity=args.buffer_capacity,
        )
        return serve(settings, host, port, allowed_hosts=args.allow_host)
    except ValueError as exc:
        print(f"velo-tracker demo-app: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"velo-tracker demo-app: cannot listen on {args.listen}: {reason}", file=sys.stderr)
        return 1


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="bundle configuration (YAML, as for `velo-tracker generate`; default: built-in)")
    parser.add_argument("--app-port", type=_port, default=8000, metavar="PORT",
                        help="demo app port (default: 8000)")
    parser.add_argument("--prometheus-port", type=_port, default=9090, metavar="PORT",
                        help="Prometheus port (default: 9090)")
    parser.add_argument("--alertmanager-port", type=_port, default=9093, metavar="PORT",
                        help="Alertmanager port (default: 9093)")
    parser.add_argument("--free-ports", action="store_true",
                        help="pick free loopback ports instead of the defaults (the URLs are printed)")
    parser.add_argument("--alert-for", metavar="DURATION", default=None,
                        help="hold every alert this long before it fires, e.g. 15s (default: the config's)")
    parser.add_argument("--workdir", metavar="DIR", type=Path, default=None,
                        help="keep configurations, data and logs here (default: a temporary folder, removed)")
    _workload_options(parser)


def run_demo(args: argparse.Namespace) -> int:
    try:
        from tracker.bundle.config import ConfigError, load_config

        from .runner import Ports, RunOptions, run
    except ImportError as exc:
        print(f"velo-tracker demo needs the bundle's packages ({exc}); install them with: "
              "pip install 'velo-tracker[bundle]'", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        if args.alert_for:
            config = config.with_alert_for(args.alert_for)
    except ConfigError as exc:
        print(f"velo-tracker demo: {exc}", file=sys.stderr)
        return 2
    app_options = ["--error-rate", str(args.error_rate)]
    if args.seed is not None:
        app_options += ["--seed", str(args.seed)]
    ports = None if args.free_ports else Ports(args.app_port, args.prometheus_port, args.alertmanager_port)
    dashboard = _DASHBOARD_FILE if _DASHBOARD_FILE.is_file() else None
    return run(RunOptions(config, ports, app_options, args.workdir, dashboard))
