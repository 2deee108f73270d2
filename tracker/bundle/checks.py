"""``velo-tracker check``: drift, schema validation, dashboard lint, promtool and amtool.

The bundle is regenerated into a temporary folder; the committed files must equal it, and
every other check runs on that fresh copy. A check whose tool or data is missing is
skipped with the reason printed, except under ``CI=true``, where a skip is a failure
(CI installs everything, as ``tests/support.py`` expects too).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import BundleConfig
from .generate import RULE_TESTS_PATH, RULES_PATH, find_drift, write_bundle
from .output import GENERATE_COMMAND, MAKE_TARGET
from .provisioning import ALERTMANAGER_FILE, PROMETHEUS_FILE

#: Debian packages that provide each external tool.
TOOL_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}
_TOOL_TIMEOUT_SECONDS = 300


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@dataclass
class CheckRun:
    """Outcome of every check, printed as it goes."""

    emit: Callable[[str], None] = print
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def ok(self, name: str, detail: str = "") -> None:
        self.emit(f"ok    {name}" + (f": {detail}" if detail else ""))

    def fail(self, name: str, details: list[str] | str) -> None:
        self.failed.append(name)
        lines = [details] if isinstance(details, str) else details
        self.emit(f"FAIL  {name}")
        for line in lines:
            self.emit("      " + line.replace("\n", "\n      "))

    def skip(self, name: str, reason: str) -> None:
        if in_ci():
            self.fail(name, f"skipped under CI=true, which must provide it: {reason}")
            return
        self.skipped.append(name)
        self.emit(f"skip  {name}: {reason}")

    @property
    def passed(self) -> bool:
        return not self.failed


def _tool(run: CheckRun, name: str, tool: str, args: list[str]) -> None:
    path = shutil.which(tool)
    if path is None:
        install = f"apt-get install -y {TOOL_PACKAGES[tool]}"
        run.skip(name, f"{tool} not found on PATH (install it with: {install})")
        return
    result = subprocess.run([path, *args], capture_output=True, text=True, timeout=_TOOL_TIMEOUT_SECONDS)
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 0:
        run.ok(name)
    else:
        run.fail(name, [f"{tool} exited with {result.returncode}", output])


def check_drift(run: CheckRun, config: BundleConfig, root: Path) -> None:
    drift = find_drift(config, root)
    if drift:
        hint = f"regenerate with `{MAKE_TARGET}` (or `{GENERATE_COMMAND}`) and commit the result"
        run.fail("drift", [*(str(d) for d in drift), hint])
    else:
        run.ok("drift", f"the committed bundle under {root.name or root} matches a fresh generation")


def check_schemas(run: CheckRun, dashboard: dict, schema_dir: Path | None) -> None:
    name = "dashboard schemas"
    if schema_dir is None or not schema_dir.is_dir():
        run.skip(name, f"Grafana JSON Schemas not found at {schema_dir} (they exist only in the project's "
                       "workspace and CI; pass --schemas DIR)")
        return
    try:
        from .schema import missing_schemas, validate_dashboard
    except ImportError as exc:  # pragma: no cover - the dev extras are installed in the venv
        run.fail(name, f"needs jsonschema ({exc}); install the dev extras: pip install -e '.[dev]'")
        return
    missing = missing_schemas(schema_dir)
    if missing:
        run.skip(name, f"{schema_dir} lacks {', '.join(missing)}")
        return
    problems = validate_dashboard(dashboard, schema_dir)
    if problems:
        run.fail(name, problems)
    else:
        run.ok(name, "dashboard, panel options and custom field config, targets")


def check_lint(run: CheckRun, dashboard: dict, config: BundleConfig) -> None:
    try:
        from .lint import RULES, lint_for_config
    except ImportError as exc:  # pragma: no cover - the dev extras are installed in the venv
        run.fail("dashboard lint", f"needs promql-parser ({exc}); install the dev extras: "
                                   "pip install -e '.[dev]'")
        return
    problems = lint_for_config(dashboard, config)
    if problems:
        run.fail("dashboard lint", [str(p) for p in problems])
    else:
        run.ok("dashboard lint", f"{len(RULES)} rules")


def run_checks(config: BundleConfig, root: Path, schema_dir: Path | None,
               emit: Callable[[str], None] = print) -> CheckRun:
    """Run every check of the bundle committed under ``root``."""
    from .dashboard import build_dashboard

    run = CheckRun(emit=emit)
    check_drift(run, config, root)
    dashboard = build_dashboard(config)
    check_schemas(run, dashboard, schema_dir)
    check_lint(run, dashboard, config)
    with tempfile.TemporaryDirectory(prefix="velo-bundle-") as tmp:
        fresh = Path(tmp)
        write_bundle(config, fresh)
        _tool(run, "promtool check rules", "promtool", ["check", "rules", str(fresh / RULES_PATH)])
        _tool(run, "promtool test rules", "promtool", ["test", "rules", str(fresh / RULE_TESTS_PATH)])
        _tool(run, "promtool check config", "promtool", ["check", "config", str(fresh / PROMETHEUS_FILE)])
        _tool(run, "amtool check-config", "amtool", ["check-config", str(fresh / ALERTMANAGER_FILE)])
    if run.passed:
        skipped = f" ({len(run.skipped)} skipped: {', '.join(run.skipped)})" if run.skipped else ""
        emit(f"bundle check passed{skipped}")
    else:
        emit(f"bundle check FAILED: {', '.join(run.failed)}")
    return run
