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
from cba.tables import register_table_formatter

__all__ = ["setup"]


def setup(params: dict[str, Any]) -> tuple[Params, Paths]:
    """Validate the injected params, set up figures and tables, and resolve the project's paths from the cwd.

    Every DataFrame the notebook displays afterwards renders as a formatted table (`cba.tables`).
    """
    configure_figures()
    validated = params_from_dict(params)
    register_table_formatter(validated.report.currency)
    return validated, Paths(Path.cwd())
