#!/usr/bin/env python3
"""ex.py — the exercise runner behind `./gofer ex` (rustlings for gofer).

    ./gofer ex                 list the exercises, done or todo, with a progress bar
    ./gofer ex watch           check the current exercise on every save (keys: h l n q)
    ./gofer ex check <name>    build and check one exercise
    ./gofer ex hint <name>     a hint (a question, never the answer)
    ./gofer ex reset <name>    put back the version that shipped (from git)
    ./gofer ex verify [name..] maintainers and CI: every exercise fails as shipped, every
                               solution passes, info.json and the files match one to one

exercises/info.json is the single source of truth: it lists the exercises in reading order
with their chapter, file, mode and hint; exercises/CMakeLists.txt makes three targets of each
(ex_<name> from the learner's file, exsol_<name> from exercises/solutions/, exship_<name>
from the shipped copy that `verify` writes into the build tree).

Python standard library only. Building goes through `./gofer _build <preset> <targets>`
(which installs and configures what is missing), except with --build-dir (CTest's verify),
where it calls cmake --build on that tree directly.
"""

import argparse
import concurrent.futures
import difflib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
INFO = os.path.join(HERE, "info.json")
PROGRESS = os.path.join(ROOT, ".gofer", "exercises.json")  # git-ignored (/.gofer/)
DEFAULT_TIMEOUT = 10.0  # seconds a run may take before it counts as hung
MODES = ("run", "test")
SHIPPED = ("compile-error", "fails")
ORDERS = ("exact", "unordered")

# Colour only on a terminal, and never with NO_COLOR set (no-color.org).
COLOUR = sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def green(text):
    return f"\033[32m{text}\033[0m" if COLOUR else text


def red(text):
    return f"\033[31m{text}\033[0m" if COLOUR else text


# ---- info.json -----------------------------------------------------------------------------


class InfoError(Exception):
    pass


def load_info():
    """Reads and validates info.json; returns the list of exercises (dicts), in order."""
    try:
        with open(INFO, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise InfoError(f"{rel(INFO)}: {e}")
    exercises = info.get("exercises")
    if not isinstance(exercises, list) or not exercises:
        raise InfoError(f"{rel(INFO)}: no \"exercises\" list")
    seen = set()
    for i, ex in enumerate(exercises):
        where = f"{rel(INFO)}: exercise #{i + 1}"
        for key in ("name", "chapter", "file", "mode", "shipped", "hint"):
            if key not in ex:
                raise InfoError(f"{where}: missing \"{key}\"")
        name = ex["name"]
        where = f"{rel(INFO)}: {name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise InfoError(f"{where}: a name is lower case letters, digits and _")
        if name in seen:
            raise InfoError(f"{where}: the name is used twice")
        seen.add(name)
        if ex["mode"] not in MODES:
            raise InfoError(f"{where}: mode must be one of {MODES}")
        if ex["shipped"] not in SHIPPED:
            raise InfoError(f"{where}: shipped must be one of {SHIPPED}")
        if ex["mode"] == "run":
            if not isinstance(ex.get("output"), list):
                raise InfoError(f"{where}: a run exercise needs \"output\", a list of lines")
            if ex.get("order", "exact") not in ORDERS:
                raise InfoError(f"{where}: order must be one of {ORDERS}")
        links = ex.get("links", [])
        if not isinstance(links, list) or not all(isinstance(x, str) and x for x in links):
            raise InfoError(f"{where}: links is a list of CMake target names")
        if not ex["file"].endswith(".cpp") or ex["file"].startswith(("/", "solutions/")):
            raise InfoError(f"{where}: file is a .cpp path under exercises/")
    return exercises


def find(exercises, name):
    for ex in exercises:
        if ex["name"] == name:
            return ex
    close = difflib.get_close_matches(name, [e["name"] for e in exercises], n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    die(f"no exercise named '{name}'{hint}; `./gofer ex` lists them")


def rel(path):
    return os.path.relpath(path, ROOT)


def exercise_path(ex):
    return os.path.join(HERE, ex["file"])


def solution_path(ex):
    return os.path.join(HERE, "solutions", ex["file"])


# ---- progress ------------------------------------------------------------------------------


def load_progress():
    try:
        with open(PROGRESS, encoding="utf-8") as f:
            data = json.load(f)
        return {"done": set(data.get("done", [])), "current": data.get("current")}
    except (OSError, ValueError):
        return {"done": set(), "current": None}


def save_progress(progress):
    os.makedirs(os.path.dirname(PROGRESS), exist_ok=True)
    tmp = PROGRESS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"done": sorted(progress["done"]), "current": progress["current"]}, f, indent=1)
    os.replace(tmp, PROGRESS)


