"""Docs build step: screenshots of a report, so a reviewer can look at it without running it.

Usage:  python docs/screenshot.py RESULTS_DIR [--out docs/img] [--width 1200] [--height 2400]

Renders RESULTS_DIR/report.html in headless Chromium (Debian: ``apt-get install chromium``)
and writes ``report_top.png`` (the first screen: summary, contents, findings) into --out.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "img")
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=2400)
    args = ap.parse_args()
    report = args.results / "report.html"
    if not report.is_file():
        print(f"screenshot: no report at {report}; run 'xordsim reproduce --out "
              f"{args.results}' first", file=sys.stderr)
        return 2
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("screenshot: needs Chromium: apt-get install chromium", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    # a copy alone in an empty folder: the report must not depend on its neighbours
    with tempfile.TemporaryDirectory() as tmp:
        alone = Path(tmp) / "report.html"
        shutil.copy(report, alone)
        target = args.out / "report_top.png"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--window-size={args.width},{args.height}",
                        f"--screenshot={target}", alone.as_uri()],
                       check=True, capture_output=True)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
