"""The one writer of the small files reviewers diff: ``metrics/<name>.json`` and ``plots/<name>.csv``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from cba.config import Paths

__all__ = ["write_metrics", "write_plot"]


def write_metrics(paths: Paths, name: str, mapping: Mapping[str, Any]) -> Path:
    """Write ``metrics/<name>.json``: indented JSON with a final newline."""
    path = paths.metrics / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mapping, indent=2) + "\n")
    return path


def write_plot(paths: Paths, name: str, frame: pd.DataFrame) -> Path:
    """Write ``plots/<name>.csv``: the frame's columns, no index."""
    path = paths.plots / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
