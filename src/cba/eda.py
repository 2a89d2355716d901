"""The profile of the landed (not yet cleaned) tables: schema, gaps, outliers, demographics, churn by segment.

Each figure has a companion ``*_sentence`` function that states, from the same table, what it shows. The
event behaviour (daily activity, cohorts, the funnel, prices, top products) is in :mod:`cba.behaviour`.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from cba import schema
from cba.schema import segment_levels

__all__ = [
    "CHURN_BINNED_COLUMNS",
    "CHURN_SEGMENTS",
    "DEMOGRAPHIC_COLUMNS",
    "churn_by_binned",
    "churn_by_segment",
    "churn_by_segment_figure",
    "churn_by_segment_sentence",
    "count_of",
    "demographics",
    "demographics_figure",
    "demographics_sentence",
    "missing_values",
    "missing_values_sentence",
    "numeric_distribution_figure",
    "numeric_outliers",
    "numeric_outliers_sentence",
    "overview",
    "schema_summary",
]

DEMOGRAPHIC_COLUMNS = ("Gender", "MaritalStatus", "CityTier", "PreferredLoginDevice")
"""Customer attributes described by :func:`demographics` by default."""

CHURN_SEGMENTS = ("Complain", "SatisfactionScore", "CityTier", "PreferredLoginDevice", "MaritalStatus")
"""Customer attributes whose levels the chapter compares by churn rate."""

CHURN_BINNED_COLUMNS = ("Tenure", "CashbackAmount", "WarehouseToHome")
"""Numeric customer attributes the chapter compares by churn rate, in quantile bins."""

_MAD_SCALE = 1.4826
"""Scales the median absolute deviation to the standard deviation of a normal distribution."""


def overview(tables: dict[str, ibis.Table]) -> pd.DataFrame:
    """Rows, columns, missing cells and exact duplicate rows per table (blanks equal blanks).

    Computed where the tables are (aggregates on their engine). A duplicate shares every column, so only
    the rows whose first column repeats are compared on all of them.
    """
    rows = []
    for name, table in tables.items():
        counts = table.aggregate(
            _rows=table.count(), **{f"_filled_{i}": table[c].count() for i, c in enumerate(table.columns)}
        ).to_pandas()
        filled = sum(int(counts[f"_filled_{i}"].iloc[0]) for i in range(len(table.columns)))
        row_count = int(counts["_rows"].iloc[0])
        rows.append(
            {
                "table": name,
                "rows": row_count,
                "columns": len(table.columns),
                "missing_cells": row_count * len(table.columns) - filled,
                "duplicate_rows": _duplicate_rows(table),
            }
        )
    return pd.DataFrame(rows)


def _duplicate_rows(table: ibis.Table) -> int:
    """Rows equal on every column to an earlier row.

    Only rows whose key (the first ``*_id`` column, else the first column) repeats are compared on every
    column: an id repeats far less often than a time stamp, so few rows reach the full comparison.
    """
    if not table.columns:
        return 0
    key = next((c for c in table.columns if c.endswith("_id")), table.columns[0])
    per_key = table.group_by(key).aggregate(_rows=table.count())
    repeated_keys = per_key.filter(per_key._rows > 1).select(_key=per_key[key])
    repeated = table.semi_join(repeated_keys, table[key].identical_to(repeated_keys._key))
    copies = repeated.group_by(repeated.columns).aggregate(_copies=repeated.count())
    return int((copies._copies - 1).sum().fill_null(0).execute())


def missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column with at least one, as a count and a share of rows."""
    missing = frame.isna().sum()
    missing = missing[missing > 0]
    return pd.DataFrame(
        {
            "column": missing.index,
            "missing": missing.to_numpy(),
            "share": (missing / len(frame)).round(4).to_numpy(),
        }
    ).reset_index(drop=True)


def missing_values_sentence(missing: pd.DataFrame) -> str:
    """How many columns have blanks, and the range of their shares."""
    if not len(missing):
        return "No column has blanks."
    return (
        f"{len(missing)} columns have blanks, from {missing['share'].min():.1%} to "
        f"{missing['share'].max():.1%} of rows."
    )


