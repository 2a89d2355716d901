"""The pipeline's cost curve: sizes, growth exponents, extrapolation and the figure, from ``pipeline.json``.

``benchmarks/pipeline.py`` writes every stage's seconds and peak memory at each size it ran to
``benchmarks/results/pipeline.json``. The growth exponent of a quantity ``v`` between sizes ``n1 < n2`` is
``log(v2 / v1) / log(n2 / n1)``: 1 is linear, below 1 better than linear, above 1 worse. An extrapolation
to ``k`` times the largest size is ``v2 * k ** max(b, 0)`` with the exponent ``b`` between the two largest
sizes: a cost that fell between them (a bound that changed, a fixed cost that varied) is held, never
extrapolated to fall further.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cba.report.markdown import and_list

if TYPE_CHECKING:
    import plotly.graph_objects as go

PIPELINE_RESULTS = "benchmarks/results/pipeline.json"
"""Where ``benchmarks/pipeline.py`` writes the cost curve, as the book names it."""


def pipeline_runs(pipeline: Mapping[str, Any], *, complete: bool = True) -> list[Mapping[str, Any]]:
    """The runs of ``pipeline.json``, smallest size first: those that ran every stage.

    With ``complete`` false, also the runs stopped part way, which hold the stages they measured.
    """
    runs = pipeline.get("runs", {}).values()
    return sorted((r for r in runs if r.get("complete", True) or not complete), key=lambda run: run["events"])


def stopped_runs(pipeline: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The runs stopped before their last stage, smallest size first."""
    return [run for run in pipeline_runs(pipeline, complete=False) if not run.get("complete", True)]


