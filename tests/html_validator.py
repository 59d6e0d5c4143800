"""The W3C Nu Html Checker (vnu-jar from npm, run by Debian's Java) on pages the tests render.

``assert_valid_html({"front page": html, ...})`` checks every page in one run of the checker
(one JVM start, a few seconds) and fails with each page's errors, line and extract.
"""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

VNU = Path(__file__).resolve().parent.parent / "node_modules" / "vnu-jar" / "build" / "dist"
VNU_JAR = VNU / "vnu.jar"
# The checker's command. The JVM's quick compiler only: a run is short, and the optimising one
# doubled its CPU time for nothing; the quick compiler's frames need a deeper stack.
CHECKER = ["java", "-XX:TieredStopAtLevel=1", "-Xss64m", "-jar", str(VNU_JAR)]
# For a test that may skip without the checker (Java and npm ci's vnu-jar).
needs_checker = pytest.mark.skipif(
    shutil.which("java") is None or not VNU_JAR.exists(),
    reason="the Nu Html Checker needs java and node_modules/vnu-jar",
)


def html_errors(pages: dict[str, str]) -> dict[str, list[str]]:
    """Page name -> the checker's errors on it (warnings and info are left out)."""
    with tempfile.TemporaryDirectory() as tmp:
        names = {}
        for number, (name, html) in enumerate(pages.items()):
            path = Path(tmp) / f"page{number}.html"
            path.write_text(html, encoding="utf-8")
            names[path.name] = name
        result = subprocess.run(
            [*CHECKER, "--format", "json", "--stdout", *sorted(names)],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
    report = json.loads(result.stdout)
    errors: dict[str, list[str]] = {}
    for message in report["messages"]:
        if message["type"] == "info":  # warnings are info with subType "warning"
            continue
        page = names.get(Path(urlsplit(message.get("url", "")).path).name, "?")
        where = f"line {message['lastLine']}: " if "lastLine" in message else ""
        extract = f" in {message['extract'].strip()!r}" if message.get("extract") else ""
        errors.setdefault(page, []).append(f"{where}{message['message']}{extract}")
    return errors


def assert_valid_html(pages: dict[str, str]) -> None:
    """Every page is valid HTML5 as the Nu checker judges it: 0 errors."""
    assert pages, "no pages to check"
    errors = html_errors(pages)
    assert not errors, "\n".join(
        f"{page}:\n  " + "\n  ".join(messages) for page, messages in errors.items()
    )
