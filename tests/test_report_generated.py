from pathlib import Path

import yaml

from book_cases import PARAMS, ROOT, write_project_outputs
from cba import report
from cba.config import Paths


def test_write_generated_writes_every_included_file(tmp_path):
    write_project_outputs(tmp_path)

    report.write_generated(tmp_path, {**PARAMS, "report": {**PARAMS["report"], "compare_to": None}})

    generated = tmp_path / "report" / "_generated"
    names = sorted(path.stem for path in generated.glob("*.md"))
    assert names == sorted(
        [
            "version",
            "summary",
            "data_quality",
            "dashboards",
            "recommendations",
            "changes",
            "methodology",
            "model_card",
            "data_dictionary",
            "params",
        ]
    )
    assert (generated / "summary.md").read_text() == report.summary_markdown(
        report.read_inputs(Paths(tmp_path), PARAMS)
    )
    assert "No baseline: `report.compare_to` is null" in (generated / "changes.md").read_text()


def test_every_generated_include_is_used_by_a_chapter_of_the_book():
    config = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    sources = "".join(
        (ROOT / entry.path).read_text()
        for entry in report.book_entries(config)
        if entry.path.endswith(".qmd")
    )

    for name in [
        "version",
        "summary",
        "data_quality",
        "dashboards",
        "recommendations",
        "changes",
        "methodology",
        "model_card",
        "data_dictionary",
        "params",
    ]:
        assert f"_generated/{name}.md >}}}}" in sources, name


def test_the_project_book_has_its_chapters_in_parts_and_its_appendices():
    entries = report.book_entries(yaml.safe_load((ROOT / "_quarto.yml").read_text()))

    assert entries[0].path == "index.qmd"
    chapters = [Path(entry.path).stem for entry in entries if not entry.appendix]
    assert chapters == [
        "index",
        "data-quality",
        "ingest",
        "clean",
        "eda",
        "dashboards",
        "features",
        "churn",
        "survival",
        "recommendations",
        "changes",
        "methodology",
        "model-card",
    ]
    assert [Path(entry.path).stem for entry in entries if entry.appendix] == ["data-dictionary", "params"]
    assert {entry.part for entry in entries if "chapters/" in entry.path} == {"Data", "Behaviour", "Churn"}
