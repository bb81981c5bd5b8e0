#!/bin/bash
# Builds and runs the libFuzzer targets in tests/fuzz/ with clang (outside Bazel).
#
#   tools/fuzz.sh                 # build all targets, run each for 60 s
#   tools/fuzz.sh json_fuzz 300   # build and run one target for 300 s
#   FUZZ_BUILD_ONLY=1 tools/fuzz.sh
#
# Binaries go to $FUZZ_OUT (default /tmp/memlens-fuzz); the committed seed corpus is
# tests/fuzz/corpus/<target>/ and is copied to a scratch corpus there, so new inputs found
# while fuzzing do not land in the repository (copy interesting ones in by hand). Crashes are
# written to $FUZZ_OUT/<target>-crashes/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${FUZZ_OUT:-/tmp/memlens-fuzz}"
SECS="${2:-60}"
CXX="${CXX:-clang++}"
mkdir -p "$OUT"

ABSL_LIBS="-labsl_status -labsl_statusor -labsl_strings -labsl_strings_internal \
  -labsl_str_format_internal -labsl_throw_delegate -labsl_raw_logging_internal \
  -labsl_cord -labsl_cord_internal -labsl_cordz_info -labsl_cordz_functions \
  -labsl_cordz_handle -labsl_synchronization -labsl_graphcycles_internal -labsl_base \
  -labsl_spinlock_wait -labsl_malloc_internal -labsl_stacktrace -labsl_symbolize \
  -labsl_debugging_internal -labsl_demangle_internal -labsl_time -labsl_time_zone \
  -labsl_int128 -labsl_hash -labsl_city -labsl_low_level_hash -labsl_raw_hash_set \
  -labsl_hashtablez_sampler -labsl_exponential_biased -labsl_bad_optional_access \
  -labsl_strerror -labsl_log_severity -lpthread"

TOK="core/tokenizer"
declare -A SRCS=(
  [json_fuzz]="core/io/json.cc $TOK/tokenizer.cc"
  [llama2c_fuzz]="$TOK/llama2c_tokenizer.cc $TOK/tokenizer.cc"
  [bpe_fuzz]="$TOK/byte_level_bpe.cc $TOK/pretokenizer.cc $TOK/unicode.cc $TOK/tokenizer.cc"
  [tokenizer_json_fuzz]="core/io/json.cc $TOK/gpt2_tokenizer.cc $TOK/byte_level_bpe.cc \
    $TOK/pretokenizer.cc $TOK/unicode.cc $TOK/tokenizer.cc"
)

targets=("${!SRCS[@]}")
if [[ $# -ge 1 ]]; then targets=("$1"); fi

for t in "${targets[@]}"; do
  [[ -n "${SRCS[$t]:-}" ]] || { echo "unknown fuzz target: $t (have: ${!SRCS[*]})" >&2; exit 2; }
  srcs=()
  for s in ${SRCS[$t]}; do srcs+=("$ROOT/$s"); done
  echo "== building $t"
  "$CXX" -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
    -I"$ROOT" "$ROOT/tests/fuzz/$t.cc" "${srcs[@]}" $ABSL_LIBS -o "$OUT/$t"
  if [[ -n "${FUZZ_BUILD_ONLY:-}" ]]; then continue; fi
  corpus="$OUT/$t-corpus"
  mkdir -p "$corpus" "$OUT/$t-crashes"
  if [[ -d "$ROOT/tests/fuzz/corpus/$t" ]]; then cp -n "$ROOT/tests/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null || true; fi
  echo "== running $t for ${SECS}s"
  "$OUT/$t" -max_total_time="$SECS" -max_len=65536 -artifact_prefix="$OUT/$t-crashes/" \
    -print_final_stats=1 "$corpus"
done
