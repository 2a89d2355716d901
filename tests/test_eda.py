import datetime as dt

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from cba import behaviour, eda


def events() -> ibis.Table:
    rows = [
        # session 1 on a computer: view, cart, purchase (price 10)
        (1, "2024-02-05T10:00:00Z", "view", "Computer", "Fashion", 10.0),
        (1, "2024-02-05T10:01:00Z", "add_to_cart", "Computer", "Fashion", 10.0),
        (1, "2024-02-05T10:02:00Z", "purchase", "Computer", "Fashion", 10.0),
        # session 2 on a phone: view and cart, no purchase
        (2, "2024-02-05T11:00:00Z", "view", "Mobile Phone", "Grocery", 2.0),
        (2, "2024-02-05T11:01:00Z", "add_to_cart", "Mobile Phone", "Grocery", 2.0),
        # session 3 on a phone, next day: views only; one unparsable and one out-of-window time
        (3, "2024-02-06T09:00:00+05:30", "view", "Mobile Phone", "Grocery", 4.0),
        (3, "garbage", "view", "Mobile Phone", "Grocery", 4.0),
        (3, "2099-01-01T00:00:00Z", "purchase", "Mobile Phone", "Grocery", 99.0),
    ]
    frame = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "event_type", "device", "category", "price"]
    )
    return ibis.memtable(frame)