def bar(done, total, width=20):
    filled = round(width * done / total) if total else 0
    return f"[{'█' * filled}{'░' * (width - filled)}] {done}/{total}"


def first_todo(exercises, progress, after=None):
    """The first exercise not done, starting after `after` (wrapping round), or None."""
    names = [e["name"] for e in exercises]
    start = names.index(after) + 1 if after in names else 0
    for k in range(len(names)):
        ex = exercises[(start + k) % len(names)]
        if ex["name"] not in progress["done"]:
            return ex
    return None


# ---- building ------------------------------------------------------------------------------


class Builder:
    """Builds targets either through ./gofer _build <preset> or in an existing build tree."""

    def __init__(self, preset, build_dir=None):
        self.preset = preset
        self.dir = os.path.abspath(build_dir) if build_dir else os.path.join(ROOT, "build", preset)

    def bin(self, kind, ex):
        sub = {"ex": "bin", "exsol": "solutions/bin", "exship": "shipped/bin"}[kind]
        return os.path.join(self.dir, "exercises", sub, ex["name"])

    def build(self, targets, keep_going=False, capture=False):
        """Builds the targets; returns (ok, output). The compiler's messages go to the
        terminal as they are, unless capture is set."""
        if os.path.isfile(os.path.join(self.dir, "build.ninja")) and (
                keep_going or self.dir != os.path.join(ROOT, "build", self.preset)):
            cmd = ["cmake", "--build", self.dir, "--target", *targets, "-j", "2"]
            if keep_going:
                cmd += ["--", "-k", "0"]
        else:
            cmd = [os.path.join(ROOT, "gofer"), "_build", self.preset, *targets]
        if capture:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace")
            return p.returncode == 0, p.stdout
        p = subprocess.run(cmd)
        return p.returncode == 0, ""


# ---- running and checking ------------------------------------------------------------------


class Outcome:
    def __init__(self, ok, report):
        self.ok = ok
        self.report = report  # what to show the learner (empty when ok)


def run_program(args, timeout):
    """Runs args; returns (status, stdout, stderr, timed_out). A run that outlives `timeout`
    gets SIGQUIT first, so gofer prints what every goroutine is doing, then SIGKILL."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", start_new_session=True, cwd=ROOT)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGQUIT)
            out, err = p.communicate(timeout=3)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = p.communicate()
        return p.returncode, out, err, True


def indent(text, prefix="  "):
    lines = text.rstrip("\n").split("\n") if text.strip() else ["(nothing)"]
    return "\n".join(prefix + line for line in lines)


def compare_output(ex, out):
    """None if `out` is what info.json expects, else the 'expected / but found' report."""
    expected = ex["output"]
    found = out.rstrip("\n").split("\n") if out.strip("\n") else []
    if ex.get("order", "exact") == "exact":
        if found == expected:
            return None
        how = "expected:"
    else:
        # Any order, except the summary: the last expected line must come last.
        if sorted(found) == sorted(expected) and (not expected or found[-1] == expected[-1]):
            return None
        how = "expected (these lines in any order, the last one last):"
    return f"{how}\n{indent(chr(10).join(expected))}\nbut found:\n{indent(out)}"


def check_binary(ex, exe, slack=1.0):
    """Runs a built exercise or solution and judges it. The time limit is info.json's
    (or DEFAULT_TIMEOUT) times slack."""
    timeout = float(ex.get("timeout", DEFAULT_TIMEOUT)) * slack
    args = [exe]
    try:
        status, out, err, timed_out = run_program(args, timeout)
    except OSError as e:
        return Outcome(False, f"could not run {exe}: {e}")
    if timed_out:
        return Outcome(False, (
            f"still running after {timeout:g} s, so it was stopped. A goroutine waits for something\n"
            f"that never comes while a timer or sleep keeps the deadlock detector quiet, or a loop\n"
            f"never ends. What each goroutine was doing:\n{indent(err)}\n"
            f"its output so far:\n{indent(out)}"))
    if ex["mode"] == "test":
        if status == 0:
            return Outcome(True, "")
        return Outcome(False, f"the tests failed (exit status {status}):\n{out}{err}")
    if status != 0:
        detail = f"it printed:\n{indent(out)}\n" if out.strip() else ""
        return Outcome(False, f"the program ended with exit status {status}:\n{err}{detail}")
    mismatch = compare_output(ex, out)
    if mismatch:
        extra = f"\nstderr:\n{indent(err)}" if err.strip() else ""
        return Outcome(False, f"the output is not right yet.\n{mismatch}{extra}")
    return Outcome(True, "")


def check(ex, builder, progress):
    """Builds and checks the learner's version; records the result; returns True if it passes."""
    print(f"── {ex['name']} ({rel(exercise_path(ex))}) ──", flush=True)
    built, _ = builder.build([f"ex_{ex['name']}"])
    if not built:
        print(red(f"\n✗ {ex['name']} does not compile yet (the compiler's messages are above)."))
        outcome = Outcome(False, "")
    else:
        outcome = check_binary(ex, builder.bin("ex", ex))
        if outcome.ok:
            print(green(f"✓ {ex['name']} passes!"))
        else:
            print(f"{red('✗ ' + ex['name'])}: {outcome.report.rstrip()}")
    if outcome.ok:
        progress["done"].add(ex["name"])
    else:
        progress["done"].discard(ex["name"])
    save_progress(progress)
    return outcome.ok


