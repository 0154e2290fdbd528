"""browser_selftest — the browser test infrastructure itself (label `browser`): headless
Chromium starts with the project's flags, loads a page from a local HTTP server, runs its
script, sees the DOM change that a later request makes (no reload), takes a PNG screenshot;
a missing chromium is an error naming the Debian package, not a skip.

    /usr/bin/python3 tests/browser/browser_selftest.py [--screenshot OUT.png]
"""

import http.server
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gofer_browser  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402  (gofer_browser checked the import path)

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>selftest</title>
<style>body{font-family:sans-serif;margin:2em} #n{font-size:3em;color:#06c}</style></head>
<body><h1>gofer browser selftest</h1><p id="n">waiting</p><button id="go">go</button>
<script>
document.getElementById('go').onclick = async () => {
  const r = await fetch('/count');
  document.getElementById('n').textContent = 'count ' + (await r.text());
};
</script></body></html>"""


class handler(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self):
        if self.path == "/":
            body, ctype = PAGE, "text/html; charset=utf-8"
        elif self.path == "/count":
            handler.count += 1
            body, ctype = str(handler.count).encode(), "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    shot = sys.argv[2] if len(sys.argv) == 3 and sys.argv[1] == "--screenshot" else None
    failures = 0

    # 1. A missing chromium names its packages.
    os.environ["GOFER_CHROMIUM"] = "/nonexistent/chromium"
    try:
        gofer_browser.find_chromium()
        print("FAIL: a missing chromium was not reported")
        failures += 1
    except gofer_browser.browser_error as e:
        ok = "chromium and chromium-driver" in str(e)
        print(f"{'ok' if ok else 'FAIL'}: missing chromium -> {e}")
        failures += not ok
    del os.environ["GOFER_CHROMIUM"]

    # 2. A page, a click, a DOM change without a reload, a screenshot.
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    try:
        with gofer_browser.chromium() as b:
            b.get(url)
            b.execute_script("window.__marker = 42")  # gone if the page reloads
            assert b.find_element(By.ID, "n").text == "waiting"
            b.find_element(By.ID, "go").click()
            gofer_browser.wait_for(b, lambda: b.find_element(By.ID, "n").text == "count 1", what="count 1")
            b.find_element(By.ID, "go").click()
            gofer_browser.wait_for(b, lambda: b.find_element(By.ID, "n").text == "count 2", what="count 2")
            assert b.execute_script("return window.__marker") == 42, "the page reloaded"
            with tempfile.TemporaryDirectory() as d:
                path = gofer_browser.screenshot(b, shot or os.path.join(d, "page.png"))
                size = os.path.getsize(path)
            print(f"ok: page loaded, two clicks changed it in place, screenshot {size} bytes"
                  + (f" in {shot}" if shot else ""))
    except (AssertionError, gofer_browser.browser_error) as e:
        print(f"FAIL: {e}")
        failures += 1
    finally:
        srv.shutdown()
    print(f"{2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
