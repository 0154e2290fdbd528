#!/usr/bin/env python3
"""calendar --serve as issue 24 found it (test demo.calendar_serve): run the demo's server
on a free loopback port and check, over real HTTP:

  1. a "by" of 39 ASCII letters + "é" (41 bytes) is cut on a code-point boundary: the
     booking answers valid JSON and every later GET /api/users still answers 200;
  2. registrations stop at --max-users (403), so the listing stays bounded;
  3. SIGTERM and SIGINT each shut the server down gracefully (exit 0, "shutting down
     gracefully"), as hello-server does.

Usage: calendar_serve_test.py <path to the calendar executable>
"""
import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

DEMO = sys.argv[1]


def start(*args):
    p = subprocess.Popen([DEMO, "--serve", "--addr", "127.0.0.1:0", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+)/users", line)
    if not m:
        p.kill()
        sys.exit(f"FAIL: no address in {line!r}")
    return p, m.group(1)


def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body.encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stop(p, sig):
    p.send_signal(sig)
    out, _ = p.communicate(timeout=20)
    return p.returncode, out


failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# 1 and 2, then SIGTERM.
p, base = start("--max-users", "3")
try:
    check(call("POST", base + "/register/Zed")[0] == 201, "register Zed: 201")
    status, body = call("POST", base + "/schedule/Zed/9", json.dumps({"by": "a" * 39 + "é"}))
    check(status == 200, f"book with a 41-byte 'by': 200 (got {status})")
    check(json.loads(body)["booked_by"] == "a" * 39, "'by' cut before the 2-byte character")
    for i in range(2):
        status, body = call("GET", base + "/api/users")
        check(status == 200 and json.loads(body)["users"][1]["slots"][0]["booked_by"] == "a" * 39,
              f"GET /api/users #{i + 1} still answers 200 with the booking")
    check(call("POST", base + "/register/Amy")[0] == 201, "register Amy: 201 (3 users now, with Bill)")
    status, body = call("POST", base + "/register/Eve")
    check(status == 403 and b"full" in body, f"register a 4th with --max-users 3: 403 full (got {status})")
    status, body = call("GET", base + "/api/users")
    check(status == 200 and len(json.loads(body)["users"]) == 3, "the listing holds 3 users")
finally:
    code, out = stop(p, signal.SIGTERM)
check(code == 0 and "got SIGTERM: shutting down gracefully" in out and "shut down gracefully" in out,
      f"SIGTERM: graceful shutdown, exit 0 (exit {code}, output {out!r})")

# SIGINT (Ctrl-C).
p, base = start()
check(call("GET", base + "/api/users")[0] == 200, "second server answers")
code, out = stop(p, signal.SIGINT)
check(code == 0 and "got SIGINT: shutting down gracefully" in out, f"SIGINT: graceful shutdown, exit 0 (exit {code})")

if failures:
    sys.exit(f"{len(failures)} check(s) failed")
print("calendar --serve: UTF-8 cut, user cap and SIGTERM/SIGINT shutdown all hold")
