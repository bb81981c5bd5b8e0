#!/bin/sh
echo "coverage is not supported offline; use gcov/lcov outside Bazel" >&2
exit 1
