"""Chapter "Data and quality": rows in, kept and rejected per table, and the rules that rejected them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cba.report.markdown import float_div, table


def data_quality_markdown(data_quality: Mapping[str, Any]) -> str:
    """Rows in, out and rejected per table, whether they reconcile, and the rules that rejected rows."""
    if not data_quality:
        return "`metrics/data_quality.json` is missing: the clean stage has not run.\n"
    rows, rules, unbalanced = [], [], []
    for name, counts in data_quality.items():
        rows_in, rows_out, rejected = counts["rows_in"], counts["rows_out"], counts["rows_rejected"]
        gap = rows_in - rows_out - rejected
        if gap:
            unbalanced.append(name)
        balance = "yes" if gap == 0 else f"**no** ({gap:+,} rows unaccounted for)"
        share = rejected / rows_in if rows_in else 0.0
        rows.append((name, f"{rows_in:,}", f"{rows_out:,}", f"{rejected:,}", f"{share:.2%}", balance))
        fired = sorted(((rule, n) for rule, n in counts["rules"].items() if n), key=lambda item: -item[1])
        if fired:
            rules.append(f"- {name}: " + ", ".join(f"`{rule}` {count:,}" for rule, count in fired))
    if unbalanced:
        verdict = f"{len(unbalanced)} of {len(rows)} tables do not reconcile: {', '.join(unbalanced)}."
    else:
        verdict = f"All {len(rows)} tables reconcile: every row read was either kept or rejected by a rule."
    lines = [
        verdict,
        "",
        *float_div(
            "tbl-data-quality",
            table(
                ["Table", "Rows in", "Rows out", "Rejected", "Share rejected", "In = out + rejected"], rows
            ),
            "Rows read, kept and rejected per table (`metrics/data_quality.json`).",
        ),
    ]
    if rules:
        lines += ["", "Rejections by rule:", "", *rules]
    return "\n".join(lines) + "\n"