def test_funnel_by_device():
    table = behaviour.funnel(events(), "device")
    expected = pd.DataFrame(
        {
            "device": ["Computer", "Mobile Phone"],
            "view": [1, 2],
            "add_to_cart": [1, 1],
            "purchase": [1, 1],
            "conversion": [1.0, 0.5],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert behaviour.funnel_sentence(table, "device").startswith("By device, Computer converts best (100.0%")


def test_daily_activity_skips_bad_and_out_of_window_times():
    daily = behaviour.daily_activity(events(), dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert daily["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-05", "2024-02-06"]
    assert daily["events"].tolist() == [5, 1]
    assert daily["sessions"].tolist() == [2, 1]
    assert daily["orders"].tolist() == [1, 0]
    assert daily["revenue"].tolist() == [10.0, 0.0]
    assert "2 days" in behaviour.daily_activity_sentence(daily)


def test_price_by_category_orders_by_median():
    prices = behaviour.price_by_category(events())
    assert prices["category"].tolist() == ["Fashion", "Grocery"]
    assert prices["median"].tolist() == [10.0, 4.0]


def test_churn_by_segment_and_missing_values():
    customers = pd.DataFrame(
        {"Complain": [1, 1, 0, 0, None], "Churn": [1, 0, 0, 0, 1], "Tenure": [1, None, 3, 4, 5]}
    )
    table = eda.churn_by_segment(customers, "Complain")
    assert table.set_index("Complain")["churn_rate"].to_dict() == {"0": 0.0, "1": 0.5, "missing": 1.0}
    assert "highest for missing (100.0% of 1 customers)" in eda.churn_by_segment_sentence(table, "Complain")
    missing = eda.missing_values(customers)
    assert missing.values.tolist() == [["Complain", 1, 0.2], ["Tenure", 1, 0.2]]


def test_overview_counts_duplicates_and_blanks():
    table = ibis.memtable(pa.table({"a": [1, 1, None, None, 2], "b": ["x", "x", None, None, "x"]}))
    row = eda.overview({"t": table}).iloc[0]
    # rows 1 and 2 are equal, and so are the two blank rows; row 5 shares only a value of b
    assert (row["rows"], row["columns"], row["missing_cells"], row["duplicate_rows"]) == (5, 2, 4, 2)


def test_overview_compares_every_column_not_only_the_first():
    table = ibis.memtable(pd.DataFrame({"id": [1, 1, 1, 2], "value": ["x", "y", "x", "x"]}))
    row = eda.overview({"t": table, "empty": ibis.memtable(pd.DataFrame({"id": []}))})
    assert row["duplicate_rows"].tolist() == [1, 0]
    assert row["rows"].tolist() == [4, 0]


# --- funnel: overall and with a conversion window ----------------------------------------------------


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (None, [3, 2, 2, 0.6667]),  # session mode keeps the out-of-window 2099 purchase
        (2, [3, 2, 1, 0.3333]),  # session 1 buys 2 minutes after its view (the bound is inclusive)
        (1, [3, 2, 0, 0.0]),
    ],
    ids=["sessions", "two-minutes", "one-minute"],
)
def test_overall_funnel(window, expected):
    table = behaviour.funnel(events(), None, window)
    columns = ["segment", "view", "add_to_cart", "purchase", "conversion"]
    pd.testing.assert_frame_equal(
        table, pd.DataFrame([["all", *expected]], columns=columns), check_dtype=False
    )


def test_overall_funnel_sentence():
    table = behaviour.funnel(events(), None)
    assert behaviour.funnel_sentence(table, None) == (
        "Of 3 sessions with a view, 66.7% add to the cart and 66.7% purchase."
    )
    assert behaviour.funnel_figure(table, None).data


def test_funnel_window_by_device():
    table = behaviour.funnel(events(), "device", window_minutes=1)
    expected = pd.DataFrame(
        {
            "device": ["Computer", "Mobile Phone"],
            "view": [1, 2],
            "add_to_cart": [1, 1],
            "purchase": [0, 0],
            "conversion": [0.0, 0.0],
        }
    )
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_funnel_window_ignores_steps_before_the_first_view():
    frame = pd.DataFrame(
        {
            "session_id": [10, 10, 10],
            "timestamp": ["2024-03-01T12:00:00Z", "2024-03-01T12:05:00Z", "2024-03-01T12:06:00Z"],
            "event_type": ["add_to_cart", "view", "purchase"],
        }
    )
    windowed = behaviour.funnel(ibis.memtable(frame), None, window_minutes=5)
    assert windowed[["view", "add_to_cart", "purchase"]].values.tolist() == [[1, 0, 1]]
    sessions = behaviour.funnel(ibis.memtable(frame), None)
    assert sessions[["view", "add_to_cart", "purchase"]].values.tolist() == [[1, 1, 1]]


# --- cohorts ------------------------------------------------------------------------------------------


def customer_events() -> ibis.Table:
    rows = [
        (1, "2024-01-15T08:00:00Z"),
        (1, "2024-02-10T08:00:00Z"),
        (1, "2024-03-05T08:00:00Z"),
        (2, "2024-01-20T08:00:00Z"),
        (2, "2024-03-01T08:00:00Z"),
        (3, "2024-02-03T08:00:00Z"),
        (3, "2024-02-20T08:00:00Z"),
        (3, "2024-03-31T23:30:00-01:00"),  # 1 April in UTC: after the window
        (4, "garbage"),
        (4, "2023-12-31T23:00:00Z"),  # before the window
        (4, "2024-03-10T08:00:00Z"),
        (None, "2024-01-02T08:00:00Z"),  # no customer
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp"]).astype({"customer_id": "Int64"})
    return ibis.memtable(frame)


def test_cohort_retention():
    matrix = behaviour.cohort_retention(customer_events(), dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    nan = float("nan")
    expected = pd.DataFrame(
        [[1.0, 0.5, 1.0], [1.0, 0.0, nan], [1.0, nan, nan]],
        index=pd.Index(["2024-01", "2024-02", "2024-03"], name="cohort"),
        columns=pd.Index([0, 1, 2], name="months_since"),
    )
    pd.testing.assert_frame_equal(matrix, expected)
    assert behaviour.cohort_retention_sentence(matrix) == (
        "On average over 2 monthly cohorts, 25.0% of a cohort's customers are active again the month "
        "after their first; the 2024-01 cohort keeps the most (50.0%) and the 2024-02 cohort the fewest "
        "(0.0%)."
    )
    assert behaviour.cohort_retention_figure(matrix).data


def test_cohort_retention_without_events_in_the_window():
    matrix = behaviour.cohort_retention(customer_events(), dt.date(2030, 1, 1), dt.date(2030, 3, 31))
    assert matrix.empty
    assert behaviour.cohort_retention_sentence(matrix).startswith("No event timestamp parses")


# --- products -----------------------------------------------------------------------------------------


def product_events() -> ibis.Table:
    rows = [
        ("P1", "Fashion", "view", 10.0),
        ("P1", "Fashion", "view", 10.0),
        ("P1", "Fashion", "add_to_cart", 10.0),
        ("P1", "Fashion", "purchase", 10.0),
        ("P2", "Grocery", "view", 3.0),
        ("P2", "Grocery", "view", 3.0),
        ("P2", "Grocery", "view", 3.0),
        ("P2", "Grocery", "view", 3.0),
        ("P2", "Grocery", "purchase", 3.0),
        ("P2", "Grocery", "purchase", 3.0),
        ("P3", "Grocery", "view", 1.0),
        ("P4", "Fashion", "purchase", 20.0),  # bought without a view
        (None, "Fashion", "view", 5.0),  # no product
    ]
    frame = pd.DataFrame(rows, columns=["product_id", "category", "event_type", "price"])
    return ibis.memtable(frame)


ITEM_COLUMNS = ["views", "carts", "purchases", "revenue", "conversion"]


def test_top_products_by_revenue():
    table = behaviour.top_products(product_events(), "product_id", top_n=3)
    expected = pd.DataFrame(
        [["P4", 0, 0, 1, 20.0, float("nan")], ["P1", 2, 1, 1, 10.0, 0.5], ["P2", 4, 0, 2, 6.0, 0.5]],
        columns=["product_id", *ITEM_COLUMNS],
    )
    pd.testing.assert_frame_equal(table, expected)
    assert behaviour.top_products_sentence(table) == (
        "P4 earns the most (20.00 from 1 purchase); the top 3 products together earn 36.00."
    )
    assert behaviour.top_products_figure(table).data


def test_top_categories_by_revenue():
    table = behaviour.top_products(product_events(), "category")
    expected = pd.DataFrame(
        [["Fashion", 3, 1, 2, 30.0, 0.6667], ["Grocery", 5, 0, 2, 6.0, 0.4]],
        columns=["category", *ITEM_COLUMNS],
    )
    pd.testing.assert_frame_equal(table, expected)


def test_top_products_by_conversion_needs_enough_views():
    table = behaviour.top_products_by_conversion(product_events(), "product_id", min_views=2)
    expected = pd.DataFrame(
        [["P2", 4, 0, 2, 6.0, 0.5], ["P1", 2, 1, 1, 10.0, 0.5]],  # a tie: more views first
        columns=["product_id", *ITEM_COLUMNS],
    )
    pd.testing.assert_frame_equal(table, expected)
    assert behaviour.top_products_sentence(table, "product_id", "conversion") == (
        "P2 converts best (50.0% of its 4 views end in a purchase); P1, last of the top 2 products, "
        "converts 50.0%."
    )


def test_top_products_without_the_column():
    events_without_products = ibis.memtable(pd.DataFrame({"event_type": ["view"], "price": [1.0]}))
    table = behaviour.top_products(events_without_products, "product_id")
    assert table.empty and list(table.columns) == ["product_id", *ITEM_COLUMNS]
    assert behaviour.top_products_by_conversion(events_without_products).empty
    assert behaviour.top_products_sentence(table) == "No products to rank."


def test_top_products_without_prices_ranks_by_purchases():
    frame = pd.DataFrame({"product_id": ["P1", "P2", "P2"], "event_type": ["view", "purchase", "purchase"]})
    table = behaviour.top_products(ibis.memtable(frame))
    assert table["product_id"].tolist() == ["P2", "P1"]
    assert table["revenue"].isna().all()


def test_event_tables_without_optional_columns():
    log = ibis.memtable(pd.DataFrame({"timestamp": ["2024-01-01T00:00:00Z"], "event_type": ["purchase"]}))
    assert behaviour.funnel(log, "device").empty
    assert behaviour.funnel(log, None, window_minutes=5).empty
    assert behaviour.price_by_category(log).empty
    assert behaviour.cohort_retention(log, dt.date(2024, 1, 1), dt.date(2024, 1, 31)).empty


# --- data quality -------------------------------------------------------------------------------------


def test_schema_summary():
    frame = pd.DataFrame(
        {
            "amount": [1.0, 2.0, None, 4.0],
            "label": ["y", "x", "y", "x"],  # a tie: the smaller value is the top
            "blank": [None, None, None, None],
            "count": [5, 5, 7, 5],
        }
    )
    expected = pd.DataFrame(
        {
            "column": ["amount", "label", "blank", "count"],
            "dtype": ["float64", "object", "object", "int64"],
            "non_null": [3, 4, 0, 4],
            "missing_share": [0.25, 0.0, 1.0, 0.0],
            "distinct": [3, 2, 0, 2],
            "min": pd.Series([1.0, None, None, 5], dtype=object),
            "max": pd.Series([4.0, None, None, 7], dtype=object),
            "top": pd.Series([None, "x", None, None], dtype=object),
        }
    )
    pd.testing.assert_frame_equal(eda.schema_summary(frame), expected)


def outlier_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6, 7],  # an identifier: not checked by default
            "spend": [1, 2, 3, 4, 100, None, None],  # median 3, MAD 1
            "visits": [0, 0, 0, 0, 0, 1, 50],  # MAD 0: IQR fences from Q1 0 and Q3 0.5
            "flag": [0, 1, 0, 1, 0, 1, 0],  # a 0/1 flag: not checked by default
            "name": list("abcdefg"),
        }
    )


