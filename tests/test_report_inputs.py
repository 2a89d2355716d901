import pandas as pd

from book_cases import BEHAVIOUR, CHURN, PARAMS, PROFIT, write_project_outputs
from cba import report
from cba.config import Paths


def test_lookup_walks_keys_and_list_items_and_names_what_is_missing():
    assert report.lookup(CHURN, "metrics/churn.json", "drivers.1.feature") == "Complain"
    assert report.lookup(CHURN, "metrics/churn.json", "roc_auc_ci.0") == 0.8512
    missing = report.lookup(CHURN, "metrics/churn.json", "drivers.7.feature")
    assert isinstance(missing, report.Missing)
    assert str(missing) == "not available (`metrics/churn.json` → `drivers.7.feature` is missing)"


def test_read_inputs_reads_metrics_plots_and_model_metadata_without_the_model(tmp_path):
    import joblib

    write_project_outputs(tmp_path)
    (tmp_path / "models").mkdir()
    joblib.dump(
        {
            "model": object.__new__(type("Fitted", (), {})) if False else {"fitted": True},
            "name": "xgboost",
            "features": ["Complain"],
        },
        tmp_path / "models" / "churn.joblib",
    )

    read = report.read_inputs(Paths(tmp_path), PARAMS)

    assert read.metrics["churn"] == CHURN and read.metrics["behaviour"] == BEHAVIOUR
    pd.testing.assert_frame_equal(read.tables["churn_profit"], PROFIT)
    assert read.model == {"name": "xgboost", "features": ["Complain"]}


def test_read_inputs_leaves_absent_files_empty(tmp_path):
    read = report.read_inputs(Paths(tmp_path), PARAMS)

    assert read.metrics == {name: {} for name in report.METRICS_FILES}
    assert read.tables == {} and read.model == {}
    assert isinstance(read.get("churn", "roc_auc"), report.Missing)
