#!/bin/sh
# Installs everything memlens needs to build and test, from Debian 12 packages only.
# Idempotent: packages already present are skipped by apt. Run as root or with sudo.
set -eu
# Everything `bazel build //...` and `bazel test //...` need (tests/build:system_packages_test
# fails when a BUILD file uses a system library whose package is missing here; chromium runs
# the html report's browser test).
PACKAGES="bazel-bootstrap bazel-rules-cc bazel-rules-java bazel-skylib bazel-platforms
  g++ python3 python3-numpy pkgconf
  libhwy-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas0-pthread libopenblas-pthread-dev
  chromium
  munge slurm-client slurmctld slurmd"  # the last line: sharded runs (tests/scale/slurm_test.sh)
# Only the PyTorch baselines and the fixture generators (tools/, benchmarks/*.py) use these:
EXTRA="python3-torch"
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
# A root folder other users cannot enter (a chroot unpacked into a `mktemp -d` folder, as
# ../shared/tools/fresh-machine-check's is, has mode 700) breaks every package whose install
# script runs a command as its own user: munge's `su munge -c mungekey` fails with "su: failed
# to execute /bin/sh: Permission denied". A Debian system's / is 755; say so and restore it.
if [ "$(stat -c %a /)" != "755" ]; then
  echo "setup: / has mode $(stat -c %a /), so system users cannot run programs; setting it to 755"
  $SUDO chmod 755 /
fi
echo "setup: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "setup: done"
