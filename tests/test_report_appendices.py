from book_cases import PARAMS
from cba import report, schema


def test_data_dictionary_lists_every_schema_table_and_column():
    text = report.data_dictionary_markdown()

    tables = [
        getattr(schema, name) for name in schema.__all__ if isinstance(getattr(schema, name), schema.Table)
    ]
    assert len(tables) >= 5
    for table in tables:
        assert f"## {table.name.capitalize()}" in text
        for column in table.columns:
            assert f"| `{column.name}` | {schema.human_label(column.name)} | `{column.dtype}` |" in text
    assert "| `r_score` | recency | `int64` |" in text
    assert (
        "| `PreferredPaymentMode` | payment method | Debit Card, Credit Card, E wallet, UPI, "
        "Cash on Delivery |" in text
    )


def test_params_appendix_lists_every_key():
    text = report.params_markdown(PARAMS)

    assert "{#sec-params}" in text
    assert "| `report.ab_test.minimum_effect` | 0.2 |" in text
    assert "| `kibana.url` | null |" in text
    assert "9 parameters" in text
