from book_cases import inputs
from cba import report


def test_model_card_covers_use_data_evaluation_limits_and_ethics():
    text = report.model_card_markdown(inputs())

    for heading in (
        "### Model",
        "### Intended use",
        "### Evaluation",
        "### Limits",
        "### Ethical considerations",
        "## Datasheet",
    ):
        assert heading in text
    assert "Model: XGBoost, chosen among logistic regression, XGBoost" in text
    assert "3 features (days since last visit, complaint raised, gender)" in text
    assert f"SHA-256 `{'ab' * 32}`" in text
    assert "no purchase in the next 90 days" in text
    assert "| XGBoost (chosen) | 0.873 | 0.612 |" in text
    assert "ROC-AUC 0.873, 95% interval 0.851 to 0.892" in text
    assert "The model sees gender (driver rank 3)" in text
    assert "events: 480,000 rows kept of 500,000" in text
    assert "Labelled customers: 9,990, of whom 16.9% churned." in text


def test_model_card_without_sensitive_inputs_says_so():
    model = {"name": "xgboost", "features": ["Complain"], "threshold": 0.35}

    text = report.model_card_markdown(inputs(model=model))

    assert "The model does not see gender or marital status" in text
