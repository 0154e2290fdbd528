"""gofer_browser — headless Chromium for gofer's browser tests (CTest label `browser`).

One place for what every browser test needs: Debian's chromium driven through Debian's
chromedriver by Debian's python3-selenium, started the way this project's machines allow
(no sandbox as root, no GPU, a closed network: nothing that phones home), with a fresh
profile in a temp dir that is removed at the end; and a screenshot of a page as a PNG.

Run with Debian's interpreter, /usr/bin/python3: python3-selenium is installed for it, not
for another python that may come first on $PATH. A missing piece is an error that names the
Debian package, never a skip:

    browser_error: chromium not found: install the Debian packages chromium and
    chromium-driver (./gofer setup)

Use:

    import gofer_browser
    with gofer_browser.chromium() as b:          # a selenium WebDriver, already started
        b.get("http://127.0.0.1:8080/")
        gofer_browser.wait_for(b, lambda: b.find_element(By.ID, "files"))
        gofer_browser.screenshot(b, "page.png")  # the whole page, as a PNG file

From the shell (take a look at a running page):

    /usr/bin/python3 tests/browser/gofer_browser.py screenshot URL OUT.png [--width 1200]

Blocking: everything here blocks the calling thread (it is test code, not gofer code).
wait_for polls a condition with a deadline: a page changes on its own (a server push), so
there is nothing else to wait on from outside the browser.
"""

import contextlib
import os
import shutil
import sys
import tempfile
import time

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")

# The flags every start uses. Headless with no sandbox (the tests run as root, and Chromium's
# sandbox refuses root), no GPU; and nothing that reaches the network by itself (QUIC probes,
# component and safe-browsing updates, sync, field trials): the machines' network is closed
# and a test must not wait on a timeout to the outside.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--password-store=basic",
)


class browser_error(RuntimeError):
    """What goes wrong before a page is loaded: a missing package, a browser that does not start."""


def _first_executable(paths, env_var):
    override = os.environ.get(env_var)  # set: only that path (tests use it to fake a missing one)
    for p in (override,) if override else paths:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def find_chromium():
    """(chromium, chromedriver) paths, or browser_error naming the Debian packages."""
    chrome = _first_executable(CHROMIUM_CANDIDATES, "GOFER_CHROMIUM")
    if not chrome:
        raise browser_error("chromium not found: install the Debian packages chromium and "
                            "chromium-driver (./gofer setup)")
    driver = _first_executable(DRIVER_CANDIDATES, "GOFER_CHROMEDRIVER")
    if not driver:
        raise browser_error("chromedriver not found: install the Debian package chromium-driver "
                            "(./gofer setup)")
    return chrome, driver


def _selenium():
    try:
        import selenium  # noqa: F401
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        raise browser_error(
            f"python3-selenium not importable by {sys.executable} ({e}): install the Debian package "
            "python3-selenium (./gofer setup) and run with /usr/bin/python3") from None
    return webdriver, Service


@contextlib.contextmanager
def chromium(width=1200, height=900, log_dir=None):
    """Starts headless Chromium through chromedriver; yields the WebDriver; quits and removes
    the profile on exit (also on an exception). `log_dir`: where chromedriver's log goes
    (default: the temp dir, removed at the end; shown in the error if the start fails)."""
    chrome, driver_path = find_chromium()
    webdriver, Service = _selenium()
    tmp = tempfile.mkdtemp(prefix="gofer-chromium-")
    log_path = os.path.join(log_dir or tmp, "chromedriver.log")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for f in CHROMIUM_FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={os.path.join(tmp, 'profile')}")
    opts.add_argument(f"--window-size={width},{height}")
    service = Service(executable_path=driver_path, log_path=log_path)
    try:
        try:
            d = webdriver.Chrome(service=service, options=opts)
        except Exception as e:  # selenium's WebDriverException and friends
            log = ""
            with contextlib.suppress(OSError):
                with open(log_path, errors="replace") as f:
                    log = f.read()[-3000:]
            raise browser_error(f"chromium did not start: {e}\nchromedriver log:\n{log}") from None
        d.set_page_load_timeout(30)
        d.set_script_timeout(30)
        try:
            yield d
        finally:
            with contextlib.suppress(Exception):
                d.quit()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wait_for(driver, cond, timeout=10.0, what="condition"):
    """Polls cond() (every 50 ms) until it returns a true value, and returns that value;
    exceptions count as false. After `timeout` seconds raises AssertionError naming `what`,
    with the last exception and the page's URL."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # the element is not there yet, a stale reference, ...
            last = e
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} on {driver.current_url}"
                                 + (f" (last error: {last})" if last else ""))
        time.sleep(0.05)


def screenshot(driver, path):
    """Writes a PNG of the whole page (the window grown to the document's height) to `path`;
    returns the path. Raises browser_error if Chromium returned no PNG."""
    h = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    w = driver.get_window_size()["width"]
    driver.set_window_size(w, max(int(h) + 100, 400))
    png = driver.get_screenshot_as_png()
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise browser_error("the screenshot is not a PNG")
    with open(path, "wb") as f:
        f.write(png)
    return path


def main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="gofer_browser.py", description="headless Chromium helpers")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("screenshot", help="save a PNG of a page")
    s.add_argument("url")
    s.add_argument("out")
    s.add_argument("--width", type=int, default=1200)
    s.add_argument("--wait-ms", type=int, default=500, help="let scripts run this long first")
    a = p.parse_args(argv)
    try:
        with chromium(width=a.width) as b:
            b.get(a.url)
            time.sleep(a.wait_ms / 1000)
            screenshot(b, a.out)
    except browser_error as e:
        print(f"gofer_browser: {e}", file=sys.stderr)
        return 1
    print(f"saved {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
