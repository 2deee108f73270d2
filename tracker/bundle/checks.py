"""``velo-tracker check``: drift, schema validation, dashboard lint, promtool and amtool.

The bundle is regenerated into a temporary folder; the generated files under the checked
folder must equal it, and every other check runs on that fresh copy. Grafana's schemas ship
with the package. A missing ``promtool`` or ``amtool`` skips its check with the reason
printed, and fails it with ``--strict`` (``make check`` and CI pass it); the ``CI`` variable
changes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config import BundleConfig
from .generate import (
    Generation,
    find_drift,
    rule_tests_path,
    rules_path,
    week_tests_path,
    write_bundle,
)
from .k8s import helm_unescape, prometheus_rule_file
from .output import GENERATE_COMMAND, MAKE_TARGET, to_yaml
from .provisioning import ALERTMANAGER_FILE, PROMETHEUS_FILE

#: Debian packages that provide each external tool.
TOOL_PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}
_TOOL_TIMEOUT_SECONDS = 300


@dataclass
class CheckRun:
    """Outcome of every check, printed as it goes."""

    emit: Callable[[str], None] = print
    strict: bool = False
    """A missing tool fails its check instead of skipping it."""
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
        if self.strict:
            self.fail(name, f"{reason} (--strict: a missing tool is a failure)")
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


def check_drift(run: CheckRun, generations: list[Generation], root: Path) -> None:
    drift = find_drift(generations, root)
    if drift:
        hint = f"regenerate with `{MAKE_TARGET}` (or `{GENERATE_COMMAND}`) and commit the result"
        run.fail("drift", [*(str(d) for d in drift), hint])
    else:
        run.ok("drift", f"the generated files under {root} match a fresh generation")


def check_schemas(run: CheckRun, dashboard: dict, schema_dir: Path | None) -> None:
    name = "dashboard schemas"
    if schema_dir is None or not schema_dir.is_dir():
        run.fail(name, f"Grafana JSON Schemas not found at {schema_dir} (pass --schemas DIR)")
        return
    try:
        from .schema import missing_schemas, validate_dashboard
    except ImportError as exc:  # pragma: no cover - the dev extras are installed in the venv
        run.fail(name, f"needs jsonschema ({exc}); install the dev extras: pip install -e '.[dev]'")
        return
    missing = missing_schemas(schema_dir)
    if missing:
        run.fail(name, f"{schema_dir} lacks {', '.join(missing)}")
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


def _extracted_rules(fresh: Path, config: BundleConfig) -> Path | None:
    """The PrometheusRule's groups written as a plain rule file (for ``promtool check rules``)."""
    import yaml

    path = fresh / prometheus_rule_file(config)
    if not path.is_file():
        return None
    manifest = yaml.safe_load(helm_unescape(path.read_text(encoding="utf-8")))
    extracted = fresh / "prometheusrule-groups.rules.yml"
    extracted.write_text(to_yaml(manifest["spec"]), encoding="utf-8")
    return extracted


def run_checks(generations: list[Generation] | BundleConfig, root: Path, schema_dir: Path | None,
               emit: Callable[[str], None] = print, strict: bool = False) -> CheckRun:
    """Run every check of the generated files under ``root``."""
    from .dashboard import build_dashboard

    if isinstance(generations, BundleConfig):
        generations = [Generation(generations)]
    run = CheckRun(emit=emit, strict=strict)
    check_drift(run, generations, root)
    for generation in generations:
        config = generation.config
        label = f" [{config.identity.name}]" if len(generations) > 1 else ""
        dashboard = build_dashboard(config, generation.command)
        check_schemas(run, dashboard, schema_dir)
        check_lint(run, dashboard, config)
        with tempfile.TemporaryDirectory(prefix="velo-bundle-") as tmp:
            fresh = Path(tmp)
            # Every kind, whatever --only wrote: the rule tests need their rules, and so on.
            full = Generation(config, kinds=("dashboard", "rules", "rule-tests", "k8s")
                              + (("provisioning",) if generation.demo else ()), demo=generation.demo)
            write_bundle(full, fresh)
            rules = str(fresh / rules_path(config))
            tests = [str(fresh / rule_tests_path(config)), str(fresh / week_tests_path(config))]
            _tool(run, f"promtool check rules{label}", "promtool", ["check", "rules", rules])
            _tool(run, f"promtool test rules{label}", "promtool", ["test", "rules", *tests])
            extracted = _extracted_rules(fresh, config)
            if extracted is not None:
                _tool(run, f"promtool check rules (PrometheusRule){label}", "promtool",
                      ["check", "rules", str(extracted)])
            if generation.demo:
                _tool(run, "promtool check config", "promtool",
                      ["check", "config", str(fresh / PROMETHEUS_FILE)])
                _tool(run, "amtool check-config", "amtool", ["check-config", str(fresh / ALERTMANAGER_FILE)])
    if run.passed:
        skipped = f" ({len(run.skipped)} skipped: {', '.join(run.skipped)})" if run.skipped else ""
        emit(f"bundle check passed{skipped}")
    else:
        emit(f"bundle check FAILED: {', '.join(run.failed)}")
    return run
