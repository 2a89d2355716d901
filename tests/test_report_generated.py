import re
from pathlib import Path

import yaml

from book_cases import PARAMS, ROOT, write_project_outputs
from cba import notebooks, report
from cba.config import Paths

INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")


def _book_entries() -> list[report.BookEntry]:
    return report.book_entries(yaml.safe_load((ROOT / "_quarto.yml").read_text()))


def test_write_generated_writes_every_chapter_it_computes(tmp_path):
    write_project_outputs(tmp_path)
    params = {**PARAMS, "report": {**PARAMS["report"], "compare_to": None}}

    written = report.write_generated(tmp_path, params)

    generated = Paths(tmp_path).generated
    assert sorted(written) == sorted(generated.glob("*.md"))
    assert {path.stem for path in written} == set(report.generated_chapters(tmp_path, params))
    assert (generated / "summary.md").read_text() == report.summary_markdown(
        report.read_inputs(Paths(tmp_path), PARAMS)
    )
    assert "No baseline: `report.compare_to` is null" in (generated / "changes.md").read_text()


def test_the_book_includes_exactly_the_generated_chapters(tmp_path):
    write_project_outputs(tmp_path)
    written = report.write_generated(tmp_path, {**PARAMS, "report": {**PARAMS["report"], "compare_to": None}})
    included = set()
    for entry in _book_entries():
        source = ROOT / entry.path
        if source.suffix == ".qmd":
            for target in INCLUDE.findall(source.read_text()):
                path = (source.parent / target).resolve()
                assert path.parent == Paths(ROOT).generated.resolve(), (entry.path, target)
                included.add(path.name)

    assert included == {path.name for path in written}


def test_every_chapter_listed_in_quarto_yml_is_a_source_or_an_executed_stage():
    entries = _book_entries()
    chapters = Paths(ROOT).chapters.relative_to(ROOT).as_posix()

    executed = [Path(entry.path).stem for entry in entries if entry.path.startswith(f"{chapters}/")]
    sources = [entry.path for entry in entries if not entry.path.startswith(f"{chapters}/")]
    assert entries[0].path == "index.qmd"
    assert sorted(executed) == sorted(notebooks.STAGES)
    assert all((ROOT / "stages" / f"{stage}.ipynb").is_file() for stage in executed)
    assert all((ROOT / path).is_file() for path in sources), sources
    assert sorted(Path(path).name for path in sources if path.startswith("report/")) == sorted(
        path.name for path in (ROOT / "report").glob("*.qmd")
    )  # no chapter source left out of the book
    assert all(entry.part is not None for entry in entries if entry.path.startswith(f"{chapters}/"))