def test_numeric_outliers_mad_and_iqr_fences():
    table = eda.numeric_outliers(outlier_frame())
    spread = 3.5 * 1.4826
    expected = pd.DataFrame(
        {
            "column": ["spend", "visits"],
            "method": ["mad", "iqr"],
            "lower": [round(3 - spread, 4), -0.75],
            "upper": [round(3 + spread, 4), 1.25],
            "outliers": [1, 1],
            "share": [0.2, 0.1429],
        }
    )
    pd.testing.assert_frame_equal(table, expected)
    assert eda.numeric_outliers_sentence(table) == (
        "2 of 2 numeric columns have values beyond their robust fences; spend has the largest share "
        "(20.0% of its values, 1 outlier)."
    )
    assert eda.numeric_distribution_figure(outlier_frame(), "spend").data


def test_numeric_outliers_skips_absent_and_text_columns():
    table = eda.numeric_outliers(outlier_frame(), columns=["visits", "absent", "name"])
    assert table["column"].tolist() == ["visits"]
    empty = eda.numeric_outliers(pd.DataFrame({"customer_id": [1, 2]}))
    assert empty.empty
    assert eda.numeric_outliers_sentence(empty) == (
        "None of the 0 numeric columns has values beyond its robust fences."
    )


# --- customers ----------------------------------------------------------------------------------------


