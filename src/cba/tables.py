"""Tables for reading: one helper formats every table the stage notebooks and the book show.

A table for a reader has no 0, 1, 2 index column, numbers with thousands separators, rates as
percentages, money with its currency, and the data dictionary's names (`cba.schema.human_label`) as
column labels. A table too wide for a printed page is transposed (few rows) or split into column groups;
a long table shows its first rows and keeps the rest behind a "show all rows" fold in HTML.

What a column holds (a percentage, money, a count, an identifier, ...) is read from its name by
`COLUMN_RULES`, one table of rules beside `human_label`.

The HTML comes from the pandas Styler rather than great_tables: the Styler needs no new dependency,
writes a plain ``<table>`` that nbconvert, the built-in renderer and Quarto (HTML and Typst, which reads
HTML tables from notebook outputs) all take as it is, and with a fixed ``uuid`` its output is the same
bytes on every run, so executed notebooks stay reproducible.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from cba.schema import human_label

__all__ = [
    "COLUMN_RULES",
    "MAX_ROWS",
    "PAGE_CHARACTERS",
    "column_kind",
    "column_label",
    "fit_to_page",
    "format_value",
    "money_text",
    "readable_frame",
    "register_table_formatter",
    "table_html",
]

COLUMN_RULES: tuple[tuple[str, str], ...] = (
    (r"^(p|p_?value|pvalue)$", "p_value"),
    (r"(^|_)(id|ids)$", "identifier"),
    (r"(^|_)(column|feature|covariate|attribute)$", "column_name"),
    (r"(hike|count|number|hour|minute|day|time)", "number"),
    (r"(^|_)(rate|share|conversion|probability|pct|percent)(_|$)|^share_|_to_", "percent"),
    (r"(^|_)(revenue|monetary|price|cost|benefit|profit|spend|value|amount|cashback)(_|$)", "money"),
)
"""(regular expression on the snake_case column name, kind), first match wins.

Kinds: ``p_value`` (``< 0.001`` below it), ``identifier`` (no thousands separator), ``column_name``
(values are column names, shown with their labels), ``number``, ``percent`` (only when every value lies in
[0, 1]), ``money`` (with the currency). A column no rule matches is formatted by its dtype.
"""

MAX_ROWS = 15
"""Rows a table shows before the rest go behind the "show all rows" fold."""

PAGE_CHARACTERS = 104
"""Characters of table text that fit across a printed page (letter or A4 at 8.5 pt, 17 mm margins)."""

_ALL_ROWS_LIMIT = 500
"""At most this many rows go behind the fold; a longer table says how many it leaves out."""

_MISSING = "–"


def _snake(name: Any) -> str:
    """``OrderAmountHikeFromlastYear`` -> ``order_amount_hike_fromlast_year``."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name))
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()


_READER_WORDS = {
    "auc": "AUC",
    "cv": "CV",
    "ece": "ECE",
    "f1": "F1",
    "id": "ID",
    "md5": "MD5",
    "pr": "PR",
    "rfm": "RFM",
    "roc": "ROC",
    "smote": "SMOTE",
    "xgboost": "XGBoost",
}
"""Words a snake_case name spells in lower case that readers write otherwise (``roc_auc`` -> ``ROC-AUC``)."""


def column_label(name: Any) -> str:
    """The reader's label of a column: `human_label`, else the name in words, first letter capital."""
    text = str(name)
    label = human_label(text)
    if label == text:
        words = [_READER_WORDS.get(word.lower(), word) for word in text.split("_")]
        label = " ".join(words).replace(" AUC", "-AUC").replace("p value", "p-value")
    return label[:1].upper() + label[1:]


