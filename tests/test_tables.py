import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from cba import tables


def test_readable_frame_drops_the_position_index_and_formats_by_column_name():
    frame = pd.DataFrame(
        {
            "table": ["customers", "events"],
            "rows": [10125, 504969],
            "missing_share": [0.0496, 0.0],
            "revenue_at_risk": [3108928.55, 4.5],
            "customer_id": [50001, 50002],
            "p_value": [3.1e-18, 0.0058],
            "OrderAmountHikeFromlastYear": [11.0, 15.0],
        }
    )

    readable = tables.readable_frame(frame, currency="EUR")

    expected = pd.DataFrame(
        {
            "Table": ["customers", "events"],
            "Rows": ["10,125", "504,969"],
            "Missing share": ["5.0%", "0.0%"],
            tables.column_label("revenue_at_risk"): ["EUR 3,108,929", "EUR 4.50"],
            tables.column_label("customer_id"): ["50001", "50002"],
            "P-value": ["< 0.001", "0.006"],
            tables.column_label("OrderAmountHikeFromlastYear"): ["11", "15"],
        }
    )
    pd.testing.assert_frame_equal(readable, expected)


def test_a_meaningful_index_becomes_the_first_column_with_labels():
    described = pd.DataFrame({"mean": [342.43, 4.92]}, index=["tenure_days", "frequency"])

    readable = tables.readable_frame(described)

    assert readable.columns.tolist() == ["", "Mean"]
    assert readable[""].tolist() == [tables.column_label("tenure_days"), tables.column_label("frequency")]
    assert readable["Mean"].tolist() == ["342.4", "4.92"]


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (float("nan"), "number", "–"),
        (float("inf"), "number", "∞"),
        (0.25, "percent", "25.0%"),
        (1234567, "integer", "1,234,567"),
        (0.0004, "number", "4.0e-04"),
        (pd.Timestamp("2024-10-01"), "date", "2024-10-01"),
        (True, "boolean", "yes"),
        ([50042, 50043], "identifier", "50042, 50043"),
        ("MaritalStatus=Single", "column_name", tables.column_label("MaritalStatus=Single")),
    ],
    ids=["missing", "infinite", "percent", "thousands", "tiny", "date", "boolean", "list", "column name"],
)
def test_format_value(value, kind, text):
    assert tables.format_value(value, kind) == text


def test_a_rate_outside_zero_to_one_is_not_a_percentage():
    assert tables.column_kind("conversion", pd.Series([0.2, 0.5])) == "percent"
    assert tables.column_kind("conversion", pd.Series([12.5, 40.0])) == "number"


def test_a_wide_table_with_few_rows_is_transposed_to_fit():
    wide = pd.DataFrame({f"attribute_{n}": [1000.5 * n, 2.5] for n in range(20)})
    wide.insert(0, "customer_id", ["50001", "50002"])

    parts = tables.fit_to_page(tables.readable_frame(wide), page_characters=60)

    assert len(parts) == 1
    assert parts[0].columns.tolist() == [tables.column_label("customer_id"), "50001", "50002"]
    assert len(parts[0]) == 20


def test_a_wide_and_long_table_is_split_into_column_groups_that_fit():
    wide = pd.DataFrame({f"attribute_{n}": np.arange(40) * 1000.5 for n in range(12)})
    wide.insert(0, "name", [f"row {n}" for n in range(40)])

    parts = tables.fit_to_page(tables.readable_frame(wide), page_characters=60)

    assert len(parts) > 1
    assert all(part.columns[0] == "Name" for part in parts)
    assert sum(part.shape[1] - 1 for part in parts) == 12
    assert all(sum(tables._column_widths(part)) <= 60 for part in parts)


def test_a_long_table_shows_its_first_rows_and_folds_the_rest():
    long = pd.DataFrame({"rule": [f"rule {n}" for n in range(40)], "rows": range(40)})

    html = tables.table_html(long, max_rows=10)

    assert "The first 10 of 40 rows" in html
    assert '<details class="all-rows"><summary>All 40 rows</summary>' in html
    assert html.count("<table") == 2
    assert ">rule 39<" in html.split("<details")[1] and ">rule 39<" not in html.split("<details")[0]


def test_table_html_is_the_same_bytes_every_time():
    frame = pd.DataFrame({"segment": ["a", "b"], "churn_rate": [0.1, 0.2]})

    assert tables.table_html(frame) == tables.table_html(frame.copy())
    assert "<th" in tables.table_html(frame) and ">0<" not in tables.table_html(frame)


def test_the_formatter_renders_every_displayed_frame_as_a_formatted_table():
    shell = InteractiveShell.instance()
    try:
        assert tables.register_table_formatter(currency="GBP")
        formatted, _ = shell.display_formatter.format(pd.DataFrame({"revenue": [1234.0]}))
    finally:
        InteractiveShell.clear_instance()

    assert "GBP 1,234" in formatted["text/html"]
    assert "revenue" in formatted["text/plain"]


def test_outside_ipython_the_formatter_is_not_registered():
    assert tables.register_table_formatter() is False


def test_the_books_long_markdown_tables_follow_the_same_rule():
    from cba.report.markdown import long_table

    rows = [(f"key {n}", n) for n in range(tables.MAX_ROWS + 5)]

    shown, fold = long_table(["Key", "Value"], rows)

    assert len(shown) == 2 + tables.MAX_ROWS and "| key 0 | 0 |" in shown
    assert f"The first {tables.MAX_ROWS} of {len(rows)} rows are shown above." in fold
    assert '<details class="all-rows"><summary>All 20 rows</summary>' in "\n".join(fold)
    assert fold[0] == '::: {.content-visible when-format="html"}'
    assert long_table(["Key", "Value"], rows[:3]) == (shown[:2] + shown[2:5], [])


def test_time_spent_is_not_money():
    assert tables.column_kind("HourSpendOnApp", pd.Series([3.0, 2.5])) == "number"
    assert tables.column_kind("total_spend", pd.Series([3.0, 2.5])) == "money"


def test_a_styled_frame_keeps_its_formats_and_loses_the_position_index():
    shell = InteractiveShell.instance()
    styled = pd.DataFrame({"rfm_segment": ["champions"], "churn_rate": [0.123]}).style.format(
        {"churn_rate": "{:.1%}"}
    )
    try:
        tables.register_table_formatter()
        formatted, _ = shell.display_formatter.format(styled)
    finally:
        InteractiveShell.clear_instance()

    html = formatted["text/html"]
    assert "12.3%" in html and tables.column_label("churn_rate") in html and "rfm_segment" not in html
    assert 'class="row_heading' not in html


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("roc_auc", "ROC-AUC"),
        ("cv_roc_auc", "CV ROC-AUC"),
        ("xgboost_smote", "XGBoost SMOTE"),
        ("p_value", "P-value"),
    ],
    ids=["metric", "cross-validated", "model", "p-value"],
)
def test_column_labels_spell_abbreviations_as_readers_do(name, label):
    assert tables.column_label(name) == label


def test_an_empty_or_blank_table_renders():
    empty = pd.DataFrame({"column": pd.Series([], dtype=float), "outliers": pd.Series([], dtype=float)})
    blank = pd.DataFrame({"share": [0.5, None], "name": ["a", None]})

    assert "<table" in tables.table_html(empty, "USD")
    assert "50.0%" in tables.table_html(blank, "USD") or "50%" in tables.table_html(blank, "USD")