def test_demographics_present_columns_only():
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "Gender": ["Male", "Female", "Male", None],
            "CityTier": [1.0, 3.0, None, 1.0],
        }
    )
    table = eda.demographics(customers)
    expected = pd.DataFrame(
        {
            "column": ["Gender"] * 3 + ["CityTier"] * 3,
            "level": ["Male", "Female", "missing", "1", "3", "missing"],
            "customers": [2, 1, 1, 2, 1, 1],
            "share": [0.5, 0.25, 0.25, 0.5, 0.25, 0.25],
        }
    )
    pd.testing.assert_frame_equal(table, expected)
    assert eda.demographics_sentence(table) == (
        "The most common levels are: Gender Male (50.0%), CityTier 1 (50.0%)."
    )
    assert eda.demographics_figure(table).data


def test_demographics_without_attributes():
    table = eda.demographics(pd.DataFrame({"customer_id": [1], "signup_date": [dt.date(2024, 1, 1)]}))
    assert table.empty and list(table.columns) == ["column", "level", "customers", "share"]
    assert eda.demographics_sentence(table).startswith("The customers table holds none")


def test_churn_by_binned_quantiles_and_blanks():
    customers = pd.DataFrame({"Tenure": [1, 2, 3, 4, 5, 6, None, 8], "Churn": [1, 1, 0, 0, 0, 1, 1, 0]})
    table = eda.churn_by_binned(customers, "Tenure", bins=2)  # edges 1, 4 (the median), 8
    expected = pd.DataFrame(
        {
            "Tenure": pd.Series(["[1, 4]", "(4, 8]", "missing"], dtype="string"),
            "customers": [4, 3, 1],
            "churn_rate": [0.5, 0.3333, 1.0],
        }
    )
    pd.testing.assert_frame_equal(table, expected)
    assert eda.churn_by_segment_sentence(table, "Tenure") == (
        "By Tenure, churn is highest for missing (100.0% of 1 customers) and lowest for (4, 8] (33.3%)."
    )


def test_churn_by_binned_constant_absent_and_text_columns():
    customers = pd.DataFrame({"Score": [2.5, 2.5, 2.5], "Gender": ["F", "M", "F"], "Churn": [1, 0, 0]})
    constant = eda.churn_by_binned(customers, "Score")
    assert constant.values.tolist() == [["2.5", 3, 0.3333]]
    assert eda.churn_by_binned(customers, "Tenure").empty
    assert eda.churn_by_binned(customers.drop(columns="Churn"), "Score").empty
    with pytest.raises(TypeError, match="Gender"):
        eda.churn_by_binned(customers, "Gender")
