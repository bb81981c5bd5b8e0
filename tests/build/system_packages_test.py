#!/usr/bin/env python3
"""Every system library the build uses, and every tool a test script runs, comes from a
package tools/setup.sh installs.

The build takes Highway, Abseil, GoogleTest, Google Benchmark and OpenBLAS from Debian
(third_party/system_libs.BUILD exposes them as @system_libs//:NAME). A library installed by
hand on a developer's machine hides a missing install step until a new user's build fails
(this happened: gmock and OpenBLAS's headers). This test finds every @system_libs target a
BUILD file uses, the files each one reads (header globs, static libraries, -l libraries), the
Debian package that owns each file (dpkg -S), and fails unless that package is installed by
tools/setup.sh (its PACKAGES list, without --with-python) or by a dependency of one.

Reads the source tree itself (BUILD files anywhere may start using a library), so its Bazel
target is tagged "external": never cached.
"""

import glob
import os
import re
import subprocess
import sys

USR = "/usr"
LIB_DIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib", "/lib/x86_64-linux-gnu"]


def source_root():
    # The runfiles link to setup.sh points into the source tree.
    here = os.environ.get("TEST_SRCDIR", "")
    link = os.path.join(here, "memlens", "tools", "setup.sh")
    if os.path.exists(link):
        return os.path.dirname(os.path.dirname(os.path.realpath(link)))
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def setup_packages(root):
    text = open(os.path.join(root, "tools", "setup.sh")).read()
    m = re.search(r'^PACKAGES="([^"]*)"', text, re.M)
    if not m:
        sys.exit("tools/setup.sh has no PACKAGES=\"...\" list")
    return m.group(1).split()


def system_lib_targets(root):
    """{name: {"globs": [...], "files": [...], "libs": [...], "libdirs": [...], "deps": [...]}}"""
    text = open(os.path.join(root, "third_party", "system_libs.BUILD")).read()
    # Resolve list constants such as ABSL_BASE = [...] used in linkopts.
    consts = {n: re.findall(r'"([^"]+)"', body)
              for n, body in re.findall(r"^([A-Z_]+) = \[(.*?)\]", text, re.M | re.S)}
    targets = {}
    for kind, body in re.findall(r"^(cc_library|cc_import)\((.*?)^\)", text, re.M | re.S):
        name = re.search(r'name = "([^"]+)"', body).group(1)
        t = {"globs": [], "files": [], "libs": [], "libdirs": [], "deps": []}
        for pats in re.findall(r"glob\(\[(.*?)\]\)", body, re.S):
            t["globs"] += re.findall(r'"([^"]+)"', pats)
        m = re.search(r'static_library = "([^"]+)"', body)
        if m:
            t["files"].append(m.group(1))
        m = re.search(r"linkopts = (.*?)(?:,\n    [a-z_]+ =|,?\n\)|\Z)", body, re.S)
        opts = []
        if m:
            opts += re.findall(r'"([^"]+)"', m.group(1))
            for c in re.findall(r"\b([A-Z_]{3,})\b", m.group(1)):
                opts += consts.get(c, [])
        for o in opts:
            if o.startswith("-L"):
                t["libdirs"].append(o[2:])
            elif o.startswith("-l"):
                t["libs"].append(o[2:])
        m = re.search(r"deps = \[(.*?)\]", body, re.S)
        if m:
            t["deps"] = [d.lstrip(":") for d in re.findall(r'"([^"]+)"', m.group(1))]
        targets[name] = t
    return targets


def used_targets(root):
    """{target name: [files of BUILD/bzl that use it]}"""
    used = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames
                       if not d.startswith((".", "bazel-")) and d != "third_party"]
        for f in filenames:
            if f in ("BUILD", "BUILD.bazel") or f.endswith(".bzl"):
                path = os.path.join(dirpath, f)
                for name in re.findall(r"@system_libs//:(\w+)", open(path).read()):
                    used.setdefault(name, []).append(os.path.relpath(path, root))
    return used


# What a test script may run or import, and the Debian package that provides it. A test's
# script (an sh_test's srcs and local data files) matching the pattern needs the package.
TEST_TOOLS = [
    (r"^\s*(import|from)\s+numpy\b|import numpy", "python3-numpy"),
    (r"^\s*(import|from)\s+torch\b|import torch", "python3-torch"),
    (r"\bchromium\b", "chromium"),
    (r"\bslurmctld\b", "slurmctld"),
    (r"\bslurmd\b", "slurmd"),
    (r"\b(sbatch|squeue|sinfo|scontrol)\b", "slurm-client"),
    (r"\bmunged\b", "munge"),
    (r"\bpkg-config\b", "pkgconf"),
    (r"\bg\+\+(?=\s)", "g++"),
]


