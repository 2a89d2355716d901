"""The versions of Python and of the libraries that decide the report's numbers."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["NUMERIC_LIBRARIES", "library_versions"]

NUMERIC_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "xgboost",
    "imbalanced-learn",
    "lifelines",
    "statsmodels",
    "duckdb",
    "ibis-framework",
)
"""Distributions whose version can change a metric: the arrays, the tables, the models and the engine."""


def library_versions() -> dict[str, str | None]:
    """``python`` and each of `NUMERIC_LIBRARIES` → its installed version (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in NUMERIC_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
