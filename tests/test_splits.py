import numpy as np
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


def test_each_fold_is_the_churn_stages_own_run_with_that_fold_held_out(customers):
    table = splits.churn_over_splits(customers, PARAMS, seed=5, repeats=1)

    folds = round(1 / PARAMS.test_size)
    assert table["fold"].tolist() == list(range(folds)) and set(table["seed"]) == {5}
    assert table.columns.tolist() == ["seed", "fold", "best_model", "test_rows", *splits.FIGURES]
    assert table["test_rows"].sum() == len(customers)  # every customer tested once per repetition
    row = table.iloc[1]  # the second fold: held out by itself, not the stage's first
    result = churn.train_and_evaluate(customers, PARAMS, 5, fold=1)
    best = result.best_model
    assert row.best_model == best and row.test_rows == len(result.split.test)
    assert row.roc_auc == result.metrics[best]["roc_auc"] and row.ece == result.metrics[best]["ece"]
    assert row.cv_roc_auc == result.metrics[best]["cv_roc_auc"]
    assert (row.ece_chance_mean, row.ece_chance_95) == evaluate.ece_by_chance(
        result.test_probability[best], 5
    )


def test_the_folds_of_a_repetition_hold_out_every_customer_once_and_whole_groups(customers):
    folds = round(1 / PARAMS.test_size)
    held_out = [churn.validation_split(customers, PARAMS.test_size, 5, fold=k) for k in range(folds)]
    tests = [split.test for split in held_out]

    assert sorted(np.concatenate(tests)) == list(range(len(customers)))
    groups = churn.customer_groups(customers)
    for split in held_out:
        assert not set(groups[split.test]) & set(groups[split.train])
    assert set(tests[0]) == set(churn.validation_split(customers, PARAMS.test_size, 5).test)
    assert set(tests[0]) != set(churn.validation_split(customers, PARAMS.test_size, 6).test)  # next seed
    with pytest.raises(ValueError, match="fold 4 does not exist: churn.test_size 0.3 cuts 3 folds"):
        churn.validation_split(customers, PARAMS.test_size, 5, fold=folds + 1)


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
    assert "--repeats must be >= 1" in runner.invoke(app, ["churn-splits", "--repeats", "0"]).output

    (tmp_path / "datasets" / "features").mkdir(parents=True)
    customers.to_parquet(tmp_path / "datasets" / "features" / "customers.parquet")
    done = runner.invoke(app, ["churn-splits", "--repeats", "2"])
    assert done.exit_code == 0, done.output
    seed = params["seed"]
    rows = [line.split()[:2] for line in done.output.splitlines()[1:7]]
    assert rows == [[str(s), str(k)] for s in (seed, seed + 1) for k in range(3)]
    assert "over 6 held-out folds:" in done.output and "mean" in done.output
