#!/bin/sh
# Installs everything memlens needs to build and test, from Debian 12 packages only.
# Idempotent: packages already present are skipped by apt. Run as root or with sudo.
set -eu
PACKAGES="bazel-bootstrap bazel-rules-cc bazel-rules-java bazel-skylib bazel-platforms
  g++ python3 libhwy-dev libabsl-dev libgtest-dev libbenchmark-dev"
# The PyTorch baseline and fixture generators (tools/, benchmarks/) also use these:
EXTRA="python3-torch python3-numpy libopenblas0-pthread libopenblas-pthread-dev"
[ "${1:-}" = "--with-python" ] && PACKAGES="$PACKAGES $EXTRA"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "setup: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: done"
