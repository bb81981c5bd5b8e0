"""Test macros: tests that read ../shared get its absolute path in MEMLENS_SHARED."""

load("@shared//:defs.bzl", "SHARED_DIR")

def memlens_cc_test(name, **kwargs):
    """A cc_test that can read ../shared (empty MEMLENS_SHARED: the test must skip)."""
    env = dict(kwargs.pop("env", {}))
    env["MEMLENS_SHARED"] = SHARED_DIR
    native.cc_test(name = name, env = env, **kwargs)
