"""Execute a stage notebook from ``stages/`` with papermill into the book's chapters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import papermill

from cba.config import Paths, params_from_dict

__all__ = ["STAGES", "run_stage"]

STAGES = ("ingest", "eda", "clean", "features", "clv", "churn", "survival", "next_purchase", "forecast")


def run_stage(name: str, raw_params: dict[str, Any], root: Path) -> Path:
    """Run ``stages/<name>.ipynb`` with ``raw_params`` injected as ``params``; return the executed copy.

    The params are validated first, so a bad value fails before any work starts; the notebook receives
    the plain mapping, so its injected cell shows exactly the values used.
    """
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; expected one of {list(STAGES)}")
    params_from_dict(raw_params)
    output = Paths(root).chapters / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        root / "stages" / f"{name}.ipynb",
        output,
        parameters={"params": json.loads(json.dumps(raw_params, default=str))},
        cwd=str(root),
        progress_bar=False,
        kernel_name="python3",
    )
    return output