def count_of(number: int, noun: str) -> str:
    """``"1 view"``, ``"2,000 views"``."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


# --- churn by segment ---------------------------------------------------------------------------------


def churn_by_segment(customers: pd.DataFrame, segment: str, label: str = "Churn") -> pd.DataFrame:
    """Customers and churn rate per level of ``segment``."""
    if segment not in customers.columns:
        raise KeyError(f"{segment!r} is not a column of the customers table ({schema.CUSTOMERS.name})")
    grouped = customers.groupby(segment_levels(customers[segment]))[label]
    return grouped.agg(customers="size", churn_rate="mean").round(4).reset_index()


def churn_by_segment_figure(table: pd.DataFrame, segment: str) -> go.Figure:
    """Churn rate per level of ``segment``."""
    return px.bar(table, x=segment, y="churn_rate", title=f"Churn rate by {segment}")


def churn_by_segment_sentence(table: pd.DataFrame, segment: str) -> str:
    """Highest and lowest churn levels."""
    high = table.loc[table["churn_rate"].idxmax()]
    low = table.loc[table["churn_rate"].idxmin()]
    return (
        f"By {segment}, churn is highest for {high[segment]} ({high['churn_rate']:.1%} of "
        f"{high['customers']:,} customers) and lowest for {low[segment]} ({low['churn_rate']:.1%})."
    )


def churn_by_binned(
    customers: pd.DataFrame, column: str, bins: int = 5, label: str = "Churn"
) -> pd.DataFrame:
    """Customers and churn rate per quantile bin of the numeric ``column``.

    Bins come from :func:`pandas.qcut` over the non-blank values, with repeated edges dropped, so a
    skewed column may give fewer than ``bins`` bins (a constant one gives a single level). Levels read
    ``[low, high]`` for the first bin and ``(low, high]`` after it (edges to two decimals); blanks form
    a last ``"missing"`` level. For a column with few distinct values (flags, scores) prefer
    :func:`churn_by_segment`. The table has the shape of :func:`churn_by_segment`'s, so its figure
    and sentence apply.

    Parameters
    ----------
    customers
        One row per customer.
    column
        A numeric column, e.g. ``Tenure`` or ``CashbackAmount``.
    bins
        Number of quantile bins asked for.
    label
        The churn label column (1 churned, 0 stayed).

    Returns
    -------
    pandas.DataFrame
        ``column`` (bin level as text, in bin order), ``customers`` and ``churn_rate``; empty when
        ``column`` or ``label`` is not in ``customers``.

    Raises
    ------
    TypeError
        When ``column`` is present but not numeric.
    """
    empty = pd.DataFrame({column: pd.Series(dtype="string"), "customers": [], "churn_rate": []})
    if column not in customers.columns or label not in customers.columns:
        return empty.astype({"customers": "int64", "churn_rate": "float64"})
    values = customers[column]
    if not _is_number(values):
        raise TypeError(f"{column!r} of the customers table is not numeric; use churn_by_segment")
    present = values.dropna().astype("float64")
    codes = pd.Series(np.nan, index=values.index)
    levels: list[str] = []
    if len(present):
        edges = pd.qcut(present, q=bins, retbins=True, duplicates="drop")[1]
        if len(edges) < 2:
            levels = [_number(edges[0])]
            codes[values.notna()] = 0
        else:
            levels = [f"[{_number(edges[0])}, {_number(edges[1])}]"] + [
                f"({_number(low)}, {_number(high)}]" for low, high in zip(edges[1:-1], edges[2:], strict=True)
            ]
            codes = pd.Series(
                pd.cut(values.astype("float64"), edges, labels=False, include_lowest=True),
                index=values.index,
            )
    codes = codes.fillna(len(levels)).astype("int64")
    table = customers.groupby(codes.to_numpy())[label].agg(customers="size", churn_rate="mean")
    names = [*levels, "missing"]
    table.index = pd.Index([names[code] for code in table.index], dtype="string", name=column)
    return table.round(4).reset_index()


def _number(value: float) -> str:
    """A bin edge as short text: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# --- data quality -------------------------------------------------------------------------------------


