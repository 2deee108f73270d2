"""Validation of a dashboard against Grafana's official JSON Schemas (``../shared/grafana-schemas``).

The schemas are not shipped with the project; callers pass their folder. Checked: the
dashboard as a whole, each stat/timeseries/table panel's ``options`` and
``fieldConfig.defaults.custom`` against its plugin's schema, and each target against the
Prometheus query schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

DASHBOARD_SCHEMA = "dashboard.jsonschema.json"
TARGET_SCHEMA = "prometheus.jsonschema.json"
#: Panel type -> (schema file, definition of ``options``, definition of ``fieldConfig.defaults.custom``).
PANEL_SCHEMAS: dict[str, tuple[str, str, str | None]] = {
    "stat": ("stat.jsonschema.json", "Options", None),
    "timeseries": ("timeseries.jsonschema.json", "Options", "FieldConfig"),
    "table": ("table.jsonschema.json", "Options", "FieldConfig"),
}
SCHEMA_FILES = (DASHBOARD_SCHEMA, TARGET_SCHEMA, *(f for f, _, _ in PANEL_SCHEMAS.values()))


@cache
def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _validator(schema_dir: Path, file_name: str, definition: str | None = None):
    from jsonschema import Draft7Validator

    schema = _load(schema_dir / file_name)
    if definition is not None:
        schema = {"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]}
    return Draft7Validator(schema)


def _errors(validator, instance: Any, where: str) -> Iterator[str]:
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        # For oneOf/anyOf, the deepest error of the branches says more than "not valid under any".
        while error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path = "/".join(str(p) for p in error.absolute_path)
        message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
        yield f"{where}{'/' + path if path else ''}: {message}"


def validate_dashboard(dashboard: dict[str, Any], schema_dir: Path) -> list[str]:
    """Every schema violation in ``dashboard``, as readable lines (empty when it validates)."""
    from .grafana_model import IMPORT_ONLY_KEYS

    model = {k: v for k, v in dashboard.items() if k not in IMPORT_ONLY_KEYS}
    problems = list(_errors(_validator(schema_dir, DASHBOARD_SCHEMA), model, "dashboard"))
    target_validator = _validator(schema_dir, TARGET_SCHEMA)
    for index, panel in enumerate(dashboard.get("panels", [])):
        where = f"panel {index} ({panel.get('title', '?')!r})"
        schemas = PANEL_SCHEMAS.get(panel.get("type"))
        if schemas is None:
            problems.append(f"{where}: no schema for panel type {panel.get('type')!r}")
            continue
        file_name, options_def, custom_def = schemas
        problems += _errors(_validator(schema_dir, file_name, options_def), panel.get("options", {}),
                            f"{where} options")
        if custom_def is not None:
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
            problems += _errors(_validator(schema_dir, file_name, custom_def), custom,
                                f"{where} fieldConfig.defaults.custom")
        for t_index, target in enumerate(panel.get("targets", [])):
            problems += _errors(target_validator, target, f"{where} target {t_index}")
    return problems


def missing_schemas(schema_dir: Path) -> list[str]:
    """Schema files absent from ``schema_dir``."""
    return [name for name in SCHEMA_FILES if not (schema_dir / name).is_file()]
