"""The stage runners' shared pieces: the notebook setup and the one writer of metrics and plots."""

import pandas as pd
import plotly.io as pio

from cba.config import Paths
from cba.figures import PLOTLY_RENDERER
from cba.stages import setup
from cba.stages.outputs import write_metrics, write_plot


def test_write_metrics_is_indented_json_with_a_final_newline(tmp_path):
    path = write_metrics(Paths(tmp_path), "churn", {"roc_auc": 0.8123, "models": {"a": [1, 2]}})
    assert path == tmp_path / "metrics" / "churn.json"
    assert path.read_text() == (
        '{\n  "roc_auc": 0.8123,\n  "models": {\n    "a": [\n      1,\n      2\n    ]\n  }\n}\n'
    )


def test_write_plot_is_csv_without_the_index(tmp_path):
    frame = pd.DataFrame({"fpr": [0.0, 0.5], "tpr": [0.25, 1.0]}, index=[7, 8])
    path = write_plot(Paths(tmp_path), "churn_roc", frame)
    assert path == tmp_path / "plots" / "churn_roc.csv"
    assert path.read_text() == "fpr,tpr\n0.0,0.25\n0.5,1.0\n"


def test_setup_validates_params_and_resolves_paths_from_the_working_directory(params, monkeypatch, tmp_path):
    raw = params.model_dump(mode="json")
    monkeypatch.chdir(tmp_path)
    validated, paths = setup(raw)
    assert validated == params
    assert paths == Paths(tmp_path)
    assert pio.renderers.default == PLOTLY_RENDERER
