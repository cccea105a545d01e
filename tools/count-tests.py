#!/usr/bin/env python3
"""Count test results over meson testlog JSON files (TAP subtests of each
test) and plain TAP files, and print 'N passed, N failed, N skipped'."""
import json
import re
import sys

passed = failed = skipped = 0


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
        print(f"missing test log {path}", file=sys.stderr)
        continue
    with f:
        if not path.endswith(".json"):
            if tap_lines(f.read().splitlines())[0] == 0:
                failed += 1
            continue
        for line in f:
            t = json.loads(line)
            n, nfail = tap_lines(t.get("stdout", "").splitlines())
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
