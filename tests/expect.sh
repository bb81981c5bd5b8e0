# The harness of the shell tests (sourced): checks print PASS/FAIL lines, failures are counted,
# and `finish` ends the test with the count (non-zero exit when any check failed).
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

# expect NAME nonzero|0 NEEDLE -- command...: the exit code is as wanted and the combined
# output (stdout and stderr) contains NEEDLE.
expect() {
  local name="$1" want="$2" needle="$3"
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$want" = "0" ] && [ $rc -ne 0 ]; then fail "$name: exit $rc: $out"; return; fi
  if [ "$want" = "nonzero" ] && [ $rc -eq 0 ]; then fail "$name: exit 0, wanted an error: $out"; return; fi
  case "$out" in
    *"$needle"*) pass "$name" ;;
    *) fail "$name: output lacks '$needle': $out" ;;
  esac
}

finish() {
  echo "$failures failure(s)"
  [ "$failures" -eq 0 ]
}
