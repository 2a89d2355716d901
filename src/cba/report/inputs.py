"""What the generated chapters are computed from: metrics, plot tables, the churn model's metadata, params.

A value the pipeline did not write is a `Missing` that names its file and key, so a chapter says what is
missing instead of inventing a number.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cba.config import Paths

METRICS_FILES = (
    "features",
    "churn",
    "survival",
    "data_quality",
    "behaviour",
    "clv",
    "next_purchase",
    "forecast",
)
"""The ``metrics/<name>.json`` files the generated chapters are computed from."""

PLOT_TABLES = (
    "behaviour_daily",
    "behaviour_top_products_revenue",
    "behaviour_top_products_conversion",
    "churn_profit",
)
"""The ``plots/<name>.csv`` tables the dashboards and recommendations chapters read."""


@dataclass(frozen=True)
class Missing:
    """A value the pipeline did not write; ``where`` names the file and the key."""

    where: str

    def __str__(self) -> str:
        return f"not available ({self.where} is missing)"


def lookup(data: Mapping[str, Any], source: str, path: str) -> Any:
    """The value at ``path`` (dots for keys, numbers for list items) of ``data``, read from ``source``.

    Returns a `Missing` naming ``source`` and ``path`` when a key or item is not there, so a chapter can
    say plainly what the pipeline did not provide.
    """
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return Missing(f"`{source}` → `{path}`")
    return value


@dataclass(frozen=True)
class BookInputs:
    """Everything the generated chapters are computed from.

    ``metrics`` maps a metrics file's stem (``churn``) to its contents (empty when the file is absent);
    ``tables`` maps a ``plots/`` file's stem to its rows; ``model`` is the metadata saved with the churn
    model (everything in ``models/churn.joblib`` but the fitted model); ``params`` is ``params.yaml``.
    """

    metrics: Mapping[str, Mapping[str, Any]]
    tables: Mapping[str, pd.DataFrame]
    model: Mapping[str, Any]
    params: Mapping[str, Any]

    def get(self, name: str, path: str) -> Any:
        """``lookup`` in ``metrics/<name>.json``."""
        return lookup(self.metrics.get(name, {}), f"metrics/{name}.json", path)

    @property
    def currency(self) -> str:
        """The currency every money figure carries (``report.currency`` in params)."""
        return str(self.params["report"]["currency"])


def read_inputs(paths: Paths, params: Mapping[str, Any]) -> BookInputs:
    """Read `METRICS_FILES`, `PLOT_TABLES` and the churn model's metadata where ``paths`` puts them."""
    metrics = {}
    for name in METRICS_FILES:
        path = paths.metrics / f"{name}.json"
        metrics[name] = json.loads(path.read_text()) if path.exists() else {}
    tables = {}
    for name in PLOT_TABLES:
        path = paths.plots / f"{name}.csv"
        if path.exists() and path.stat().st_size:
            tables[name] = pd.read_csv(path)
    model: dict[str, Any] = {}
    if paths.churn_model.exists():
        import joblib

        fitted = joblib.load(paths.churn_model)
        model = {key: value for key, value in fitted.items() if key != "model"}
    return BookInputs(metrics, tables, model, params)
