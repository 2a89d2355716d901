"""Execute a stage notebook from ``stages/`` with papermill into the book's chapters.

The executed copy is written so that the same inputs give the same bytes in any folder, on any day:
papermill's and nbclient's timings, the absolute paths of the run and the random ids papermill and
Plotly draw are removed or replaced by names derived from the notebook itself (`normalise`). DVC then
records the same hash for a chapter wherever and whenever it is rebuilt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pyarrow.dataset
from traitlets.config import Config

from cba.config import Paths, params_from_dict

__all__ = ["STAGES", "normalise", "run_stage", "stage_summary"]

STAGES = ("ingest", "eda", "clean", "features", "clv", "churn", "survival", "next_purchase", "forecast")

# The address in an object's default repr, "<pandas.io.formats.style.Styler at 0x7fa5be6ca8d0>".
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-f]+(?=>)")
# An installed library's folder (a virtual environment's, wherever it lives): written as ``site-packages/``.
_LIBRARY_FOLDER = re.compile(r"[^\s\"'(]*/site-packages/")
# Notebook-level papermill metadata that is the same on every run (the rest is timing).
_STABLE_PAPERMILL_KEYS = ("default_parameters", "parameters", "environment_variables", "version")
# Cell-level papermill metadata that is the same on every run.
_STABLE_CELL_PAPERMILL_KEYS = ("exception", "status")
_INJECTED_CELL_ID = "injected-parameters"
# A random id: a version 4 UUID, as Plotly draws for every figure's <div>, or the five hex digits after
# "T_" that pandas' Styler draws for every styled table's ids and CSS selectors.
_RANDOM_ID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|(?<=\bT_)[0-9a-f]{5}(?![0-9a-f])"
)
# CurveZMQ between papermill and the kernel when the kernel supports it (ipykernel >= 7): the traffic
# is encrypted and the kernel does not warn, at every stage, that it runs over TCP in plain text. A
# kernel that still stops its worker processes when the notebook is done (a busy machine) gets a
# minute to exit before it is interrupted.
_KERNEL_CONFIG = Config({"KernelManager": {"transport_encryption": "auto", "shutdown_wait_time": 60.0}})
# A stage's progress over its cells, on the terminal only, once a stage has run for this many seconds.
_PROGRESS_DELAY_SECONDS = 3


def run_stage(name: str, raw_params: dict[str, Any], root: Path) -> Path:
    """Run ``stages/<name>.ipynb`` with ``raw_params`` injected as ``params``; return the executed copy.

    The params are validated first, so a bad value fails before any work starts; the notebook receives
    the plain mapping, so its injected cell shows exactly the values used. The executed copy is
    normalised (see `normalise`), also when a cell fails, so its traceback is kept in the same form.
    """
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; expected one of {list(STAGES)}")
    params_from_dict(raw_params)
    output = Paths(root).chapters / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            root / "stages" / f"{name}.ipynb",
            output,
            parameters={"params": json.loads(json.dumps(raw_params, default=str))},
            cwd=str(root),
            kernel_name="python3",
            progress_bar={"desc": name, "delay": _PROGRESS_DELAY_SECONDS, "leave": False, "disable": None},
            record_timing=False,
            config=_KERNEL_CONFIG,
        )
    finally:
        if output.exists():
            executed = nbformat.read(output, as_version=nbformat.NO_CONVERT)
            nbformat.write(normalise(executed, root), output)
    return output


def normalise(notebook: nbformat.NotebookNode, root: Path) -> nbformat.NotebookNode:
    """Remove from an executed notebook everything that differs between two runs of the same inputs.

    Parameters
    ----------
    notebook : NotebookNode
        A notebook executed by papermill; changed in place.
    root : Path
        The project root the notebook ran in; paths under it are written relative to it.

    Returns
    -------
    NotebookNode
        ``notebook``, with: papermill's start and end times and durations (notebook and cells) and
        nbclient's execution timestamps removed; papermill's input and output paths relative to
        ``root``; the Python patch version dropped from ``language_info`` (the version stamp records
        the interpreter); the injected-parameters cell's random id replaced by ``injected-parameters``;
        each random id in a cell's outputs (Plotly's figure ids, pandas' styled-table ids) replaced by
        ``<cell id>-<n>``; memory addresses dropped from default reprs; ``root`` removed from paths in
        the outputs, and an installed library's path cut to ``site-packages/...``.
    """
    metadata = notebook.metadata
    run = metadata.get("papermill")
    if run is not None:
        metadata["papermill"] = {key: run[key] for key in _STABLE_PAPERMILL_KEYS if key in run} | {
            key: _relative(run[key], root) for key in ("input_path", "output_path") if run.get(key)
        }
    metadata.get("language_info", {}).pop("version", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell_run = cell.metadata.get("papermill")
        if cell_run is not None:
            cell.metadata["papermill"] = {
                k: cell_run[k] for k in _STABLE_CELL_PAPERMILL_KEYS if k in cell_run
            }
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = _INJECTED_CELL_ID
        if cell.cell_type == "code":
            _normalise_outputs(cell, root)
    return notebook


def _normalise_outputs(cell: nbformat.NotebookNode, root: Path) -> None:
    """Replace random ids and the project root in a code cell's outputs (in place)."""
    names: dict[str, str] = {}
    prefix = str(root.resolve())

    def stable(text: str) -> str:
        text = text.replace(f"{prefix}/", "").replace(prefix, ".")
        text = _LIBRARY_FOLDER.sub("site-packages/", _MEMORY_ADDRESS.sub("", text))
        return _RANDOM_ID.sub(lambda match: names.setdefault(match[0], f"{cell.id}-{len(names) + 1}"), text)

    for output in cell.outputs:
        if "text" in output:
            output["text"] = _map_text(output["text"], stable)
        if "traceback" in output:
            output["traceback"] = [stable(line) for line in output["traceback"]]
        for mime, value in output.get("data", {}).items():
            output["data"][mime] = _map_text(value, stable)


