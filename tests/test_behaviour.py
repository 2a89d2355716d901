"""The behaviour numbers the eda stage writes for the report: active customers, funnel drop-off, summary."""

import datetime as dt

import ibis
import pandas as pd

from cba import behaviour


def funnel_table(by: str, rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[by, "view", "add_to_cart", "purchase"])
    frame["conversion"] = (frame["purchase"] / frame["view"]).round(4)
    return frame


OVERALL = funnel_table("segment", [("all", 1000, 300, 240)])
BY_DEVICE = funnel_table("device", [("Computer", 500, 200, 160), ("Mobile Phone", 500, 100, 80)])
BY_CATEGORY = funnel_table("category", [("Fashion", 600, 190, 150), ("Grocery", 400, 110, 90)])


def test_active_customers_counts_distinct_customers_per_day_and_skips_bad_times():
    frame = pd.DataFrame(
        [
            (1, "2024-02-05T10:00:00Z"),
            (1, "2024-02-05T12:00:00Z"),  # the same customer again that day
            (2, "2024-02-05T23:30:00-01:00"),  # 00:30 UTC on the next day
            (3, "garbage"),
            (4, "2099-01-01T00:00:00Z"),
        ],
        columns=["customer_id", "timestamp"],
    )

    daily = behaviour.active_customers(ibis.memtable(frame), dt.date(2024, 1, 1), dt.date(2024, 12, 31))

    expected = pd.DataFrame(
        {"date": pd.to_datetime(["2024-02-05", "2024-02-06"]), "active_customers": [1, 1]}
    )
    pd.testing.assert_frame_equal(daily, expected, check_dtype=False)
    assert daily["active_customers"].dtype == "int64"


def test_drop_off_is_the_step_losing_most_and_the_split_with_the_widest_gap():
    drop = behaviour.funnel_drop_off({None: OVERALL, "device": BY_DEVICE, "category": BY_CATEGORY})

    assert drop == {
        "from": "view",
        "to": "add_to_cart",
        "pass_rate": 0.3,
        "lost_share": 0.7,
        "sessions_lost": 700,
        # device: 40% against 20% (gap 0.2); category: 31.7% against 27.5% (gap 0.04)
        "by": "device",
        "worst": "Mobile Phone",
        "worst_pass_rate": 0.2,
        "worst_sessions": 500,
        "best": "Computer",
        "best_pass_rate": 0.4,
    }
    assert behaviour.drop_off_sentence(drop) == (
        "The funnel loses the most sessions between view and add_to_cart: 70.0% of them (700 sessions) "
        "go no further. By device, Mobile Phone loses the most there (only 20.0% pass, against 40.0% "
        "for Computer)."
    )


def test_drop_off_ignores_levels_below_the_minimum_sessions():
    tiny_device = funnel_table("device", [("Computer", 500, 200, 160), ("Tablet", 5, 0, 0)])

    drop = behaviour.funnel_drop_off({None: OVERALL, "device": tiny_device}, min_sessions=50)

    assert drop["by"] is None and drop["worst"] is None  # one level left: nothing to compare
    assert behaviour.drop_off_sentence(drop).endswith("go no further.")


def test_drop_off_moves_to_the_later_step_when_carts_are_abandoned():
    overall = funnel_table("segment", [("all", 1000, 900, 100)])

    drop = behaviour.funnel_drop_off({None: overall})

    assert (drop["from"], drop["to"], drop["lost_share"]) == ("add_to_cart", "purchase", 0.8889)


def test_drop_off_without_views_is_none():
    empty = OVERALL.iloc[0:0]

    assert behaviour.funnel_drop_off({None: empty}) is None
    assert "no drop-off" in behaviour.drop_off_sentence(None)


def test_behaviour_summary_collects_funnels_activity_and_drop_off():
    daily = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-02-05", "2024-02-06"]),
            "events": [10, 20],
            "sessions": [4, 6],
            "orders": [1, 3],
            "revenue": [10.5, None],
            "active_customers": [3, 5],
        }
    )

    summary = behaviour.behaviour_summary({None: OVERALL, "device": BY_DEVICE}, daily)

    assert summary["has_events"] is True
    assert (summary["days"], summary["mean_active_customers"], summary["orders"]) == (2, 4.0, 4)
    assert summary["revenue"] == 10.5
    assert summary["funnel"]["overall"] == {
        "view": 1000,
        "add_to_cart": 300,
        "purchase": 240,
        "conversion": 0.24,
        "view_to_add_to_cart": 0.3,
        "add_to_cart_to_purchase": 0.8,
    }
    assert summary["funnel"]["device"]["Mobile Phone"]["view_to_add_to_cart"] == 0.2
    assert summary["biggest_drop_off"]["worst"] == "Mobile Phone"
