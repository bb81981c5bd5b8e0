"""Repository rules that make the build work offline from Debian packages."""

_RULES_CC = "/usr/share/bazel/rules/cc"

# Debian's rules_cc imports use_cpp_toolchain, which Bazel 4.2.3 lacks; these files use it.
_NEEDS_PATCH = [
    "cc/private/rules_impl/cc_flags_supplier.bzl",
    "cc/private/rules_impl/compiler_flag.bzl",
]

def _patched_rules_cc_impl(ctx):
    ctx.execute(["cp", "-r", _RULES_CC + "/.", "."])
    for f in _NEEDS_PATCH:
        text = ctx.read(f)
        text = text.replace(
            'load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain", "use_cpp_toolchain")',
            'load("@bazel_tools//tools/cpp:toolchain_utils.bzl", "find_cpp_toolchain")',
        )
        text = text.replace("use_cpp_toolchain()", '["@bazel_tools//tools/cpp:toolchain_type"]')
        ctx.file(f, text)

patched_rules_cc = repository_rule(implementation = _patched_rules_cc_impl, local = True)

def _shared_data_impl(ctx):
    # ../shared sits beside the workspace root. Tests read it in place by absolute path
    # (the Linux sandbox exposes the file system read-only), so we only record where it is.
    root = ctx.path(Label("//:WORKSPACE")).dirname
    shared = root.dirname.get_child("shared")
    path = str(shared) if shared.exists else ""
    ctx.file("BUILD", "")
    ctx.file("defs.bzl", "SHARED_DIR = %r\n" % path)

shared_data = repository_rule(implementation = _shared_data_impl, local = True)