def stage_order(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every stage measured in any of ``runs``, in pipeline order."""
    return list(dict.fromkeys(stage for run in runs for stage in run["stages"]))


def growth_exponent(small: float, large: float, small_events: int, large_events: int) -> float:
    """``log(large / small) / log(large_events / small_events)``; NaN when a value is not positive."""
    if small <= 0 or large <= 0:
        return math.nan
    return math.log(large / small) / math.log(large_events / small_events)


def growth_exponents(pipeline: Mapping[str, Any]) -> dict[tuple[int, int], dict[str, dict[str, float]]]:
    """(smaller, larger events) -> stage -> ``seconds`` and ``peak_memory_mb`` exponents, per size pair.

    Consecutive sizes of complete runs only; stages measured at both sizes, then ``pipeline`` (the sum of
    the stages' seconds and the largest stage's peak), as ``benchmarks/pipeline.py`` computes them.
    """
    runs = pipeline_runs(pipeline)
    exponents = {}
    for small, large in zip(runs, runs[1:], strict=False):
        pair = (small["events"], large["events"])
        steps = {
            stage: {
                key: growth_exponent(small["stages"][stage][key], measured[key], *pair)
                for key in ("seconds", "peak_memory_mb")
            }
            for stage, measured in large["stages"].items()
            if stage in small["stages"]
        }
        steps["pipeline"] = {
            key: growth_exponent(small[key], large[key], *pair) for key in ("seconds", "peak_memory_mb")
        }
        exponents[pair] = steps
    return exponents


def extrapolate(pipeline: Mapping[str, Any], factor: float) -> dict[str, dict[str, float]]:
    """Each stage's seconds and peak memory at ``factor`` times the largest measured size.

    ``v * factor ** max(b, 0)`` from the largest run, with ``b`` the exponent between the two largest
    sizes; then ``pipeline``: the stages' seconds summed and their largest peak. Stages not measured at
    both sizes are left out.

    Raises
    ------
    ValueError
        When ``pipeline.json`` holds fewer than two sizes.
    """
    runs = pipeline_runs(pipeline)
    if len(runs) < 2:
        raise ValueError(f"extrapolating needs two sizes in {PIPELINE_RESULTS}; it holds {len(runs)}")
    largest = runs[-1]
    exponents = growth_exponents(pipeline)[(runs[-2]["events"], largest["events"])]
    stages = {
        stage: {key: largest["stages"][stage][key] * factor ** max(steps[key], 0.0) for key in steps}
        for stage, steps in exponents.items()
        if stage != "pipeline"
    }
    stages["pipeline"] = {
        "seconds": sum(stage["seconds"] for stage in stages.values()),
        "peak_memory_mb": max(stage["peak_memory_mb"] for stage in stages.values()),
    }
    return stages


def cost_curve_figure(pipeline: Mapping[str, Any]) -> go.Figure:
    """Seconds and peak memory of every stage against events, both on log-log axes, one line per stage."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    runs = pipeline_runs(pipeline, complete=False)
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Seconds", "Peak memory (GB)"))
    for stage in stage_order(runs):
        measured = [run for run in runs if stage in run["stages"]]
        events = [run["events"] for run in measured]
        for column, (key, scale) in enumerate((("seconds", 1), ("peak_memory_mb", 1 / 1024)), start=1):
            figure.add_trace(
                go.Scatter(
                    x=events,
                    y=[run["stages"][stage][key] * scale for run in measured],
                    name=stage,
                    legendgroup=stage,
                    showlegend=column == 1,
                    mode="lines+markers",
                ),
                row=1,
                col=column,
            )
    figure.update_xaxes(type="log", title_text="events")
    figure.update_yaxes(type="log")
    figure.update_layout(title="Cost of every stage against the number of events", legend_title_text="stage")
    return figure


def duration(seconds: float) -> str:
    """Seconds as a reader reads them: ``42.0 s``, ``12.5 min``, ``3.1 h``, ``4.2 days``; ``–`` for NaN."""
    if math.isnan(seconds):
        return "–"
    if seconds < 100:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"


def gigabytes(megabytes: float) -> str:
    """Memory in MB (2**20 bytes, as the benchmarks record it) as GB."""
    return f"{megabytes / 1024:,.2f} GB"


def size_label(events: float) -> str:
    """A short size for table headers: ``500k``, ``1M``, ``100M``, ``1B``."""
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if events >= unit:
            return f"{events / unit:.3g}{suffix}"
    return f"{events:.3g}"


def times(ratio: float, what: str) -> str:
    """A time ``ratio`` times ``what``'s: ``3.2 times as long as <what>``, ``40% of the time <what> took``."""
    if ratio >= 1:
        return f"{ratio:.1f} times as long as {what}"
    return f"{ratio:.0%} of the time {what} took"


def machine(result: Mapping[str, Any]) -> str:
    """The machine a results file records: CPUs, memory and Python, as far as it records them."""
    environment = result.get("environment") or {}
    cpus = environment.get("cpus", result.get("cpu_count"))
    memory = environment.get("memory_gb")
    python = environment.get("python", result.get("python"))
    parts = [
        f"{cpus} CPUs" if cpus else None,
        f"{memory} GB of memory" if memory else None,
        f"Python {python}" if python else None,
    ]
    known = [part for part in parts if part]
    return f"a machine with {and_list(known)}" if known else "a machine the file does not describe"


def exponent_text(value: float) -> str:
    """A growth exponent with two decimals; ``–`` when it could not be computed."""
    return "–" if math.isnan(value) else f"{value:.2f}"


def peak_load(result: Mapping[str, Any]) -> float | None:
    """The highest 1-minute load average a results file records (at its start or end), if any.

    Keys named ``load_average_1m...`` hold 1-minute values; other ``load_average...`` keys hold the 1-,
    5- and 15-minute values, of which the first counts.
    """
    loads = []
    for place in (result, result.get("environment") or {}):
        for key, value in place.items():
            if key.startswith("load_average") and isinstance(value, list) and value:
                loads += value if "_1m" in key else value[:1]
    return max(loads) if loads else None


def shared_machine_note(result: Mapping[str, Any]) -> str:
    """`` The machine was shared (...)`` when the recorded load exceeded the CPUs, else nothing."""
    load = peak_load(result)
    cpus = (result.get("environment") or {}).get("cpus", result.get("cpu_count"))
    if load is None or not cpus or load <= cpus:
        return ""
    return (
        f" The machine was shared: its 1-minute load average reached {load:.2f} on {cpus} CPUs during the "
        "run, so these seconds are upper bounds."
    )
