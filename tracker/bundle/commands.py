"""``velo-tracker generate`` and ``velo-tracker check`` (dispatched by :mod:`tracker.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The bundle's own dependencies (grafanalib, PyYAML) are imported here, so that tracker.cli
# reports them as missing extras; the checks' (jsonschema, promql-parser) load when used.
from .config import BundleConfig, ConfigError, load_config
from .generate import write_bundle

#: Where ``check`` looks for Grafana's schemas by default: ``../shared`` beside the project.
DEFAULT_SCHEMA_DIR = Path("..") / "shared" / "grafana-schemas"


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="bundle configuration (YAML, like bundle.example.yml); default: built-in values")
    parser.add_argument("--namespace", metavar="NS",
                        help="metric namespace, overriding the config (e.g. myapp)")
    parser.add_argument("--job", metavar="JOB",
                        help="Prometheus job label of the service, overriding the config")


def _config(args: argparse.Namespace) -> BundleConfig:
    return load_config(args.config).with_overrides(namespace=args.namespace, job=args.job)


def configure_generate(parser: argparse.ArgumentParser) -> None:
    _add_config_options(parser)
    parser.add_argument("--out", metavar="DIR", default=".",
                        help="bundle root to write dashboards/, alerts/ and provisioning/ under (default: .)")


def run_generate(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except (ConfigError, ValueError) as exc:
        print(f"velo-tracker generate: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    written = write_bundle(config, out)
    for path in written:
        print(f"wrote {path.relative_to(out).as_posix()}")
    print(f"generated {len(written)} files for namespace {config.namespace!r}, "
          f"job {config.job!r} under {out}")
    return 0


def configure_check(parser: argparse.ArgumentParser) -> None:
    _add_config_options(parser)
    parser.add_argument("--dir", metavar="DIR", default=".",
                        help="bundle root holding the committed files (default: .)")
    parser.add_argument("--schemas", metavar="DIR",
                        help="folder of Grafana's JSON Schemas (default: ../shared/grafana-schemas "
                             "relative to --dir)")


def run_check(args: argparse.Namespace) -> int:
    from .checks import run_checks

    try:
        config = _config(args)
    except (ConfigError, ValueError) as exc:
        print(f"velo-tracker check: {exc}", file=sys.stderr)
        return 2
    root = Path(args.dir)
    schema_dir = Path(args.schemas) if args.schemas else root.resolve() / DEFAULT_SCHEMA_DIR
    run = run_checks(config, root, schema_dir)
    return 0 if run.passed else 1
