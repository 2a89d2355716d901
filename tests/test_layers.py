"""The layers of ``cba`` hold over every import in ``src/cba``, lazy ones inside functions included.

Face (cli, notebooks) -> runners (stages) -> edges (report, stream, sources, engine, dashboards, generate)
-> analysis -> contract (config, schema). A layer imports its own layer and the layers below it. Every
top-level module of ``cba`` not named here is analysis (clean, eda, features, churn, figures, ...), so a new
analysis module is checked from the day it appears; a named module that does not exist is ignored.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "cba"

LAYERS = ("face", "runners", "edges", "analysis", "contract")  # top to bottom
NAMED = {
    "cli": "face",
    "notebooks": "face",
    "stages": "runners",
    "report": "edges",
    "stream": "edges",
    "sources": "edges",
    "engine": "edges",
    "dashboards": "edges",
    "generate": "edges",
    "config": "contract",
    "schema": "contract",
}


def layer(module: str) -> str:
    """The layer of the top-level module ``module`` of ``cba``."""
    return NAMED.get(module, "analysis")


def top_level_modules(package: Path) -> dict[str, list[Path]]:
    """Each top-level module or subpackage of ``package`` and the source files that belong to it."""
    modules: dict[str, list[Path]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if parts == ("__init__.py",):
            continue
        name = parts[0].removesuffix(".py")
        modules.setdefault(name, []).append(path)
    return modules


def imported_modules(path: Path, package: Path) -> list[tuple[int, str]]:
    """``(line, top-level cba module)`` for every import of ``cba`` in ``path``, relative imports resolved."""
    here = ["cba", *path.relative_to(package).parts[:-1]]  # the package relative imports start from
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            targets = [f"{source}.{alias.name}" for alias in node.names] if source == "cba" else [source]
        else:
            continue
        found += [
            (node.lineno, parts[1])
            for parts in (target.split(".") for target in targets)
            if parts[0] == "cba" and len(parts) > 1
        ]
    return found


def violations(package: Path, module: str, files: list[Path]) -> list[str]:
    """One line per import in ``files`` of ``module`` that reaches a layer above its own."""
    own = LAYERS.index(layer(module))
    return [
        f"{path.relative_to(package.parent)}:{line}: {module} ({layer(module)}) imports cba.{target} "
        f"({layer(target)})"
        for path in files
        for line, target in imported_modules(path, package)
        if LAYERS.index(layer(target)) < own
    ]


MODULES = top_level_modules(PACKAGE)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_layer_above_its_own(module):
    found = violations(PACKAGE, module, MODULES[module])
    allowed = ", ".join(LAYERS[LAYERS.index(layer(module)) :])
    assert not found, f"{layer(module)} may import only {allowed}:\n" + "\n".join(found)


def test_the_check_names_each_offending_import(tmp_path):
    package = tmp_path / "cba"
    (package / "report").mkdir(parents=True)
    sources = {
        "__init__.py": "",
        "config.py": "from cba import schema\n",
        "schema.py": "from cba.eda import labels\n",
        "eda.py": "from cba import schema\n\n\ndef plot():\n    import cba.stream.parquet\n",
        "report/__init__.py": "from . import chapters\n",
        "report/chapters.py": "from ..cli import app\nfrom .. import eda\n",
    }
    for name, text in sources.items():
        (package / name).write_text(text)
    modules = top_level_modules(package)

    found = [line for module in sorted(modules) for line in violations(package, module, modules[module])]

    assert found == [
        "cba/eda.py:5: eda (analysis) imports cba.stream (edges)",
        "cba/report/chapters.py:1: report (edges) imports cba.cli (face)",
        "cba/schema.py:1: schema (contract) imports cba.eda (analysis)",
    ]
