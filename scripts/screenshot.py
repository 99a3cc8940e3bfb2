"""Refresh docs/screenshot.png, the README's picture of the page answering the seed question.

Run on demand (the tests never write into the repository):

    .venv/bin/python scripts/screenshot.py [--output docs/screenshot.png]

It builds the seed index in a temporary folder, serves the page in this process,
asks the seed question in Debian's headless Chromium and saves the page.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.config import SEEDS_DIR, Config  # noqa: E402
from qa.engine import Engine  # noqa: E402
from ui.app import SEED_EXAMPLES, PageService, build_app, launch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--library", type=Path, help="also save the Library tab here (not used by the README)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        Engine.build([SEEDS_DIR], Path(tmp) / "index")
        app = build_app(PageService(Path(tmp) / "index", Config(), max_upload_mb=20))
        _, url, _ = launch(app, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=args.chromium, args=["--headless", "--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1200, "height": 1000})
                page.goto(url, wait_until="networkidle")
                page.locator("#filters").get_by_text("Only some articles").click()  # the filters, shown open
                page.locator("#as-of textarea").fill("2025-10-20")
                page.locator("#question textarea").fill(SEED_EXAMPLES[0])
                page.locator("#ask").click()
                page.locator("#answer mark").wait_for(timeout=120_000)
                args.output.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.output), full_page=True)
                if args.library:
                    page.get_by_role("tab", name="Library").click()
                    page.locator("#articles").wait_for()
                    page.screenshot(path=str(args.library), full_page=True)
                browser.close()
        finally:
            app.close()
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