def _is_unit_interval(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool(((numbers >= 0) & (numbers <= 1)).all())


def column_kind(name: Any, values: pd.Series) -> str:
    """What a column holds, from `COLUMN_RULES` on its name, then its dtype.

    One of ``p_value``, ``identifier``, ``column_name``, ``percent``, ``money``, ``integer``, ``number``,
    ``date``, ``boolean``, ``text``.
    """
    snake = _snake(name)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    for pattern, kind in COLUMN_RULES:
        if not re.search(pattern, snake):
            continue
        if kind == "column_name" and numeric:
            continue
        if kind == "percent" and not (numeric and _is_unit_interval(values)):
            continue
        if kind in ("money", "p_value") and not numeric:
            continue
        if kind == "number":
            break
        return kind
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    if numeric:
        finite = pd.to_numeric(values, errors="coerce").dropna()
        finite = finite[np.isfinite(finite)]
        return "integer" if (finite == finite.round()).all() else "number"
    return "text"


def _number(value: float) -> str:
    """A number with as many decimals as its size needs: 54,994 / 342.4 / 4.92 / 0.050 / 3.1e-18."""
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude < 0.001:
        return f"{value:.1e}"
    if magnitude < 1:
        return f"{value:.3f}"
    if magnitude < 100:
        return f"{value:,.2f}"
    if magnitude < 10_000:
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def money_text(amount: float, currency: str, spec: str | None = None) -> str:
    """An amount with its currency: ``USD 1,234``; cents below 100 (``USD 4.50``) unless ``spec`` says."""
    spec = spec or (",.0f" if abs(amount) >= 100 else ",.2f")
    return f"{currency} {amount:{spec}}"


def format_value(value: Any, kind: str, currency: str = "USD") -> str:
    """One cell as a reader reads it, for a column of ``kind`` (see `column_kind`).

    Missing values show as an en dash, infinite ones as ``∞``.
    """
    if isinstance(value, list | tuple | set | np.ndarray):
        return ", ".join(format_value(item, kind, currency) for item in value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return _MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | datetime | date):
        stamp = pd.Timestamp(value)
        return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"
    if not isinstance(value, int | float | np.integer | np.floating):
        text = str(value)
        return column_label(text) if kind == "column_name" else text
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if kind == "identifier":
        return f"{number:.0f}" if number == round(number) else str(value)
    if kind == "p_value":
        return "< 0.001" if number < 0.001 else f"{number:.3f}"
    if kind == "percent":
        return f"{number:.1%}"
    if kind == "money":
        return money_text(number, currency)
    if kind == "integer" or (isinstance(value, int | np.integer)):
        return f"{number:,.0f}"
    return _number(number)


def _meaningful_index(frame: pd.DataFrame) -> bool:
    """Whether the row index carries meaning (names, dates, labels) rather than positions 0, 1, 2."""
    index = frame.index
    if isinstance(index, pd.MultiIndex) or any(name is not None for name in index.names):
        return True
    if isinstance(index, pd.RangeIndex) or pd.api.types.is_integer_dtype(index):
        return False
    return True


def readable_frame(frame: pd.DataFrame, currency: str = "USD") -> pd.DataFrame:
    """``frame`` as text a reader reads: a meaningful index as the first column, every cell formatted.

    Columns are labelled with `column_label`; the result has a plain position index.
    """
    table = frame.copy()
    if _meaningful_index(table):
        names = [name if name is not None else "" for name in table.index.names]
        table.index = table.index.set_names(names)
        key_kind = "column_name" if names == [""] else None
        table = table.reset_index()
        if key_kind:
            table[""] = [format_value(value, "column_name") for value in table[""]]
    else:
        table = table.reset_index(drop=True)
    if isinstance(table.columns, pd.MultiIndex):
        table.columns = [" ".join(str(part) for part in column if str(part)) for column in table.columns]
    formatted = {}
    for position, name in enumerate(table.columns):
        column = table.iloc[:, position]
        kind = column_kind(name, column)
        formatted[column_label(name) if str(name) else ""] = [
            format_value(value, kind, currency) for value in column
        ]
    return pd.DataFrame(formatted, columns=list(formatted)).reset_index(drop=True)


def _width(texts: Sequence[str]) -> int:
    return max((len(text) for text in texts), default=0)


def _column_widths(table: pd.DataFrame) -> list[int]:
    """Characters each column takes: its widest cell, or its header wrapped at spaces (12 a line)."""
    widths = []
    for position, name in enumerate(table.columns):
        header = max(_width(str(name).split()), min(len(str(name)), 12))
        widths.append(max(header, _width(table.iloc[:, position].tolist())) + 2)
    return widths


def _key_column(table: pd.DataFrame) -> bool:
    """Whether the first column names its rows (distinct names or ids), so it can head a transposed table."""
    if table.shape[1] == 0 or not len(table):
        return False
    first = table.iloc[:, 0]
    measured = first.str.fullmatch(r"[-+−]?\d[\d,]*\.\d+%?|[-+−]?\d{1,3}(,\d{3})+|[-+−]?\d+%")
    return first.is_unique and not measured.any()


def fit_to_page(table: pd.DataFrame, page_characters: int = PAGE_CHARACTERS) -> list[pd.DataFrame]:
    """A formatted table as one or more tables that each fit across a page.

    A table that fits comes back as it is. One with a key column and no more rows than fit across a page
    is transposed (its columns become rows, labelled in the first column); any other is split into groups
    of columns, each repeating the key column when there is one.
    """
    widths = _column_widths(table)
    if sum(widths) <= page_characters or table.shape[1] <= 1:
        return [table]
    keyed = _key_column(table)
    headers = table.iloc[:, 0].tolist() if keyed else [str(number) for number in range(1, len(table) + 1)]
    body = table.iloc[:, 1:] if keyed else table
    transposed = pd.DataFrame(body.T.to_numpy(), columns=headers, index=range(body.shape[1]))
    transposed.insert(0, table.columns[0] if keyed else "", list(body.columns))
    if sum(_column_widths(transposed)) <= page_characters:
        return [transposed.reset_index(drop=True)]
    key_width = widths[0] if keyed else 0
    groups: list[list[int]] = [[]]
    used = key_width
    for position in range(1 if keyed else 0, table.shape[1]):
        if groups[-1] and used + widths[position] > page_characters:
            groups.append([])
            used = key_width
        groups[-1].append(position)
        used += widths[position]
    return [table.iloc[:, ([0] if keyed else []) + group] for group in groups]


def _styled_html(table: pd.DataFrame) -> str:
    """One formatted table as HTML through the pandas Styler: no index, numbers right-aligned."""
    numeric = [
        name
        for position, name in enumerate(table.columns)
        if table.iloc[:, position]
        .astype("string")
        .str.fullmatch(r"[-−+<∞–\d,.\s%eE]+|[A-Z]{3} [-\d,.]+")
        .all()
    ]
    from pandas.io.formats.style import Styler

    uuid = hashlib.sha1(table.to_json().encode()).hexdigest()[:8]
    styler = Styler(table, uuid=uuid, cell_ids=False).hide(axis="index")
    styler = styler.set_table_attributes('class="dataframe cba-table"')
    right = [{"selector": "td, th", "props": "text-align: right;"}]
    return styler.set_table_styles({name: right for name in numeric}).to_html()


def table_html(
    frame: pd.DataFrame,
    currency: str = "USD",
    max_rows: int = MAX_ROWS,
    page_characters: int = PAGE_CHARACTERS,
) -> str:
    """A DataFrame as HTML for readers: formatted (`readable_frame`), fitted to the page (`fit_to_page`).

    A table longer than ``max_rows`` shows its first rows, says how many it has, and keeps all rows
    (up to 500) in a ``<details class="all-rows">`` fold the print stylesheet hides.
    """
    table = readable_frame(frame, currency)
    rows = len(table)
    shown = table.head(max_rows)
    parts = [_styled_html(part) for part in fit_to_page(shown, page_characters)]
    blocks = [f'<div class="cba-table-part">{part}</div>' for part in parts]
    if rows > max_rows:
        blocks.append(
            f'<p class="table-note">The first {max_rows:,} of {rows:,} rows; the HTML book shows all of them '
            "below.</p>"
        )
        folded = table.head(_ALL_ROWS_LIMIT)
        left_out = (
            f" ({rows - _ALL_ROWS_LIMIT:,} more rows are in the stage's output file)"
            if rows > _ALL_ROWS_LIMIT
            else ""
        )
        inner = "".join(_styled_html(part) for part in fit_to_page(folded, page_characters))
        blocks.append(
            f'<details class="all-rows"><summary>All {min(rows, _ALL_ROWS_LIMIT):,} rows{left_out}</summary>'
            f"{inner}</details>"
        )
    return '<div class="cba-table-block">' + "".join(blocks) + "</div>"


def _styler_html(styler: Any, currency: str) -> str:
    """A Styler the notebook already formatted: its own number formats kept, no position index."""
    frame = styler.data
    if not _meaningful_index(frame):
        styler = styler.hide(axis="index")
    styler = styler.relabel_index([column_label(name) for name in frame.columns], axis="columns")
    styler.set_uuid(hashlib.sha1(frame.to_json(default_handler=str).encode()).hexdigest()[:8])
    return styler.set_table_attributes('class="dataframe cba-table"').to_html()


def register_table_formatter(currency: str = "USD") -> bool:
    """Make every DataFrame (and Styler) an IPython kernel displays render through `table_html`.

    Called by `cba.stages.setup`, so each stage notebook's ``display(frame)`` and last-line frames are
    formatted tables; the plain-text output stays as pandas writes it. Returns False outside IPython.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    from pandas.io.formats.style import Styler

    shell = get_ipython()
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    render: Callable[[pd.DataFrame], str] = lambda frame: table_html(frame, currency)  # noqa: E731
    formatter.for_type(pd.DataFrame, render)
    formatter.for_type(Styler, lambda styler: _styler_html(styler, currency))
    return True
