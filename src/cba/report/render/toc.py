"""The book's table of contents: the chapters, parts and appendices ``_quarto.yml`` lists, as pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BookEntry:
    """One chapter of the book: its file, the part it belongs to, and whether it is an appendix."""

    path: str
    part: str | None = None
    appendix: bool = False


def book_entries(config: Mapping[str, Any]) -> list[BookEntry]:
    """The chapters then the appendices of a Quarto book config, in order, with their part titles."""
    entries: list[BookEntry] = []

    def walk(items: list[Any], part: str | None, appendix: bool) -> None:
        for item in items:
            if isinstance(item, str):
                entries.append(BookEntry(item, part, appendix))
            elif isinstance(item, Mapping):
                if "href" in item:
                    entries.append(BookEntry(item["href"], part, appendix))
                title = item.get("part")
                if title is not None and str(title).endswith((".qmd", ".md", ".ipynb")):
                    entries.append(BookEntry(title, None, appendix))  # a part with its own page
                    title = Path(title).stem.replace("-", " ").capitalize()
                walk(item.get("chapters") or [], str(title) if title is not None else part, appendix)

    book = config.get("book", {})
    walk(book.get("chapters") or [], None, False)
    walk(book.get("appendices") or [], None, True)
    return entries


@dataclass
class Page:
    """One HTML page of the book: its entry, file name, number, and (once rendered) title and body."""

    entry: BookEntry
    file: str
    number: str | None  # "3" for a chapter, "A" for an appendix, None for the index
    title: str = ""
    body: str = ""

    @property
    def heading(self) -> str:
        """The title as the sidebar and the page show it: ``3  Churn``, ``Appendix A  Parameters``."""
        if self.number is None:
            return self.title
        return f"{'Appendix ' if self.entry.appendix else ''}{self.number}  {self.title}"


def number_pages(entries: list[BookEntry]) -> list[Page]:
    """One page per entry: ``index.html`` first, then each chapter's file stem, numbered as Quarto does.

    The index has no number; chapters count 1, 2, ... and appendices A, B, ...

    Raises
    ------
    ValueError
        When two chapters would write the same page.
    """
    files = ["index.html", *(f"{Path(entry.path).stem}.html" for entry in entries[1:])]
    duplicates = sorted({file for file in files if files.count(file) > 1})
    if duplicates:
        raise ValueError(f"_quarto.yml chapters must have unique file names; repeated: {duplicates}")
    pages, chapter, appendix = [], 0, 0
    for position, (entry, file) in enumerate(zip(entries, files, strict=True)):
        if position == 0:
            number = None
        elif entry.appendix:
            number, appendix = chr(ord("A") + appendix), appendix + 1
        else:
            chapter += 1
            number = str(chapter)
        pages.append(Page(entry, file, number))
    return pages