def test_script_needs(root):
    """[(script, package)] for every test script under tests/ that uses a TEST_TOOLS entry."""
    needs = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, "tests")):
        if "BUILD" not in filenames:
            continue
        build = open(os.path.join(dirpath, "BUILD")).read()
        for block in re.findall(r"^(?:sh_test|py_test)\((.*?)^\)", build, re.M | re.S):
            files = []
            for attr in ("srcs", "data"):
                m = re.search(attr + r" = \[(.*?)\]", block, re.S)
                if m:
                    files += [f for f in re.findall(r'"([^"]+)"', m.group(1))
                              if not f.startswith((":", "/", "@", "$"))]
            for f in files:
                path = os.path.join(dirpath, f)
                if not os.path.isfile(path) or os.path.samefile(path, __file__):
                    continue
                try:
                    text = open(path, encoding="utf-8").read()
                except UnicodeDecodeError:
                    continue
                for pattern, pkg in TEST_TOOLS:
                    if re.search(pattern, text, re.M):
                        needs.append((os.path.relpath(path, root), pkg))
    return needs


def owners(paths):
    """{path: Debian package or None}, from one dpkg -S call."""
    def query(ps):
        out = subprocess.run(["dpkg", "-S"] + ps, capture_output=True, text=True)
        found = {}
        for line in out.stdout.splitlines():
            pkgs, _, path = line.partition(": ")
            found[path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
        return found
    paths = sorted(set(paths))
    found = query(paths)
    # usrmerge: dpkg may know a file under /lib rather than /usr/lib.
    retry = [p[len("/usr"):] for p in paths if p not in found and p.startswith("/usr/lib/")]
    if retry:
        for p, pkg in query(retry).items():
            found["/usr" + p] = pkg
    return {p: found.get(p) for p in paths}


def closure(packages):
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + packages,
        capture_output=True, text=True)
    names = set(packages)
    for line in out.stdout.splitlines():
        if line and not line.startswith(" "):
            names.add(line.strip().split(":")[0])
        else:
            m = re.match(r"\s+\|?(?:Pre)?Depends: <?([^>\s]+)>?", line)
            if m:
                names.add(m.group(1).split(":")[0])
    return names


def main():
    root = source_root()
    targets = system_lib_targets(root)
    used = used_targets(root)
    wanted = setup_packages(root)
    installed_by_setup = closure(wanted)
    problems, to_check = [], []

    seen = set()
    stack = sorted(used)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in targets:
            problems.append(f"@system_libs//:{name} is used ({', '.join(used.get(name, []))}) "
                            "but third_party/system_libs.BUILD does not define it")
            continue
        t = targets[name]
        stack += t["deps"]
        files = []
        for pat in t["globs"]:
            matches = sorted(glob.glob(os.path.join(USR, pat), recursive=True))
            if not matches:
                problems.append(f"@system_libs//:{name}: nothing matches /usr/{pat}: the package "
                                "that provides it is not installed; tools/setup.sh must install it")
            files += matches[:1] + matches[-1:]  # one file per pattern names its package
        files += [os.path.join(USR, f) for f in t["files"]]
        for lib in t["libs"]:
            dirs = t["libdirs"] + LIB_DIRS
            found = [os.path.join(d, f"lib{lib}{ext}") for d in dirs for ext in (".so", ".a")
                     if os.path.exists(os.path.join(d, f"lib{lib}{ext}"))]
            if not found:
                problems.append(f"@system_libs//:{name}: -l{lib} not found in {dirs}")
            files += found[:1]
        users = ("used by " + ", ".join(sorted(set(used[name])))) if name in used else \
            "needed by another @system_libs target"
        for f in files:
            if not os.path.exists(f):
                problems.append(f"@system_libs//:{name}: {f} is missing")
            else:
                to_check.append((name, users, f))
    pkg_of = owners([f for _, _, f in to_check])
    for name, users, f in to_check:
        pkg = pkg_of[f]
        if pkg is None:
            problems.append(f"@system_libs//:{name}: {f} belongs to no Debian package "
                            "(installed by hand?); the build must use Debian's")
        elif pkg not in installed_by_setup:
            problems.append(f"@system_libs//:{name} ({users}) reads {f} from the "
                            f"Debian package {pkg}, which tools/setup.sh does not install: "
                            "add it to PACKAGES")
    scripts = test_script_needs(root)
    for script, pkg in scripts:
        if pkg not in installed_by_setup:
            problems.append(f"{script} uses what the Debian package {pkg} provides, which "
                            "tools/setup.sh does not install: add it to PACKAGES")
    print(f"checked {len(scripts)} uses of tools by test scripts; "
          f"checked {len(to_check)} files of {len(seen)} @system_libs targets against "
          f"tools/setup.sh's {len(wanted)} packages ({len(installed_by_setup)} with dependencies)")
    for p in problems:
        print("FAIL:", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
