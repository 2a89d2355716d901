from book_cases import CHURN, inputs
from cba import report


def test_methodology_states_validation_and_computed_limitations():
    text = report.methodology_markdown(inputs())

    assert CHURN["validation_detail"] in text
    assert "A naive random split of all 9,990 rows scores ROC-AUC 0.901 against 0.873" in text
    assert "would overstate the model" in text
    assert "held-out concordance of 0.712" in text
    assert "known to within 0.041 (95% interval 0.851 to 0.892)" in text
    assert "off from observed churn by 0.031" in text
    assert "beyond the 0.019 that chance alone reaches in 95 of 100 draws" in text
    assert "fails for tenure (months), so" in text
    assert "keeps 20% of would-be churners and that a kept customer is worth USD 150.00" in text


def forecast_metrics(outlook_days: int) -> dict:
    test = {"days": 30, "mase": 0.91, "coverage_95": 0.9}
    return {
        "validated_horizon_days": 30,
        "windows": 4,
        "choosing_windows": 3,
        "test_windows": 1,
        "outlook_days": outlook_days,
        "revenue": {"chosen_model": "AutoETS", "test": test},
        "orders": {"chosen_model": "AutoARIMA", "test": {**test, "mase": 1.02}},
    }


def test_methodology_reports_the_forecast_on_its_test_window_and_the_outlook_beyond_it():
    metrics = {**inputs().metrics, "forecast": forecast_metrics(outlook_days=90)}
    text = report.methodology_markdown(inputs(metrics=metrics))
    assert "chosen on the first 3 windows and tested on the last 1" in text
    assert "revenue by AutoETS (MASE 0.91, 95% interval coverage 90% over 30 days)" in text
    assert "orders by AutoARIMA (MASE 1.02" in text
    assert "90 days ahead, 60 days beyond the 30-day horizon" in text
    metrics["forecast"] = forecast_metrics(outlook_days=30)
    assert "within the 30-day horizon" in report.methodology_markdown(inputs(metrics=metrics))