def schema_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per column: its type, how full it is, how many distinct values, and its range or mode.

    Parameters
    ----------
    frame
        Any table, e.g. the landed customers.

    Returns
    -------
    pandas.DataFrame
        ``column``, ``dtype``, ``non_null`` (count), ``missing_share`` (of rows, 4 decimals),
        ``distinct`` (non-blank values), ``min`` and ``max`` (numeric and datetime columns, else blank)
        and ``top`` (the most frequent value of any other column, ties broken by the smallest value as
        text; blank for numeric columns).
    """
    rows = []
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        ordered = (
            pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        ) or pd.api.types.is_datetime64_any_dtype(values)
        low = high = top = None
        if len(present) and ordered:
            low, high = present.min(), present.max()
        elif len(present):
            counts = present.value_counts(sort=False)
            top = min(counts.index[counts == counts.max()], key=str)
        rows.append(
            {
                "column": column,
                "dtype": str(values.dtype),
                "non_null": len(present),
                "missing_share": round(1 - len(present) / len(frame), 4) if len(frame) else 0.0,
                "distinct": present.nunique(),
                "min": _scalar(low),
                "max": _scalar(high),
                "top": _scalar(top),
            }
        )
    columns = ["column", "dtype", "non_null", "missing_share", "distinct", "min", "max", "top"]
    summary = {name: pd.Series([row[name] for row in rows], dtype=object) for name in columns}
    return pd.DataFrame(summary).astype(
        {"non_null": "int64", "missing_share": "float64", "distinct": "int64"}
    )


def _scalar(value: object) -> object:
    """A NumPy scalar as the matching Python scalar (other values unchanged)."""
    return value.item() if isinstance(value, np.generic) else value


def _fences(values: pd.Series, threshold: float, iqr_multiplier: float) -> tuple[str, float, float]:
    """Robust outlier fences of non-blank numbers: median ± threshold × scaled MAD, or IQR fences."""
    median = values.median()
    mad = (values - median).abs().median()
    if mad > 0:
        spread = threshold * _MAD_SCALE * mad
        return "mad", median - spread, median + spread
    q1, q3 = values.quantile(0.25), values.quantile(0.75)
    iqr = q3 - q1
    return "iqr", q1 - iqr_multiplier * iqr, q3 + iqr_multiplier * iqr


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns worth checking: not boolean, not identifiers (``*_id``), not 0/1-like flags."""
    return [
        column
        for column in frame.columns
        if _is_number(frame[column]) and not str(column).endswith("_id") and frame[column].nunique() > 2
    ]


def numeric_outliers(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    threshold: float = 3.5,
    iqr_multiplier: float = 1.5,
) -> pd.DataFrame:
    """Robust outliers per numeric column.

    A value is an outlier when it falls outside ``median ± threshold × 1.4826 × MAD`` (the median
    absolute deviation scaled to a normal standard deviation). When the MAD is 0 (more than half the
    values equal), the fences are Tukey's instead: ``Q1 - iqr_multiplier × IQR`` and
    ``Q3 + iqr_multiplier × IQR``. Blanks are ignored.

    Parameters
    ----------
    frame
        Any table.
    columns
        Columns to check; by default every numeric, non-boolean column not named ``*_id`` and with
        more than two distinct values (0/1 flags and labels have no outliers to speak of). Columns
        absent from ``frame`` or not numeric are skipped.
    threshold
        Scaled MADs from the median to a fence.
    iqr_multiplier
        Interquartile ranges beyond the quartiles to a fence, when the MAD is 0.

    Returns
    -------
    pandas.DataFrame
        ``column``, ``method`` (``"mad"`` or ``"iqr"``), ``lower`` and ``upper`` (fences, 4 decimals),
        ``outliers`` (count) and ``share`` (of the column's non-blank values, 4 decimals). Columns
        with no values are left out.
    """
    if columns is None:
        columns = _numeric_columns(frame)
    rows = []
    for column in (c for c in columns if c in frame.columns and _is_number(frame[c])):
        values = frame[column].dropna().astype("float64")
        if values.empty:
            continue
        method, lower, upper = _fences(values, threshold, iqr_multiplier)
        outliers = int(((values < lower) | (values > upper)).sum())
        rows.append(
            {
                "column": column,
                "method": method,
                "lower": round(lower, 4),
                "upper": round(upper, 4),
                "outliers": outliers,
                "share": round(outliers / len(values), 4),
            }
        )
    names = ["column", "method", "lower", "upper", "outliers", "share"]
    table = pd.DataFrame(rows, columns=names)
    return table.astype({"lower": "float64", "upper": "float64", "outliers": "int64", "share": "float64"})


