#!/usr/bin/env python3
"""Counts one Bazel test suite's results for .ci/run: prints "passed failed", and a line per
problem on stderr.

    count_results.py BAZEL_OUTPUT_LOG TESTLOGS_DIR

Each test target is judged by Bazel's own result (its summary line in BAZEL_OUTPUT_LOG, e.g.
"//tests/io:npy_test   PASSED in 0.4s") and its test.xml/test.log under TESTLOGS_DIR together:
- a target that passed counts its XML's test cases (passed, failed; a skipped case is a
  failure under CI=true, where nothing may skip);
- a target whose log shows a gtest run but whose XML is Bazel's generated one (gtest never
  wrote its own: the binary exited, with any code, before its tests finished) counts 1 failure;
- a target Bazel marks failed (FAILED, TIMEOUT, ...) counts its XML's failed cases, and 1
  failure when its XML shows none (a crash after gtest wrote its XML: a static destructor,
  LeakSanitizer at exit);
- a target Bazel did not run (FAILED TO BUILD, NO STATUS) counts 1 failure;
- a test.xml under TESTLOGS_DIR that no summary line names is stale (an earlier build's) and
  ignored; a failing build that names no target at all counts 1 failure.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

# Bazel's per-target summary line: label, optional "(cached)", status.
SUMMARY = re.compile(
    r"^(//\S+)\s+(?:\(cached\)\s+)?"
    r"(PASSED|FLAKY|FAILED TO BUILD|FAILED|TIMEOUT|INCOMPLETE|REMOTE FAILURE|NO STATUS|"
    r"BUILD INCOMPLETE|SKIPPED)\b")
GOOD = {"PASSED", "FLAKY"}
NOT_RUN = {"FAILED TO BUILD", "NO STATUS", "BUILD INCOMPLETE", "SKIPPED"}
GTEST_STARTED = "[==========] Running "


def targets(bazel_log):
    """{label: status} from Bazel's summary lines."""
    out = {}
    with open(bazel_log, errors="replace") as f:
        for line in f:
            m = SUMMARY.match(line.rstrip("\n"))
            if m:
                out[m.group(1)] = m.group(2)
    return out


def count_xml(path, strict):
    """(passed, failed, gtest_wrote_it) of one test.xml; a skip fails when strict."""
    root = ET.parse(path).getroot()
    passed = failed = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            failed += strict
            print(f"  skipped{' under CI=true (a failure)' if strict else ''}: "
                  f"{case.get('classname')}.{case.get('name')}", file=sys.stderr)
        else:
            passed += 1
    # gtest names its root "AllTests"; Bazel's generated XML names the target.
    return passed, failed, root.get("name") == "AllTests"


def judge(label, status, testlogs, strict):
    """(passed, failed, why) for one target."""
    if status in NOT_RUN:
        return 0, 1, f"Bazel did not run it ({status})"
    pkg, _, name = label[2:].partition(":")
    folder = os.path.join(testlogs, pkg, name or os.path.basename(pkg))
    xml_path, log_path = os.path.join(folder, "test.xml"), os.path.join(folder, "test.log")
    try:
        passed, failed, gtest_xml = count_xml(xml_path, strict)
    except (OSError, ET.ParseError) as e:
        return 0, 1, f"{status}, no readable test.xml ({e})"
    log = ""
    if os.path.exists(log_path):
        with open(log_path, errors="replace") as f:
            log = f.read()
    if GTEST_STARTED in log and not gtest_xml:
        return 0, 1, f"{status}, but gtest never wrote its XML (the binary exited early)"
    if status not in GOOD and failed == 0:
        return passed, 1, f"{status} by Bazel though its XML shows no failing case"
    if passed + failed == 0:
        return 0, 1, f"{status}, but its XML holds no test case"
    return passed, failed, None


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: count_results.py BAZEL_OUTPUT_LOG TESTLOGS_DIR")
    strict = os.environ.get("CI") == "true"
    status = targets(argv[1])
    passed = failed = 0
    for label in sorted(status):
        p, f, why = judge(label, status[label], argv[2], strict)
        passed += p
        failed += f
        if why:
            print(f"  {label}: {why}", file=sys.stderr)
    if not status:
        failed += 1
        print("  Bazel reported no test target (did the build fail?)", file=sys.stderr)
    print(passed, failed)


if __name__ == "__main__":
    main(sys.argv)
