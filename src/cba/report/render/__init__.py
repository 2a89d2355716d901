"""The book renderer: `render_book` runs Quarto, or the built-in stand-in (PDF printed by Chromium)."""

from cba.report.render.book import render_book
from cba.report.render.pdf import CHROMIUM_CANDIDATES, CHROMIUM_FLAGS, CHROMIUM_OFFLINE_FLAGS, print_pdf
from cba.report.render.toc import BookEntry, book_entries

__all__ = [
    "CHROMIUM_CANDIDATES",
    "CHROMIUM_FLAGS",
    "CHROMIUM_OFFLINE_FLAGS",
    "BookEntry",
    "book_entries",
    "print_pdf",
    "render_book",
]