def numeric_outliers_sentence(table: pd.DataFrame) -> str:
    """How many columns have outliers, and which has the largest share."""
    flagged = table[table["outliers"] > 0]
    if flagged.empty:
        return f"None of the {len(table)} numeric columns has values beyond its robust fences."
    worst = flagged.loc[flagged["share"].idxmax()]
    return (
        f"{len(flagged)} of {len(table)} numeric columns have values beyond their robust fences; "
        f"{worst['column']} has the largest share ({worst['share']:.1%} of its values, "
        f"{count_of(worst['outliers'], 'outlier')})."
    )


def numeric_distribution_figure(
    frame: pd.DataFrame, column: str, *, threshold: float = 3.5, iqr_multiplier: float = 1.5
) -> go.Figure:
    """Histogram of a numeric column, with the outlier fences of :func:`numeric_outliers` drawn in."""
    figure = px.histogram(frame, x=column, title=f"Distribution of {column} (dashed: outlier fences)")
    values = frame[column].dropna().astype("float64")
    if len(values):
        _, lower, upper = _fences(values, threshold, iqr_multiplier)
        for fence in (lower, upper):
            if values.min() <= fence <= values.max():
                figure.add_vline(x=fence, line_dash="dash")
    return figure


# --- customers ----------------------------------------------------------------------------------------


def demographics(customers: pd.DataFrame, columns: Sequence[str] = DEMOGRAPHIC_COLUMNS) -> pd.DataFrame:
    """Customers per level of each demographic attribute, as a long table.

    Parameters
    ----------
    customers
        One row per customer.
    columns
        Attributes to describe; those absent from ``customers`` are skipped.

    Returns
    -------
    pandas.DataFrame
        ``column``, ``level`` (as text, see :func:`segment_levels`; blanks as ``"missing"``),
        ``customers`` and ``share`` (of all customers, 4 decimals); within a column, the largest level
        first (ties by level). Empty when no column is present.
    """
    parts = []
    for column in (c for c in columns if c in customers.columns):
        counts = segment_levels(customers[column]).value_counts(sort=False)
        part = pd.DataFrame(
            {"column": column, "level": counts.index.astype(str), "customers": counts.to_numpy()}
        )
        parts.append(part.sort_values(["customers", "level"], ascending=[False, True]))
    if not parts:
        parts = [pd.DataFrame({"column": [], "level": [], "customers": []})]
    table = pd.concat(parts, ignore_index=True).astype(
        {"column": object, "level": object, "customers": "int64"}
    )
    table["share"] = (table["customers"] / len(customers)).round(4) if len(customers) else 0.0
    return table


def demographics_figure(table: pd.DataFrame) -> go.Figure:
    """Share of customers per level, one panel per attribute."""
    figure = px.bar(
        table,
        x="level",
        y="share",
        facet_col="column",
        facet_col_wrap=2,
        title="Customers by demographic attribute",
    )
    figure.update_xaxes(matches=None, showticklabels=True, type="category")
    figure.for_each_annotation(lambda annotation: annotation.update(text=annotation.text.split("=")[-1]))
    return figure


def demographics_sentence(table: pd.DataFrame) -> str:
    """The most common level of each attribute."""
    if table.empty:
        return "The customers table holds none of the demographic attributes."
    leaders = table.loc[table.groupby("column", sort=False)["customers"].idxmax()]
    parts = [f"{row.column} {row.level} ({row.share:.1%})" for row in leaders.itertuples()]
    return f"The most common levels are: {', '.join(parts)}."
