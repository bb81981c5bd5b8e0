#!/bin/bash
# .ci/count_results.py on synthetic Bazel outputs: a summary log and testlogs folders with
# test.xml/test.log written the way gtest and Bazel write them. Each case states what a
# correct count is; the test fails if any count differs.
set -u
COUNT="$1"
TMP="${TEST_TMPDIR:-/tmp}/count_results_test.$$"
failures=0

# gtest's XML with the given case outcomes: p (passed), f (failed), s (skipped).
gtest_xml() {
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo '<testsuites tests="'$#'" failures="0" disabled="0" errors="0" time="0.1" name="AllTests">'
  echo '  <testsuite name="S" tests="'$#'">'
  local i=0
  for c in "$@"; do
    i=$((i + 1))
    case "$c" in
      p) echo "    <testcase name=\"T$i\" status=\"run\" result=\"completed\" classname=\"S\" />" ;;
      f) echo "    <testcase name=\"T$i\" status=\"run\" result=\"completed\" classname=\"S\"><failure message=\"x\" /></testcase>" ;;
      s) echo "    <testcase name=\"T$i\" status=\"run\" result=\"skipped\" classname=\"S\"><skipped message=\"../shared is absent\" /></testcase>" ;;
    esac
  done
  echo '  </testsuite>'
  echo '</testsuites>'
}
# Bazel's generated XML (tools/test/generate-xml.sh) for a target that wrote none; error
# message when the exit code was non-zero.
bazel_xml() {
  local name="$1" err="${2:-}"
  echo '<?xml version="1.0" encoding="UTF-8"?>'
  echo '<testsuites>'
  echo "  <testsuite name=\"$name\" tests=\"1\" failures=\"0\" errors=\"$([ -n "$err" ] && echo 1 || echo 0)\">"
  echo "    <testcase name=\"$name\" status=\"run\" duration=\"1\" time=\"1\">$([ -n "$err" ] && echo "<error message=\"$err\"></error>")</testcase>"
  echo "      <system-out>log</system-out>"
  echo '    </testsuite>'
  echo '</testsuites>'
}
GTEST_LOG='[==========] Running 3 tests from 1 test suite.
[ RUN      ] S.T1
[       OK ] S.T1 (0 ms)'
GTEST_DONE="$GTEST_LOG
[==========] 3 tests from 1 test suite ran. (1 ms total)
[  PASSED  ] 3 tests."

# target NAME XML LOG: writes testlogs/pkg/NAME/test.{xml,log}
target() {
  mkdir -p "$TMP/testlogs/pkg/$1"
  printf '%s\n' "$2" > "$TMP/testlogs/pkg/$1/test.xml"
  printf '%s\n' "$3" > "$TMP/testlogs/pkg/$1/test.log"
}
summary() { printf '//pkg:%-40s %s\n' "$1" "$2" >> "$TMP/bazel.log"; }

# check NAME WANT [CI]: runs the counter on the layout built so far.
check() {
  local got
  got=$(CI="${3:-}" python3 "$COUNT" "$TMP/bazel.log" "$TMP/testlogs" 2>"$TMP/why")
  if [ "$got" = "$2" ]; then
    echo "PASS: $1 ($got)"
  else
    echo "FAIL: $1: got '$got', want '$2'; stderr: $(cat "$TMP/why")"
    failures=$((failures + 1))
  fi
}
reset() { rm -rf "$TMP"; mkdir -p "$TMP/testlogs"; : > "$TMP/bazel.log"; }

reset
target ok "$(gtest_xml p p p)" "$GTEST_DONE"; summary ok "PASSED in 0.1s"
check "a passing gtest target counts its cases" "3 0"
target cached "$(gtest_xml p p)" "$GTEST_DONE"; summary cached "(cached) PASSED in 0.1s"
check "a cached pass counts too" "5 0"
target one_fails "$(gtest_xml p f p)" "$GTEST_DONE"; summary one_fails "FAILED in 0.1s"
check "a failed case counts once" "7 1"

reset
target crash_at_exit "$(gtest_xml p p p)" "$GTEST_DONE
==1==ERROR: LeakSanitizer: detected memory leaks"; summary crash_at_exit "FAILED in 0.2s"
check "Bazel failed it after gtest wrote an all-pass XML: one failure" "3 1"
target also_fails "$(gtest_xml p f)" "$GTEST_DONE"; summary also_fails "FAILED in 0.1s"
check "...and it still shows when another target failed too" "4 2"

reset
target early_exit0 "$(bazel_xml pkg/early_exit0)" "$GTEST_LOG"; summary early_exit0 "PASSED in 0.1s"
check "exit(0) before gtest wrote its XML is not a pass" "0 1"
target early_exit1 "$(bazel_xml pkg/early_exit1 'exited with error code 1')" "$GTEST_LOG"
summary early_exit1 "FAILED in 0.1s"
check "a non-zero exit before the XML: one failure" "0 2"

reset
target script "$(bazel_xml pkg/script)" "PASS: a"; summary script "PASSED in 0.3s"
check "a passing shell test counts one case" "1 0"
target script_fails "$(bazel_xml pkg/script_fails 'exited with error code 1')" "FAIL: b"
summary script_fails "FAILED in 0.3s"
check "a failing shell test counts one failure" "1 1"

reset
target skips "$(gtest_xml p s)" "$GTEST_DONE"; summary skips "PASSED in 0.1s"
check "a skip outside CI is neither" "1 0"
check "a skip under CI=true is a failure" "1 1" true

reset
summary broken "FAILED TO BUILD"; summary not_run "NO STATUS"
check "targets Bazel did not run fail" "0 2"
target timeout "$(bazel_xml pkg/timeout 'timed out')" "$GTEST_LOG"; summary timeout "TIMEOUT in 300.0s"
check "a timeout fails" "0 3"
summary no_xml "PASSED in 0.1s"
check "a target without test.xml fails" "0 4"
target garbage "<testsuites><testcase" "$GTEST_DONE"; summary garbage "PASSED in 0.1s"
check "unreadable XML fails" "0 5"

reset
target stale "$(gtest_xml f f)" "$GTEST_DONE"
target ok "$(gtest_xml p)" "$GTEST_DONE"; summary ok "PASSED in 0.1s"
check "a stale test.xml no summary line names is ignored" "1 0"

reset
echo "ERROR: BUILD file syntax error" > "$TMP/bazel.log"
check "a build that reports no target at all: one failure" "0 1"

rm -rf "$TMP"
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
