"""A Snakemake report opened in a real browser: headless Chromium (Debian's `chromium`,
installed by .ci/run as root) loads it, the page's own scripts run, and a script added
to a copy of the page reports what the reader would see: the errors the page raised or
logged, the text the report app rendered, and, for every result the report embeds,
whether the browser decodes it (an image's pixel size; a table's rows)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]

# first in <head>: every error the page raises or logs is kept
CATCH = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", e => window.__errors.push(String(e.reason)));
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.map(String).join(" ")); __consoleError(...args); };
</script>"""

# last in <body>: once loaded, each embedded result decoded as the browser shows it
CHECK = """<script>
window.addEventListener("load", async () => {
  const seen = {};
  const out = document.createElement("pre");
  out.id = "alignshift-check";
  out.textContent = JSON.stringify({started: true});
  document.body.appendChild(out);
  for (const [path, result] of Object.entries(results)) {
    try {
      if (result.mime_type.startsWith("image/")) {
        const image = new Image();
        await new Promise((loaded, failed) => {
          image.onload = loaded;
          image.onerror = () => failed(new Error("not an image the browser can decode"));
          image.src = result.data_uri;
        });
        seen[path] = {width: image.naturalWidth, height: image.naturalHeight};
      } else {
        const bytes = Uint8Array.from(atob(result.data_uri.split("base64,")[1]), c => c.charCodeAt(0));
        const text = new TextDecoder().decode(bytes);
        const page = new DOMParser().parseFromString(text, "text/html");
        seen[path] = {rows: page.querySelectorAll("tr").length, chars: text.length};
      }
    } catch (error) {
      seen[path] = {error: String(error)};
    }
  }
  out.textContent = JSON.stringify({errors: window.__errors, app: document.getElementById("app").innerText,
                                    results: seen});
});
</script>"""


def open_report(report: Path, workdir: Path) -> dict:
    """{errors, console, app, results} of `report` opened in headless Chromium: errors
    raised or logged by the page, Chromium's console lines, the app's rendered text, and
    path -> what the browser decoded of each embedded result."""
    html = report.read_text()
    head = html.index("<head>") + len("<head>")
    body = html.rindex("</body>")
    checked = workdir / "report-checked.html"
    checked.write_text(html[:head] + CATCH + html[head:body] + CHECK + html[body:])
    run = subprocess.run([CHROMIUM, *HEADLESS, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=30000",
                          f"--user-data-dir={workdir / 'profile'}", "--dump-dom", checked.as_uri()],
                         capture_output=True, text=True, timeout=300)
    found = re.search(r'<pre id="alignshift-check">(.*?)</pre>', run.stdout, flags=re.S)
    assert found, (run.returncode, run.stderr[-3000:])
    from html import unescape

    state = json.loads(unescape(found.group(1)))
    state["console"] = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return state


def screenshot(report: Path, path: Path, workdir: Path) -> Path:
    """The report's first page as a reader's browser window shows it (PNG)."""
    subprocess.run([CHROMIUM, *HEADLESS, "--window-size=1280,900", "--virtual-time-budget=15000",
                    f"--user-data-dir={workdir / 'profile-shot'}", f"--screenshot={path}", report.as_uri()],
                   capture_output=True, text=True, timeout=300, check=True)
    return path