def _map_text(value: Any, function: Any) -> Any:
    """Apply ``function`` to every string in an output value (a string, a list or a JSON mapping)."""
    if isinstance(value, str):
        return function(value)
    if isinstance(value, list):
        return [_map_text(item, function) for item in value]
    if isinstance(value, dict):
        return {key: _map_text(item, function) for key, item in value.items()}
    return value


def stage_summary(name: str, root: Path) -> str:
    """One line on what stage ``name`` did, from what it wrote: rows in and out, the model and its score.

    Falls back to naming the executed notebook when the stage's outputs are not there to read.
    """
    paths = Paths(root)
    chapter = f"{name}: executed report/chapters/{name}.ipynb"
    try:
        if name == "ingest":
            landed = sorted(paths.landed.glob("*.parquet"))
            counts = ", ".join(f"{table.stem} {_rows(table):,}" for table in landed)
            return f"ingest: landed rows {counts} in {paths.landed.relative_to(root)}"
        metrics = json.loads((paths.metrics / f"{_METRICS_FILE[name]}.json").read_text())
    except (KeyError, OSError, ValueError):
        return chapter
    if name == "eda":
        if not metrics.get("has_events"):
            return "eda: customers only; the event analyses are skipped"
        revenue = f"{metrics['revenue']:,.2f}"
        return f"eda: {metrics['orders']:,} orders, revenue {revenue} over {metrics['days']} days"
    if name == "clean":
        tables = (
            f"{table} {rows['rows_in']:,} in, {rows['rows_out']:,} out ({rows['rows_rejected']:,} rejected)"
            for table, rows in metrics.items()
            if isinstance(rows, dict) and "rows_in" in rows
        )
        return "clean: " + "; ".join(tables)
    if name == "features":
        return (
            f"features: {metrics['customers']:,} labelled customers at the evaluation cutoff (churn rate "
            f"{metrics['churn_rate']:.1%}), {len(metrics.get('cutoffs') or [])} cutoffs in all, "
            f"{metrics.get('current_customers', 0):,} customers to score"
        )
    if name == "churn":
        low, high = metrics["roc_auc_ci"]
        return (
            f"churn: best model {metrics['best_model']}, ROC AUC {metrics['roc_auc']:.3f} "
            f"(95% CI {low:.3f}-{high:.3f}) on {metrics['n_test']:,} held-out rows"
        )
    churned = f"{metrics['n_churned']:,} of {metrics['n_customers']:,} churned"
    if metrics.get("concordance") is None:
        return f"survival: {churned}; no Cox model (no customer attributes)"
    return (
        f"survival: Cox concordance {metrics['concordance']:.3f} on {metrics['n_test']:,} held-out "
        f"customers; {churned}"
    )


_METRICS_FILE = {
    "eda": "behaviour",
    "clean": "data_quality",
    "features": "features",
    "churn": "churn",
    "survival": "survival",
}


def _rows(table: Path) -> int:
    """Rows of a Parquet file or folder, from its metadata."""
    return pyarrow.dataset.dataset(table).count_rows()


def _relative(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when it lies under it; otherwise as given."""
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path
