"""Appendix "Parameters": every key and value of ``params.yaml`` this build used."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cba.report.markdown import table


def params_markdown(params: Mapping[str, Any]) -> str:
    """The params of this build: a table of every key, dotted, and its value as JSON."""
    flat = _flatten(params)
    rows = [(f"`{key}`", json.dumps(value, default=str)) for key, value in flat.items()]
    return "\n".join(
        [
            "## Every parameter {#sec-params}",
            "",
            f"{len(flat)} parameters; `dvc params diff` compares them across versions.",
            "",
            *table(["Key", "Value"], rows, "ll"),
            "",
        ]
    )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
