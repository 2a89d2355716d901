import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cba import churn, evaluate, splits
from cba.cli import app
from test_churn import PARAMS as CHURN_PARAMS
from test_churn import churn_customers

PARAMS = CHURN_PARAMS.model_copy(update={"calibration_folds": 3})


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return churn_customers()


def test_each_split_is_the_churn_stages_own_run_with_its_seed(customers):
    table = splits.churn_over_splits(customers, PARAMS, seed=5, splits=2)

    assert table["seed"].tolist() == [5, 6]
    assert table.columns.tolist() == ["seed", "best_model", "test_rows", *splits.FIGURES]
    row = table.iloc[1]  # the second split: its seed, not the first's, made it
    result = churn.train_and_evaluate(customers, PARAMS, 6)
    best = result.best_model
    assert row.best_model == best and row.test_rows == len(result.split.test)
    assert row.roc_auc == result.metrics[best]["roc_auc"] and row.ece == result.metrics[best]["ece"]
    assert row.cv_roc_auc == result.metrics[best]["cv_roc_auc"]
    by_chance = evaluate.ece_by_chance(result.test_probability[best], 6)
    assert (row.ece_chance_mean, row.ece_chance_95) == by_chance
    first, second = (churn.validation_split(customers, PARAMS.test_size, seed).test for seed in (5, 6))
    assert set(first) != set(second)  # another seed, other test customers


def test_spread_is_the_mean_lowest_and_highest_by_hand():
    table = pd.DataFrame({figure: [0.1, 0.3] for figure in splits.FIGURES})
    table["ece"] = [0.02, 0.04]

    spread = splits.spread(table)
    assert spread.loc["mean", "ece"] == pytest.approx(0.03)
    assert spread.loc["min", "roc_auc"] == 0.1 and spread.loc["max", "roc_auc"] == 0.3


def test_cli_churn_splits_prints_every_split_and_names_what_is_missing(customers, tmp_path, monkeypatch):
    from conftest import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["churn"].update(
        test_size=0.3, calibration_folds=3, search={"budget": 1, "folds": 2, "max_rows": 10_000}
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    missing = runner.invoke(app, ["churn-splits"])
    assert missing.exit_code == 2
    assert "customers.parquet: no features table" in missing.output and "dvc repro features" in missing.output
    assert "--splits must be >= 1" in runner.invoke(app, ["churn-splits", "--splits", "0"]).output

    (tmp_path / "datasets" / "features").mkdir(parents=True)
    customers.to_parquet(tmp_path / "datasets" / "features" / "customers.parquet")
    done = runner.invoke(app, ["churn-splits", "--splits", "2"])
    assert done.exit_code == 0, done.output
    seed = params["seed"]
    assert [line.split()[0] for line in done.output.splitlines()[1:3]] == [str(seed), str(seed + 1)]
    assert "over 2 splits:" in done.output and "mean" in done.output
