"""The ``velo-tracker`` command: generate and check the bundle, run the demo."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, help). Each module provides configure_<name>(parser)
# and run_<name>(args) -> int; they are imported only when used, so the library
# itself needs none of the bundle's or the demo's dependencies.
_COMMANDS = {
    "generate": ("tracker.bundle.commands", "write the dashboard, alert rules and provisioning files"),
    "check": ("tracker.bundle.commands", "fail if the committed bundle is stale or does not pass its checks"),
    "demo-app": ("tracker.demo.commands", "run the demo service that records errors and serves /metrics"),
    "demo": ("tracker.demo.commands", "run the demo app, Prometheus and Alertmanager natively on loopback"),
}


def _function_name(prefix: str, command: str) -> str:
    return f"{prefix}_{command.replace('-', '_')}"


def _version() -> str:
    from tracker import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="velo-tracker", description=__doc__)
    parser.add_argument("--version", action="version", version=f"velo-tracker {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (module_name, help_text) in _COMMANDS.items():
        sub_parser = sub.add_parser(command, help=help_text, description=help_text)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or str(exc)
            sub_parser.set_defaults(_missing=f"{command} needs the bundle extra (missing: {missing}); "
                                    "install it with: pip install 'velo-tracker[bundle]'")
            continue
        getattr(module, _function_name("configure", command))(sub_parser)
        sub_parser.set_defaults(_run=getattr(module, _function_name("run", command)))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Known options first: a command whose extra is missing has none configured, and must
    # name the extra rather than call its options unrecognised.
    args, unknown = parser.parse_known_args(argv)
    missing = getattr(args, "_missing", None)
    if missing:
        print(f"velo-tracker: {missing}", file=sys.stderr)
        return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
