#!/bin/bash
# Installs memlens under a prefix, so a bare `memlens report` works from anywhere:
#   bazel run -c opt //:install -- --prefix=$HOME/.local
#
#   PREFIX/bin/memlens                          the command
#   PREFIX/lib/memlens/plugins/lib*.so          the shipped plugins (found by memlens itself)
#   PREFIX/share/memlens/models/default/        the shipped default model and its prompts
#   PREFIX/include/memlens/core/...             the plugin API headers, for out-of-tree plugins
#   PREFIX/lib/pkgconfig/memlens-plugin.pc      `pkg-config --cflags memlens-plugin`
#   PREFIX/share/memlens/examples/              the example plugin's source
#   PREFIX/share/doc/memlens/                   the plugin guide
#   PREFIX/share/memlens/install-manifest.txt   every file installed
#
# Uninstall: `PREFIX/share/memlens/uninstall.sh`: removes
# exactly the files in the manifest, then the folders left empty.
set -euo pipefail
self=$(readlink -f "$0")

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
prefix="" uninstall=0
for arg in "$@"; do
  case "$arg" in
    --prefix=*) prefix=${arg#--prefix=} ;;
    --uninstall) uninstall=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$prefix" ] || { echo "install: give --prefix=DIR (e.g. --prefix=\$HOME/.local)" >&2; exit 2; }
# `bazel run` starts us in the runfiles tree: a relative prefix means the caller's directory.
case "$prefix" in
  /*) ;;
  *) prefix="${BUILD_WORKING_DIRECTORY:-$PWD}/$prefix" ;;
esac
manifest="$prefix/share/memlens/install-manifest.txt"

remove_installed() {
  [ -f "$manifest" ] || return 0
  local f
  while IFS= read -r f; do
    case "$f" in "$prefix"/*) rm -f -- "$f" ;; esac  # never outside the prefix
  done < "$manifest"
  rm -f -- "$manifest"
  # Folders memlens created and left empty, deepest first.
  for d in share/memlens/models/default share/memlens/models share/memlens/examples \
           share/memlens share/doc/memlens lib/memlens/plugins lib/memlens lib/pkgconfig \
           include/memlens; do
    [ -d "$prefix/$d" ] && find "$prefix/$d" -depth -type d -empty -delete 2>/dev/null
  done
  return 0
}

if [ "$uninstall" -eq 1 ]; then
  [ -f "$manifest" ] || { echo "install: nothing installed under $prefix (no $manifest)" >&2; exit 1; }
  remove_installed
  echo "memlens uninstalled from $prefix"
  exit 0
fi

# Our files, from the runfiles tree of this script (bazel run, or a test that depends on it).
runfiles=""
for r in "${RUNFILES_DIR:-}" "$0.runfiles" "${TEST_SRCDIR:-}"; do
  if [ -n "$r" ] && [ -x "$r/memlens/core/cli/memlens" ]; then runfiles="$r/memlens"; break; fi
done
[ -n "$runfiles" ] || { echo "install: run me with 'bazel run -c opt //:install -- --prefix=DIR'" >&2; exit 2; }
cd "$runfiles"

remove_installed  # an earlier install's files (a plugin that no longer ships, say)
installed=()
put() {  # put MODE SOURCE DEST
  /usr/bin/install -D -m "$1" "$2" "$3"  # by path: the runfiles folder holds our own "install"
  installed+=("$3")
}
put 755 core/cli/memlens "$prefix/bin/memlens"
for so in $(find plugins -name 'lib*.so' -type f -o -name 'lib*.so' -type l | sort); do
  put 755 "$so" "$prefix/lib/memlens/plugins/$(basename "$so")"
done
for f in $(find models/default -type f -o -type l | sort); do
  put 644 "$f" "$prefix/share/memlens/$f"
done
for h in $(find core -name '*.h' | sort); do
  put 644 "$h" "$prefix/include/memlens/$h"
done
put 644 plugins/example/resid_norms.cc "$prefix/share/memlens/examples/resid_norms.cc"
put 644 docs/writing-plugins.md "$prefix/share/doc/memlens/writing-plugins.md"

version=$("$prefix/bin/memlens" --version | awk '{print $2; exit}')
mkdir -p "$prefix/lib/pkgconfig"
cat > "$prefix/lib/pkgconfig/memlens-plugin.pc" <<EOF
prefix=$prefix
includedir=\${prefix}/include/memlens
plugindir=\${prefix}/lib/memlens/plugins

Name: memlens-plugin
Description: Headers for memlens attribution plugins (build with -shared -fPIC; no link flags: memlens provides the symbols)
Version: $version
Cflags: -std=c++17 -I\${includedir}
EOF
installed+=("$prefix/lib/pkgconfig/memlens-plugin.pc")

# One removal, this script's: the uninstaller runs a copy of it with the prefix filled in.
put 755 "$self" "$prefix/share/memlens/install.sh"
cat > "$prefix/share/memlens/uninstall.sh" <<EOF
#!/bin/sh
# Removes the memlens installed under $prefix (the files in install-manifest.txt).
exec "$prefix/share/memlens/install.sh" --uninstall --prefix="$prefix"
EOF
chmod 755 "$prefix/share/memlens/uninstall.sh"
installed+=("$prefix/share/memlens/uninstall.sh")
printf '%s\n' "${installed[@]}" > "$manifest"

echo "memlens $version installed under $prefix"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "add $prefix/bin to your PATH to run 'memlens' (e.g. export PATH=\"$prefix/bin:\$PATH\")" ;;
esac
echo "uninstall: $prefix/share/memlens/uninstall.sh"
