"""web_test — filesync's web page in a real browser (label `browser`): headless Chromium
(tests/browser/gofer_browser.py) drives the page the service serves.

  1. the page lists what the folder already holds (a file made before the page loaded);
  2. a file created on disk shows up as a change alert, pushed by the server, without a
     reload (the page's own marker survives), and in the list;
  3. a file uploaded through the form (multipart) lands in the folder byte for byte and
     becomes a version like any other change;
  4. the revert button restores an old version: the folder holds its content again, and it
     is a new version (v3), as the book says;
  5. bad input: a malformed upload gets a 400 and the page keeps working.
Then the service stops gracefully on SIGTERM.

    /usr/bin/python3 chapters/ch08_filesync/web_test.py FILESYNC_BIN [--screenshot OUT.png]

The alerts come from the page's EventSource on /events (Server-Sent Events, gofer::http's
event_stream); the list refreshes itself on each one, so every wait below is for the page
to change on its own.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "browser"))
import gofer_browser  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402


def wait_file(path, timeout=10):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > end:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("filesync")
    ap.add_argument("--screenshot")
    a = ap.parse_args()

    base = tempfile.mkdtemp(prefix="gofer-filesync-web-")
    folder, store = os.path.join(base, "folder"), os.path.join(base, "store")
    os.makedirs(folder)
    os.makedirs(store)
    with open(os.path.join(folder, "hello.txt"), "w") as f:
        f.write("hello\n")
    log = open(os.path.join(base, "service.log"), "w")
    svc = subprocess.Popen([a.filesync, "--service", "--dir", folder, "--data", store,
                            "--addr-file", os.path.join(store, "addr"), "--web", "127.0.0.1:0",
                            "--web-addr-file", os.path.join(store, "web"), "--quiet-ms", "100"],
                           stdout=log, stderr=subprocess.STDOUT)
    passed = 0
    try:
        wait_file(os.path.join(store, "web"))
        url = "http://" + open(os.path.join(store, "web")).read() + "/"
        with gofer_browser.chromium() as b:
            def row(name):
                for tr in b.find_elements(By.CSS_SELECTOR, "#files tbody tr"):
                    if tr.get_attribute("data-name") == name:
                        return tr
                return None

            def version_of(name):
                tr = row(name)
                return tr.find_element(By.CSS_SELECTOR, "td.version").text if tr else None

            def alert_text():
                return [li.text for li in b.find_elements(By.CSS_SELECTOR, "#alerts li")]

            # 1. The list.
            b.get(url)
            gofer_browser.wait_for(b, lambda: version_of("hello.txt") == "v1", what="hello.txt v1 in the list")
            b.execute_script("window.__noReload = 'still here'")
            print("ok: the page lists hello.txt v1")
            passed += 1

            # 2. A file made on disk: an alert without a reload.
            with open(os.path.join(folder, "notes.txt"), "w") as f:
                f.write("first\n")
            gofer_browser.wait_for(b, lambda: any("notes.txt is now v1" in t for t in alert_text()),
                                   what="the alert for notes.txt v1")
            gofer_browser.wait_for(b, lambda: b.find_element(By.ID, "live").text == "live", what="'live'")
            gofer_browser.wait_for(b, lambda: version_of("notes.txt") == "v1", what="notes.txt v1 in the list")
            with open(os.path.join(folder, "notes.txt"), "w") as f:
                f.write("second\n")
            gofer_browser.wait_for(b, lambda: any("notes.txt is now v2" in t for t in alert_text()),
                                   what="the alert for notes.txt v2")
            gofer_browser.wait_for(b, lambda: version_of("notes.txt") == "v2", what="notes.txt v2 in the list")
            print("ok: notes.txt made on disk was pushed to the page as an alert, then its v2")
            passed += 1

            # 3. An upload through the form, under another name, in a subdirectory.
            payload = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
            src = os.path.join(base, "upload.bin")
            with open(src, "wb") as f:
                f.write(payload)
            b.find_element(By.ID, "upload-file").send_keys(src)
            b.find_element(By.ID, "upload-name").send_keys("docs/up.bin")
            b.find_element(By.ID, "upload-button").click()
            gofer_browser.wait_for(b, lambda: "uploaded docs/up.bin" in b.find_element(By.ID, "upload-status").text,
                                   what="the upload's answer")
            gofer_browser.wait_for(b, lambda: any("docs/up.bin is now v1" in t for t in alert_text()),
                                   what="the alert for the upload")
            gofer_browser.wait_for(b, lambda: version_of("docs/up.bin") == "v1", what="docs/up.bin v1")
            with open(os.path.join(folder, "docs", "up.bin"), "rb") as f:
                got = f.read()
            assert got == payload, f"the uploaded file differs on disk ({len(got)} bytes, want {len(payload)})"
            print(f"ok: the upload is docs/up.bin v1, {len(got)} bytes on disk, byte for byte")
            passed += 1

            # 4. Revert notes.txt to v1 with its button: a new version v3 with v1's content.
            button = gofer_browser.wait_for(
                b, lambda: row("notes.txt").find_element(By.CSS_SELECTOR, "button.revert[data-version='1']"),
                what="the v1 button")
            button.click()
            gofer_browser.wait_for(b, lambda: any("notes.txt is now v3" in t for t in alert_text()),
                                   what="the alert for the revert")
            gofer_browser.wait_for(b, lambda: version_of("notes.txt") == "v3", what="notes.txt v3")
            with open(os.path.join(folder, "notes.txt")) as f:
                content = f.read()
            assert content == "first\n", f"notes.txt on disk is {content!r} after the revert"
            assert b.execute_script("return window.__noReload") == "still here", "the page was reloaded"
            print("ok: the revert button made notes.txt v3 with v1's content on disk; the page never reloaded")
            passed += 1

            # 5. A malformed upload (no closing boundary) is refused; the page still answers.
            req = urllib.request.Request(url + "upload", method="POST", data=b"--x\r\nContent-Disposition: form-data; "
                                         b"name=\"file\"; filename=\"a\"\r\n\r\ncut off",
                                         headers={"Content-Type": "multipart/form-data; boundary=x",
                                                  "Accept": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=10)
                raise AssertionError("a cut-off upload was accepted")
            except urllib.error.HTTPError as e:
                assert e.code == 400, f"a cut-off upload got {e.code}"
            assert not os.path.exists(os.path.join(folder, "a")), "the cut-off upload reached the folder"
            b.execute_script("load()")
            gofer_browser.wait_for(b, lambda: version_of("docs/up.bin") == "v1", what="the list after a bad upload")
            print("ok: a cut-off upload got 400 and left nothing in the folder")
            passed += 1

            if a.screenshot:
                gofer_browser.screenshot(b, a.screenshot)
                print(f"screenshot: {a.screenshot}")

        svc.send_signal(signal.SIGTERM)
        rc = svc.wait(timeout=15)
        assert rc == 0, f"the service exited with {rc}"
        print("ok: the service stopped gracefully")
        passed += 1
    except (AssertionError, gofer_browser.browser_error) as e:
        print(f"FAIL: {e}")
        log.flush()
        print("--- the service's log ---\n" + open(os.path.join(base, "service.log")).read())
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    failed = 6 - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
