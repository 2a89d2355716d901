import copy

from book_cases import DATA_QUALITY
from cba import report


def test_data_quality_reconciles_and_lists_the_rules_that_fired():
    text = report.data_quality_markdown(DATA_QUALITY)

    assert "All 2 tables reconcile" in text
    assert "| events | 500,000 | 480,000 | 20,000 | 4.00% | yes |" in text
    assert "- events: `exact_duplicate` 19,500, `bad_timestamp` 500" in text
    assert "never_fired" not in text


def test_data_quality_flags_a_table_that_does_not_reconcile():
    unbalanced = copy.deepcopy(DATA_QUALITY)
    unbalanced["customers"]["rows_out"] = 9980

    text = report.data_quality_markdown(unbalanced)

    assert "1 of 2 tables do not reconcile: customers." in text
    assert "**no** (+10 rows unaccounted for)" in text
