"""One runner per DVC stage: read the stage's inputs, call the analysis, write its outputs.

Each module (``ingest``, ``eda``, ``clean``, ``features``, ``clv``, ``churn``, ``survival``,
``next_purchase``, ``forecast``) has ``run(params, paths)``, which returns what the stage's notebook
shows. :func:`setup` is the first call of every stage notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cba.config import Params, Paths, params_from_dict
from cba.figures import configure_figures

__all__ = ["setup"]


def setup(params: dict[str, Any]) -> tuple[Params, Paths]:
    """Validate the injected params, configure the figures, and resolve the project's paths from the cwd."""
    configure_figures()
    return params_from_dict(params), Paths(Path.cwd())
