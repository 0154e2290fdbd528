"""chat_browser_test — the chat room's page in a real browser (CTest label `browser`).

Starts `chatroom --serve --addr 127.0.0.1:0` and drives Debian's headless Chromium through
tests/browser/gofer_browser.py (python3-selenium + chromedriver):

  1. the page opens in two tabs; each says "connected" (its WebSocket to /room is open);
  2. a message typed and sent in tab 1 appears in tab 2 (and in tab 1: the room sends
     every message to everyone, the sender too);
  3. a message from tab 2 that looks like HTML arrives in tab 1 as text, not as markup;
  4. a screenshot of tab 2 (--screenshot OUT.png) to look at;
  5. SIGTERM: the server stops gracefully (exit 0, its "stopped on signal" line), and the
     page shows the close it received (1001, "bye": the room's writers say goodbye).

    /usr/bin/python3 chapters/m2_ch1_chat_room/chat_browser_test.py CHATROOM_BIN [--screenshot OUT.png]
"""

import argparse
import os
import re
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "browser"))
import gofer_browser  # noqa: E402

from selenium.webdriver.common.by import By  # noqa: E402


def messages(b):
    return [li.text for li in b.find_elements(By.CSS_SELECTOR, "#messages li")]


def status(b):
    return b.find_element(By.ID, "status").text


def send(b, text):
    box = b.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    b.find_element(By.ID, "send").click()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("chatroom")
    ap.add_argument("--screenshot")
    a = ap.parse_args()

    srv = subprocess.Popen([a.chatroom, "--serve", "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        first = srv.stdout.readline()
        m = re.search(r"chat room on (http://127\.0\.0\.1:[0-9]+/)", first)
        assert m, f"unexpected first line from chatroom --serve: {first!r}"
        url = m.group(1)

        with gofer_browser.chromium(width=900, height=700) as b:
            # 1. Two tabs on the page, both connected.
            b.get(url)
            assert b.title == "gofer chat", b.title
            gofer_browser.wait_for(b, lambda: status(b) == "connected", what="tab 1 connected")
            tab1 = b.current_window_handle
            b.switch_to.new_window("tab")
            tab2 = b.current_window_handle
            b.get(url)
            gofer_browser.wait_for(b, lambda: status(b) == "connected", what="tab 2 connected")

            # 2. Tab 1 talks, tab 2 hears it; tab 1 hears itself too.
            b.switch_to.window(tab1)
            send(b, "hello from tab one")
            b.switch_to.window(tab2)
            gofer_browser.wait_for(b, lambda: "hello from tab one" in messages(b), what="tab 2 got tab 1's message")
            b.switch_to.window(tab1)
            gofer_browser.wait_for(b, lambda: "hello from tab one" in messages(b), what="tab 1 got its own message")

            # 3. Tab 2 answers with something that looks like markup: it must stay text.
            b.switch_to.window(tab2)
            send(b, "<b>not bold</b> & fine")
            b.switch_to.window(tab1)
            gofer_browser.wait_for(b, lambda: "<b>not bold</b> & fine" in messages(b), what="tab 1 got tab 2's answer")
            assert not b.find_elements(By.CSS_SELECTOR, "#messages b"), "a message was rendered as HTML"
            assert messages(b) == ["hello from tab one", "<b>not bold</b> & fine"], messages(b)

            # 4. What tab 2 looks like.
            b.switch_to.window(tab2)
            gofer_browser.wait_for(b, lambda: len(messages(b)) == 2, what="tab 2 has both messages")
            if a.screenshot:
                gofer_browser.screenshot(b, a.screenshot)
                print(f"screenshot: {a.screenshot}")

            # 5. Stop the server: the pages are told goodbye.
            srv.send_signal(signal.SIGTERM)
            out, _ = srv.communicate(timeout=20)
            assert srv.returncode == 0, f"chatroom exited {srv.returncode}:\n{out}"
            assert re.search(r"^stopped on signal 15: 2 clients joined, 2 messages forwarded$", out, re.M), out
            gofer_browser.wait_for(b, lambda: status(b).startswith("connection closed (1001"),
                                   what="tab 2 saw the close")
            b.switch_to.window(tab1)
            gofer_browser.wait_for(b, lambda: status(b).startswith("connection closed (1001"),
                                   what="tab 1 saw the close")
        print("chat page: two tabs talked through the room, text stayed text, both saw the goodbye")
        return 0
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except gofer_browser.browser_error as e:
        print(f"chat_browser_test: {e}", file=sys.stderr)
        sys.exit(1)
