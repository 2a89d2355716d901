"""Printing the built-in renderer's book to PDF with headless Chromium, offline."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_OFFLINE_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Chromium as root on a closed network: no sandbox, GPU or background connections."""
CHROMIUM_FLAGS = (
    "--headless",
    *CHROMIUM_OFFLINE_FLAGS,
    "--no-pdf-header-footer",
    "--generate-pdf-document-outline",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=30000",
)
"""Headless Chromium printing a page to PDF offline, after its scripts (the Plotly figures) have run."""

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
"""Executables tried, in order, to print the fallback book's PDF."""


def find_chromium() -> str | None:
    """The first of `CHROMIUM_CANDIDATES` on ``PATH``, or None."""
    return next((found for name in CHROMIUM_CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(page: Path, pdf: Path, chromium: str) -> Path:
    """Print an HTML ``page`` to ``pdf`` with headless ``chromium`` (offline; scripts run first)."""
    with tempfile.TemporaryDirectory(prefix="cba-chromium-") as profile:
        result = subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf.resolve()}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0 or not pdf.is_file():
        raise RuntimeError(f"{chromium} could not print {page} to {pdf}: {result.stderr.strip()[-2000:]}")
    return pdf
