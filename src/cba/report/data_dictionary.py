"""Appendix "Data dictionary": every table of `cba.schema`, with the label readers see for each column."""

from __future__ import annotations

from cba import schema
from cba.report.markdown import table


def data_dictionary_markdown() -> str:
    """Every table of `cba.schema`: columns, their labels, types, whether blanks are allowed, meaning.

    Then the vocabularies: the canonical levels of every categorical attribute.
    """
    lines: list[str] = []
    tables = [
        getattr(schema, name) for name in schema.__all__ if isinstance(getattr(schema, name), schema.Table)
    ]
    for schema_table in tables:
        rows = [
            (
                f"`{column.name}`",
                schema.human_label(column.name),
                f"`{column.dtype}`",
                "yes" if column.nullable else "no",
                column.description,
            )
            for column in schema_table.columns
        ]
        lines += [
            f"## {schema_table.name.capitalize()}",
            "",
            *table(["Column", "Label", "Type", "Blanks", "Meaning"], rows, "lllll"),
            "",
        ]
    vocabularies = [
        (f"`{name}`", schema.human_label(name), ", ".join(levels))
        for name, levels in schema.VOCABULARIES.items()
    ]
    lines += [
        "## Vocabularies",
        "",
        *table(["Attribute", "Label", "Canonical levels"], vocabularies, "lll"),
        "",
    ]
    return "\n".join(lines)
