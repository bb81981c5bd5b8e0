"""Build rules for memlens plugins (shared objects loaded by the memlens binary).

A plugin compiles against the core headers but must not contain the core's code: the
implementations (ActivationStore::Get, Transformer::Run, ReportBuilder, ...) live once, in the
host binary, which links with -rdynamic (//core/plugin:plugin_host) so that the plugin's
undefined symbols resolve against it at dlopen time. Two copies would mean two sets of static
data and code that silently disagrees when only one side is rebuilt.

`cc_headers_only` makes that possible in Bazel: it forwards the headers, include paths and
defines of its deps (their CcInfo compilation context) and drops their linking context, so
nothing of theirs is linked into a target that depends on it.
"""

def _cc_headers_only_impl(ctx):
    infos = [dep[CcInfo] for dep in ctx.attr.deps]
    merged = cc_common.merge_cc_infos(cc_infos = infos)
    return [CcInfo(compilation_context = merged.compilation_context)]

cc_headers_only = rule(
    implementation = _cc_headers_only_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
    },
    doc = "The headers of `deps` (transitively), without linking any of their code.",
)

def memlens_plugin(name, srcs, deps = [], copts = [], linkopts = [], visibility = None, **kwargs):
    """A memlens plugin: builds lib<name>.so from `srcs`.

    Creates `lib<name>.so` (a cc_binary with linkshared = True) and a filegroup `<name>` for
    it, so `bazel build //plugins/foo:foo` builds the plugin. Plugins under //plugins end up in
    bazel-bin/plugins/, where memlens finds them by default.

    Args:
      name: the plugin's name (should match the name given to MEMLENS_REGISTER_PLUGIN).
      srcs: the plugin's sources; one of them uses MEMLENS_REGISTER_PLUGIN.
      deps: extra dependencies. Header-only targets only (or code private to the plugin):
        core code must come from the host, never be linked into the plugin.
        //core/plugin:plugin_api (the core headers and Abseil flags) is always added.
      copts: extra compiler options.
      linkopts: extra linker options.
      visibility: visibility of both targets.
      **kwargs: passed to cc_binary (e.g. tags, testonly).
    """
    native.cc_binary(
        name = "lib" + name + ".so",
        srcs = srcs,
        deps = ["//core/plugin:plugin_api"] + deps,
        copts = copts,
        linkopts = linkopts,
        linkshared = True,
        visibility = visibility,
        **kwargs
    )
    native.filegroup(
        name = name,
        srcs = [":lib" + name + ".so"],
        visibility = visibility,
        testonly = kwargs.get("testonly", False),
    )

def _plugin_sdk_headers_impl(ctx):
    # memlens's own headers among everything `deps` makes visible (Abseil's come from the
    # system), so an install can ship exactly what an out-of-tree plugin compiles against.
    hdrs = [
        h
        for dep in ctx.attr.deps
        for h in dep[CcInfo].compilation_context.headers.to_list()
        if h.owner != None and h.owner.workspace_name == ""
    ]
    return [DefaultInfo(files = depset(hdrs), runfiles = ctx.runfiles(files = hdrs))]

plugin_sdk_headers = rule(
    implementation = _plugin_sdk_headers_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo]),
    },
    doc = "The memlens headers (this repository's only) that `deps` expose, as files.",
)
