"""Chapter "What changed": this build's metrics and params against the baseline revision."""

from __future__ import annotations

from typing import Any

from cba.report.markdown import float_div, long_table
from cba.report.provenance import Comparison


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"`{value}`"


def changes_markdown(comparison: Comparison) -> str:
    """The "What changed" section: a table of old, new and delta, or why there is no baseline."""
    lines = ["## Against the baseline {#sec-what-changed}", ""]
    if comparison.baseline is None:
        return (
            "\n".join([*lines, f"No baseline: {comparison.reason}, so there is nothing to compare with."])
            + "\n"
        )
    where = f"`{comparison.revision}` (commit `{comparison.baseline[:12]}`)"
    metrics = [change for change in comparison.changes if change.kind == "metric"]
    params = [change for change in comparison.changes if change.kind == "param"]
    lines.append(
        f"Against {where}: {len(metrics)} metrics and {len(params)} parameters changed, "
        f"{comparison.unchanged:,} values stayed the same (`dvc metrics diff` and `dvc params diff`)."
    )
    if comparison.changes:
        rows = [
            (
                change.kind,
                f"`{change.file}`",
                f"`{change.key}`",
                _value(change.old),
                _value(change.new),
                "-" if change.delta is None else f"{change.delta:+.4g}",
            )
            for change in comparison.changes
        ]
        first_rows, all_rows = long_table(["", "File", "Key", "Old", "New", "Delta"], rows, "lllrrr")
        lines += [
            "",
            *float_div("tbl-what-changed", first_rows, f"Metrics and parameters that differ from {where}."),
            *(["", *all_rows] if all_rows else []),
        ]
    return "\n".join(lines) + "\n"
