"""Quarto Markdown (``.qmd``) to HTML as Quarto's HTML output shows it.

Front matter, ``{{< include >}}`` shortcodes, raw HTML blocks, fenced divs (cross-reference floats and
``.content-visible``), heading ids, ``@fig-``/``@tbl-``/``@sec-`` cross-references numbered as Quarto
numbers them, and links to other chapters.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cba.report.render.toc import Page

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)
_INCLUDE = re.compile(r"^[ \t]*\{\{<\s*include\s+\"?([^\s\">]+)\"?\s*>\}\}[ \t]*$", re.MULTILINE)
_RAW_BLOCK = re.compile(r"^```\{=(\w+)\}[ \t]*\n(.*?)\n```[ \t]*$", re.MULTILINE | re.DOTALL)
_DIV_OPEN = re.compile(r"^:::+[ \t]*\{(.*)\}[ \t]*$")
_DIV_CLOSE = re.compile(r"^:::+[ \t]*$")
_HEADING_ID = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]+\{#([\w-]+)\}[ \t]*$", re.MULTILINE)
_CROSSREF = re.compile(r"(?<![\w@`])@((?:fig|tbl|sec)-[\w-]*\w)")
_CROSSREF_KINDS = {"fig": "Figure", "tbl": "Table"}


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    return yaml.safe_load(match.group(1)) or {}, text[match.end() :]


def _expand_includes(text: str, base: Path, root: Path, depth: int = 0) -> str:
    """Expand ``{{< include PATH >}}`` shortcodes as Quarto does.

    Paths resolve against the directory of the document being rendered (``base``), or against the
    project root when they start with ``/``.
    """
    if depth > 10:
        raise ValueError("include shortcodes nest more than 10 levels deep (a cycle?)")

    def include(match: re.Match[str]) -> str:
        target = match.group(1)
        path = root / target.lstrip("/") if target.startswith("/") else base / target
        if not path.is_file():
            raise FileNotFoundError(f"include shortcode points to a missing file: {path}")
        _, content = _split_front_matter(path.read_text(encoding="utf-8"))
        return _expand_includes(content, base, root, depth + 1)

    return _INCLUDE.sub(include, text)


def _markdown_source(root: Path, path: Path) -> tuple[dict[str, Any], str]:
    front_matter, text = _split_front_matter(path.read_text(encoding="utf-8"))
    return front_matter, _expand_includes(text, path.parent, root)


def collect_labels(root: Path, pages: list[Page]) -> dict[str, tuple[str, str]]:
    """Cross-reference label -> (page file, reference text) over every Markdown chapter.

    Numbered as Quarto numbers them: figures and tables per chapter (``Figure 3.2``), sections by their
    chapter.
    """
    labels: dict[str, tuple[str, str]] = {}
    for page in pages:
        path = root / page.entry.path
        if path.suffix not in (".qmd", ".md"):
            continue
        front_matter, text = _markdown_source(root, path)
        title = str(front_matter.get("title") or path.stem)
        counters = dict.fromkeys(_CROSSREF_KINDS, 0)
        for line in _RAW_BLOCK.sub("", text).splitlines():
            label = None
            if match := _DIV_OPEN.match(line):
                label = next((a[1:] for a in match.group(1).split() if a.startswith("#")), None)
            elif match := _HEADING_ID.match(line):
                label = match.group(3)
            if label is None:
                continue
            kind = label.split("-", 1)[0]
            if label in labels:
                raise ValueError(
                    f"cross-reference label #{label} is defined twice (again in {page.entry.path})"
                )
            if kind in counters:
                counters[kind] += 1
                number = f"{page.number}.{counters[kind]}" if page.number else str(counters[kind])
                labels[label] = (page.file, f"{_CROSSREF_KINDS[kind]} {number}")
            elif kind == "sec":
                where = (
                    f"{'Appendix' if page.entry.appendix else 'Chapter'} {page.number}"
                    if page.number
                    else title
                )
                labels[label] = (page.file, where)
    return labels


def render_markdown(
    root: Path, path: Path, labels: Mapping[str, tuple[str, str]], links: Mapping[str, str]
) -> tuple[str, str]:
    """Render a ``.qmd`` as the Quarto HTML output shows it.

    Includes, raw HTML blocks, fenced divs (cross-reference floats, content-visible), heading ids, ``@``
    cross-references and chapter links.
    """
    import mistune

    front_matter, text = _markdown_source(root, path)
    to_html = mistune.create_markdown(escape=False, plugins=["table", "strikethrough", "url"])
    raw: list[str] = []

    def keep_raw(match: re.Match[str]) -> str:
        if match.group(1) != "html":
            return ""
        raw.append(match.group(2))
        return f"\n\nCBARAWBLOCK{len(raw) - 1}\n\n"

    text = _RAW_BLOCK.sub(keep_raw, text)
    text = _fenced_divs(text, labels, to_html)
    text = _HEADING_ID.sub(
        lambda m: (
            f'<h{len(m.group(1))} id="{m.group(3)}">{_inline(to_html, m.group(2))}</h{len(m.group(1))}>'
        ),
        text,
    )
    text = _crossrefs(text, labels, path)
    body = to_html(text)
    for number, block in enumerate(raw):
        body = body.replace(f"<p>CBARAWBLOCK{number}</p>", block).replace(f"CBARAWBLOCK{number}", block)
    body = _chapter_links(body, path, root, links)
    title = str(front_matter.get("title") or path.stem.replace("_", " ").capitalize())
    return title, body


def _inline(to_html: Any, text: str) -> str:
    """Inline Markdown to HTML, without the paragraph around it."""
    rendered = to_html(text).strip()
    return rendered[3:-4] if rendered.startswith("<p>") and rendered.endswith("</p>") else rendered


def _fenced_divs(text: str, labels: Mapping[str, tuple[str, str]], to_html: Any) -> str:
    """Resolve ``::: {...}`` fenced divs.

    Cross-reference floats become ``<figure>`` with a numbered caption (their last paragraph);
    ``.content-visible``/``.content-hidden`` keep what HTML shows.
    """
    out: list[str] = []
    stack: list[tuple[str, str | None, int]] = []  # (kind, label, position in out)
    for line in text.split("\n"):
        if match := _DIV_OPEN.match(line):
            attributes = match.group(1)
            label = next((a[1:] for a in attributes.split() if a.startswith("#")), None)
            if label and label.split("-", 1)[0] in _CROSSREF_KINDS:
                stack.append(("float", label, len(out)))
            elif not _html_shows(attributes):
                stack.append(("hidden", None, len(out)))
            else:
                classes = " ".join(a[1:] for a in attributes.split() if a.startswith("."))
                if re.search(r'when-format="html"', attributes):
                    classes += " html-only"  # left out of the printed book, as from Quarto's PDF
                stack.append(("div", None, len(out)))
                out += [f'<div class="{html.escape(classes)}">' if classes else "<div>", ""]
            continue
        if _DIV_CLOSE.match(line) and stack:
            kind, label, start = stack.pop()
            if kind == "hidden":
                del out[start:]
            elif kind == "div":
                out += ["", "</div>", ""]
            else:
                content = "\n".join(out[start:]).strip("\n").split("\n\n")
                caption = content.pop() if len(content) > 1 else ""
                reference = labels[label][1]
                kind_name = label.split("-", 1)[0]
                out[start:] = [
                    f'<figure id="{label}" class="quarto-float quarto-float-{kind_name}">',
                    "",
                    *("\n\n".join(content)).split("\n"),
                    "",
                    f"<figcaption>{reference}: {_inline(to_html, caption.strip())}</figcaption>",
                    "</figure>",
                    "",
                ]
            continue
        out.append(line)
    if stack:
        raise ValueError("a fenced div (:::) is opened but never closed")
    return "\n".join(out)


def _html_shows(attributes: str) -> bool:
    """Whether Quarto's HTML output shows a div with these attributes (content-visible/-hidden)."""
    formats = re.findall(r"(when|unless)-format=\"([^\"]+)\"", attributes)
    if ".content-visible" in attributes.split():
        return all((fmt == "html") == (condition == "when") for condition, fmt in formats)
    if ".content-hidden" in attributes.split():
        return not all((fmt == "html") == (condition == "when") for condition, fmt in formats)
    return True


def _crossrefs(text: str, labels: Mapping[str, tuple[str, str]], path: Path) -> str:
    """``@fig-x`` -> a link to its page and anchor, outside code; an unknown label fails."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.DOTALL)

    def link(match: re.Match[str]) -> str:
        label = match.group(1)
        if label not in labels:
            raise ValueError(f"{path.name}: cross-reference @{label} has no #{label} in any chapter")
        file, reference = labels[label]
        return f"[{reference}]({file}#{label})"

    return "".join(part if index % 2 else _CROSSREF.sub(link, part) for index, part in enumerate(parts))


def _chapter_links(body: str, path: Path, root: Path, links: Mapping[str, str]) -> str:
    """Links to ``.qmd``/``.ipynb`` chapters (relative to ``path``, as Quarto reads them) -> their pages."""

    def page(match: re.Match[str]) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        resolved = (path.parent / target).resolve()
        try:
            key = resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            return match.group(0)
        if key not in links:
            raise ValueError(f"{path.name}: link to {target}, which is not a chapter of the book")
        return f'href="{links[key]}{anchor}"'

    return re.sub(r'href="([^":#]+\.(?:qmd|ipynb))(#[^"]*)?"', page, body)
