"""Markdown building blocks the chapters share: numbers, money, tables, fenced divs and names for readers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from cba.report.inputs import Missing
from cba.tables import MAX_ROWS, money_text

MODEL_NAMES = {
    "logistic_regression": "logistic regression",
    "random_forest": "random forest",
    "gradient_boosting": "gradient boosting",
    "xgboost": "XGBoost",
    "xgboost_smote": "XGBoost with SMOTE",
    "xgboost_focal": "XGBoost with focal loss",
}
"""What a reader calls each churn model the churn stage compares."""


def model_name(key: Any) -> str:
    """The reader's name for a churn model key (``xgboost_smote`` -> ``XGBoost with SMOTE``)."""
    return MODEL_NAMES.get(str(key), str(key).replace("_", " "))


def number(value: Any, spec: str) -> str:
    """``value`` formatted with ``spec``, or what is missing."""
    return str(value) if isinstance(value, Missing) or value is None else format(value, spec)


def money(value: Any, currency: str, spec: str = ",.0f") -> str:
    """An amount with its currency (``USD 1,234``, as `cba.tables` writes money), or what is missing."""
    return str(value) if isinstance(value, Missing) or value is None else money_text(value, currency, spec)


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter and a full stop."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def and_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> list[str]:
    """A Markdown pipe table; ``align`` holds one of ``l``/``r`` per column (default: first left)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---:" if side == "r" else "---" for side in align) + "|"
    lines = ["| " + " | ".join(header) + " |", rule]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def long_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None, shown: int = MAX_ROWS
) -> tuple[list[str], list[str]]:
    """(the first ``shown`` rows as a table, all rows behind an HTML-only fold) for a long table.

    The rule `cba.tables` applies to the notebooks' tables: the page shows the first rows and says how
    many there are; the HTML book keeps every row under "All N rows", the printed book leaves it out.
    The fold is empty when every row is shown.
    """
    if len(rows) <= shown:
        return table(header, rows, align), []
    fold = html_only(
        [
            f"The first {shown:,} of {len(rows):,} rows are shown above.",
            "",
            *raw_html(f'<details class="all-rows"><summary>All {len(rows):,} rows</summary>'),
            "",
            *table(header, rows, align),
            "",
            *raw_html("</details>"),
        ]
    )
    return table(header, rows[:shown], align), fold


def float_div(label: str, content: Sequence[str], caption: str) -> list[str]:
    """A Quarto cross-reference div (``#fig-``/``#tbl-``): the content, then its caption paragraph."""
    return [f"::: {{#{label}}}", "", *content, "", caption, "", ":::"]


def html_only(lines: Sequence[str]) -> list[str]:
    """``lines`` inside a div only Quarto's HTML output shows."""
    return ['::: {.content-visible when-format="html"}', "", *lines, "", ":::"]


def raw_html(html_text: str) -> list[str]:
    """A raw HTML block, passed through to the HTML output as it is."""
    return ["```{=html}", html_text, "```"]


def bullets(items: Iterable[str]) -> list[str]:
    """A Markdown bullet list."""
    return [f"- {item}" for item in items]
