from book_cases import CHURN, inputs
from cba import report


def test_methodology_states_validation_and_computed_limitations():
    text = report.methodology_markdown(inputs())

    assert CHURN["validation_detail"] in text
    assert "A naive random split of the same rows scores ROC-AUC 0.901 against 0.873" in text
    assert "would overstate the model" in text
    assert "held-out concordance of 0.712" in text
    assert "known to within 0.041 (95% interval 0.851 to 0.892)" in text
    assert "off from observed churn by 0.031" in text
    assert "fails for tenure (months), so" in text
    assert "keeps 20% of would-be churners and that a kept customer is worth USD 150.00" in text
