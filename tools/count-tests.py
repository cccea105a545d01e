#!/usr/bin/env python3
"""Count test results over meson testlog JSON files (TAP subtests of each
test) and plain TAP files, and print 'N passed, N failed, N skipped'."""
import json
import re
import sys

passed = failed = skipped = 0


def show_failures(name, lines):
    """Print each failed TAP subtest with the diagnostics after it (meson
    prints only stderr; bats writes its diagnostics to stdout), so that a
    CI log says which line failed and what it printed."""
    header = in_failure = False
    for l in lines:
        if l.startswith("not ok"):
            if not header:
                print(f"--- {name}:")
            header = in_failure = True
            print(l)
        elif in_failure and l.startswith("#"):
            print(l)
        elif l.startswith("ok"):
            in_failure = False


def tap_lines(lines):
    """Count TAP result lines; return how many there were and failed."""
    global passed, failed, skipped
    n = nfail = 0
    for l in lines:
        m = re.match(r"^(not ok|ok)\b(.*)", l)
        if not m:
            continue
        n += 1
        if re.search(r"#\s*skip", m.group(2), re.I):
            skipped += 1
        elif m.group(1) == "ok":
            passed += 1
        else:
            failed += 1
            nfail += 1
    return n, nfail


for path in sys.argv[1:]:
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError:
        failed += 1  # a stage that produced no log did not run
        print(f"missing test log {path}")
        continue
    with f:
        if not path.endswith(".json"):
            out = f.read().splitlines()
            n, nfail = tap_lines(out)
            if n == 0:
                failed += 1
            if nfail:
                show_failures(path, out)
            continue
        for line in f:
            t = json.loads(line)
            out = t.get("stdout", "").splitlines()
            n, nfail = tap_lines(out)
            if nfail:
                show_failures(f"{path}: {t.get('name')}", out)
            result = t.get("result")
            if n == 0:
                if result == "OK":
                    passed += 1
                elif result == "SKIP":
                    skipped += 1
                else:
                    failed += 1
            elif result not in ("OK", "SKIP", "EXPECTEDFAIL") and nfail == 0:
                failed += 1  # died after (or between) its subtests
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