# ---- commands ------------------------------------------------------------------------------


def cmd_list(exercises, progress, current=None):
    done = progress["done"]
    print(f"  {'':2} {'name':<16} {'chapter':<8} {'status':<7} file")
    for ex in exercises:
        mark = "✓" if ex["name"] in done else " "
        status = "done" if ex["name"] in done else "todo"
        chapter = "quiz" if ex.get("quiz") else str(ex["chapter"])
        arrow = "  ← current" if current and ex["name"] == current["name"] else ""
        print(f"  {mark:2} {ex['name']:<16} {chapter:<8} {status:<7} "
              f"{rel(exercise_path(ex))}{arrow}")
    n = sum(1 for e in exercises if e["name"] in done)
    print(f"\n{bar(n, len(exercises))}")
    nxt = first_todo(exercises, progress)
    if nxt:
        print(f"next: {nxt['name']}   (./gofer ex watch, or ./gofer ex check {nxt['name']})")
    else:
        print("all done: every exercise passes. Well done!")


def cmd_hint(ex):
    print(f"hint for {ex['name']} ({rel(exercise_path(ex))}):\n")
    for paragraph in ex["hint"].split("\n"):
        print(textwrap.fill(paragraph, width=92))


def git_shipped(ex):
    """The shipped text of the exercise: git's version (the index: committed or staged), or
    None if the file is not in git (or git is missing)."""
    if not shutil.which("git"):
        return None
    p = subprocess.run(["git", "-C", ROOT, "show", f":exercises/{ex['file']}"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p.stdout.decode() if p.returncode == 0 else None


def cmd_reset(ex, progress):
    text = git_shipped(ex)
    if text is None:
        die(f"{rel(exercise_path(ex))} is not in git here, so there is no shipped version to restore")
    with open(exercise_path(ex), "w", encoding="utf-8") as f:
        f.write(text)
    progress["done"].discard(ex["name"])
    save_progress(progress)
    print(f"{rel(exercise_path(ex))} is back as it shipped.")


# ---- watch ---------------------------------------------------------------------------------


class Keys:
    """Single key presses from a terminal (cbreak mode), or lines from a pipe."""

    def __init__(self):
        self.tty = sys.stdin.isatty()
        self.eof = False
        self.saved = None
        if self.tty:
            import termios
            import tty
            self.saved = termios.tcgetattr(sys.stdin)
            tty.setcbreak(sys.stdin.fileno())

    def restore(self):
        if self.saved is not None:
            import termios
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self.saved)
            self.saved = None

    def poll(self, timeout):
        """A key ('h', 'l', ...) if one arrives within timeout seconds, else None."""
        if self.eof:
            time.sleep(timeout)
            return None
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        if not ready:
            return None
        if self.tty:
            ch = os.read(sys.stdin.fileno(), 1).decode(errors="ignore")
        else:
            ch = sys.stdin.readline()
            if not ch:
                self.eof = True
                return None
            ch = ch.strip()[:1]
        return ch.lower() or None


def mtime(path):
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def cmd_watch(exercises, builder, progress):
    current = None
    if progress["current"]:
        current = next((e for e in exercises if e["name"] == progress["current"]), None)
    if current is None or current["name"] in progress["done"]:
        current = first_todo(exercises, progress) or exercises[-1]
    keys = Keys()
    clear = sys.stdout.isatty()

    def footer(passed):
        n = sum(1 for e in exercises if e["name"] in progress["done"])
        print()
        if passed:
            print(green(f"✓ {current['name']} is done. Press n for the next exercise."))
        print(f"{bar(n, len(exercises))}   current: {rel(exercise_path(current))}")
        print("keys: h hint · l list · n next · r re-check · q quit   (save the file to re-check)",
              flush=True)

    def run_check():
        if clear:
            print("\033[2J\033[H", end="")
        progress["current"] = current["name"]
        passed = check(current, builder, progress)
        footer(passed)
        return passed

    try:
        passed = run_check()
        stamp = mtime(exercise_path(current))
        while True:
            key = keys.poll(0.3)
            now = mtime(exercise_path(current))
            if now != stamp:
                stamp = now
                time.sleep(0.1)  # let the editor finish writing
                stamp = mtime(exercise_path(current))
                passed = run_check()
            if key is None:
                continue
            if key == "q":
                break
            if key == "h":
                print()
                cmd_hint(current)
                footer(passed)
            elif key == "l":
                print()
                cmd_list(exercises, progress, current)
                footer(passed)
            elif key == "r":
                passed = run_check()
            elif key == "n":
                nxt = first_todo(exercises, progress, after=current["name"])
                if nxt is None:
                    print("\nEvery exercise passes. That is the whole course so far: well done!")
                    break
                if not passed:
                    print(f"\n(skipping {current['name']}: it stays todo)")
                current = nxt
                stamp = mtime(exercise_path(current))
                passed = run_check()
    except KeyboardInterrupt:
        print()
    finally:
        keys.restore()
        save_progress(progress)


# ---- verify --------------------------------------------------------------------------------


def listed_files(exercises):
    return {ex["file"] for ex in exercises}


def cpp_files(top, skip=None):
    found = set()
    for d, dirs, files in os.walk(top):
        if skip:
            dirs[:] = [x for x in dirs if os.path.join(d, x) != skip]
        for f in files:
            if f.endswith(".cpp"):
                found.add(os.path.relpath(os.path.join(d, f), top))
    return found


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def cmd_verify(exercises, builder, only=()):
    """only: names to verify (all if empty); the files are always checked against info.json."""
    start = time.monotonic()
    problems = []

    # 1. info.json and the files, one to one.
    listed = listed_files(exercises)
    solutions_dir = os.path.join(HERE, "solutions")
    on_disk = cpp_files(HERE, skip=solutions_dir)
    for f in sorted(on_disk - listed):
        problems.append(f"exercises/{f} is not in info.json")
    for f in sorted(listed - on_disk):
        problems.append(f"info.json lists exercises/{f}, which does not exist")
    sols = cpp_files(solutions_dir)
    for f in sorted(sols - listed):
        problems.append(f"exercises/solutions/{f} belongs to no exercise in info.json")
    for f in sorted(listed - sols):
        problems.append(f"exercises/solutions/{f} (the solution) is missing")
    if problems:
        return report_verify(problems, [], start)
    if only:
        exercises = [ex for ex in exercises if ex["name"] in only]

    # 2. The shipped versions (git's, not the learner's edits) go into the build tree.
    shipped_dir = os.path.join(builder.dir, "exercises", "shipped")
    for ex in exercises:
        text = git_shipped(ex)
        if text is None:
            with open(exercise_path(ex), encoding="utf-8") as f:
                text = f.read()
        if "TODO" not in text:
            problems.append(f"{ex['name']}: the shipped file has no TODO marker")
        with open(solution_path(ex), encoding="utf-8") as f:
            if f.read() == text:
                problems.append(f"{ex['name']}: the solution is the shipped file")
        write_if_changed(os.path.join(shipped_dir, ex["file"]), text)

    # 3. One build of every shipped and solution target (keep going past the failures).
    if not os.path.isfile(os.path.join(builder.dir, "build.ninja")):
        ok, _ = builder.build(["gofer"])  # configures the tree (and installs what is missing)
        if not ok:
            return report_verify(["could not configure and build the library"], [], start)
    targets = [f"exship_{e['name']}" for e in exercises] + [f"exsol_{e['name']}" for e in exercises]
    print(f"building {len(targets)} targets ...", flush=True)
    t0 = time.monotonic()
    _, log = builder.build(targets, keep_going=True, capture=True)
    build_s = time.monotonic() - t0
    failed = set(re.findall(r"^FAILED: .*?CMakeFiles/(ex(?:ship|sol)_[a-z0-9_]+)\.dir/", log, re.M))
    failed |= set(re.findall(r"^FAILED: .*?/(?:shipped|solutions)/bin/([a-z0-9_]+)$", log, re.M))
    if "ninja: error" in log or "CMake Error" in log:
        problems.append("the build itself failed:\n" + indent(log[-3000:]))
        return report_verify(problems, [], start)

    # 4. Run them, two at a time.
    def judge(ex):
        lines = []
        ship_target, sol_target = f"exship_{ex['name']}", f"exsol_{ex['name']}"
        ship_bin = builder.bin("exship", ex)
        compiled = ship_target not in failed and os.path.exists(ship_bin)
        if ex["shipped"] == "compile-error":
            if compiled:
                lines.append(f"{ex['name']}: the shipped version compiles, but info.json says it must not")
        elif not compiled:
            lines.append(f"{ex['name']}: the shipped version does not compile (info.json: it compiles and fails)")
        else:
            o = check_binary(ex, ship_bin, slack=3)
            if o.ok:
                lines.append(f"{ex['name']}: the shipped version PASSES; it must fail")
        if sol_target in failed or not os.path.exists(builder.bin("exsol", ex)):
            lines.append(f"{ex['name']}: the solution does not compile")
        else:
            o = check_binary(ex, builder.bin("exsol", ex), slack=3)
            if not o.ok:
                lines.append(f"{ex['name']}: the solution fails:\n{indent(o.report)}")
        return ex["name"], lines

    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for name, lines in pool.map(judge, exercises):
            results.append((name, lines))
            problems.extend(lines)
    if any(f"exsol_{e['name']}" in failed for e in exercises):
        problems.append("solution build log:\n" + indent(log[-6000:]))
    print(f"build: {build_s:.1f} s")
    return report_verify(problems, results, start)


def report_verify(problems, results, start):
    for name, lines in results:
        print(f"  {'ok ' if not lines else 'BAD'} {name}")
    took = time.monotonic() - start
    if problems:
        print(f"\nverify found {len(problems)} problem(s) in {took:.1f} s:")
        for p in problems:
            print(f"- {p}")
        return 1
    print(f"\nverify: all {len(results)} exercises fail as shipped and pass as solved "
          f"({took:.1f} s)")
    return 0


# ---- main ----------------------------------------------------------------------------------


def die(msg):
    print(f"gofer ex: {msg}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    ap = argparse.ArgumentParser(
        prog="./gofer ex",
        description="gofer's exercises, rustlings style: fix the code until it passes.")
    ap.add_argument("--preset", default="release", help="build preset (default: release)")
    ap.add_argument("--build-dir", help="use this configured build tree (CTest's verify)")
    sub = ap.add_subparsers(dest="command", metavar="command")
    sub.add_parser("list", help="list the exercises with done/todo (the default)")
    sub.add_parser("watch", help="re-check the current exercise on every save")
    for c, h in (("check", "build and check one exercise"), ("hint", "show a hint"),
                 ("reset", "restore the shipped version from git")):
        sub.add_parser(c, help=h).add_argument("name")
    sub.add_parser("verify", help="every exercise fails as shipped, every solution passes "
                   "(or only the named ones)").add_argument("names", nargs="*")
    args = ap.parse_args(argv)

    try:
        exercises = load_info()
    except InfoError as e:
        die(str(e))
    progress = load_progress()
    builder = Builder(args.preset, args.build_dir)
    command = args.command or "list"
    if command == "list":
        cmd_list(exercises, progress)
    elif command == "hint":
        cmd_hint(find(exercises, args.name))
    elif command == "check":
        return 0 if check(find(exercises, args.name), builder, progress) else 1
    elif command == "reset":
        cmd_reset(find(exercises, args.name), progress)
    elif command == "watch":
        cmd_watch(exercises, builder, progress)
    elif command == "verify":
        return cmd_verify(exercises, builder, [find(exercises, n)["name"] for n in args.names])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
