import datetime as dt

import ibis
import pandas as pd
import pyarrow as pa

from cba import eda


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
    table = eda.funnel(events(), "device")
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
    assert eda.funnel_sentence(table, "device").startswith("By device, Computer converts best (100.0%")


def test_daily_activity_skips_bad_and_out_of_window_times():
    daily = eda.daily_activity(events(), dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert daily["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-02-05", "2024-02-06"]
    assert daily["events"].tolist() == [5, 1]
    assert daily["sessions"].tolist() == [2, 1]
    assert daily["orders"].tolist() == [1, 0]
    assert daily["revenue"].tolist() == [10.0, 0.0]
    assert "2 days" in eda.daily_activity_sentence(daily)


def test_price_by_category_orders_by_median():
    prices = eda.price_by_category(events())
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
    table = pa.table({"a": [1, 1, None], "b": ["x", "x", "y"]})
    row = eda.overview({"t": table}).iloc[0]
    assert (row["rows"], row["columns"], row["missing_cells"], row["duplicate_rows"]) == (3, 2, 1, 1)
