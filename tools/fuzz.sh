#!/bin/bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (outside Bazel: the Bazel toolchain is
# gcc) and runs each for a bounded time. See docs/reliability.md.
#
#   tools/fuzz.sh                         # build every target, run each for 30 s
#   tools/fuzz.sh --seconds=300 pickle_fuzz torch_zip_fuzz
#   tools/fuzz.sh --build-only            # just compile (e.g. after editing a parser)
#   tools/fuzz.sh --list                  # the target names
#   tools/fuzz.sh --repro=FILE pickle_fuzz  # run one input (a crash file) through a target
#
# Every target is compiled with -fsanitize=fuzzer,address,undefined (UB is fatal) from the
# repository sources it needs (listed below). Objects and binaries go to $FUZZ_OUT (default
# /tmp/memlens-fuzz); a small Makefile there rebuilds only what changed.
# Corpus: the committed seeds in tests/fuzz/corpus/<target>/ are read-only; new inputs go to
# $FUZZ_OUT/corpus/<target>/ (kept between runs; copy a useful one into the seeds by hand).
# Crashes, leaks, timeouts and out-of-memory inputs are saved as
# $FUZZ_OUT/crashes/<target>/<kind>-<sha1>; the script goes on with the other targets and then
# exits 1, naming every failed target and its crash file. Exit 2: usage or build error.
# One fuzzer runs at a time (the machine's cores are shared); compilation uses --jobs (default 2).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${FUZZ_OUT:-/tmp/memlens-fuzz}"
CXX="${CXX:-clang++}"
SECS=30
JOBS=2
BUILD_ONLY=0
REPRO=""
targets=()
for arg in "$@"; do
  case "$arg" in
    --seconds=*) SECS="${arg#*=}" ;;
    --jobs=*) JOBS="${arg#*=}" ;;
    --build-only) BUILD_ONLY=1 ;;
    --repro=*) REPRO="${arg#*=}" ;;
    --list) LIST=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[[ "$SECS" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds must be a number" >&2; exit 2; }

# Abseil link list (as third_party/system_libs.BUILD).
ABSL_LIBS="-labsl_status -labsl_statusor -labsl_str_format_internal -labsl_strings \
  -labsl_strings_internal -labsl_synchronization -labsl_graphcycles_internal -labsl_stacktrace \
  -labsl_symbolize -labsl_debugging_internal -labsl_demangle_internal -labsl_malloc_internal \
  -labsl_time -labsl_civil_time -labsl_time_zone -labsl_base -labsl_spinlock_wait -labsl_int128 \
  -labsl_throw_delegate -labsl_raw_logging_internal -labsl_log_severity \
  -labsl_bad_optional_access -labsl_bad_variant_access -labsl_hash -labsl_city \
  -labsl_low_level_hash -labsl_raw_hash_set -labsl_hashtablez_sampler -labsl_exponential_biased \
  -labsl_cord -labsl_cordz_info -labsl_cord_internal -labsl_cordz_functions -labsl_cordz_handle \
  -labsl_strerror -lrt -lpthread"

IO=core/io
TOK=core/tokenizer
TENSOR="core/tensor.cc $IO/tensor_source.cc"
ST="$IO/safetensors.cc $IO/json.cc $IO/mapped_file.cc $IO/checked_file.cc $IO/atomic_file.cc $TENSOR"
BPE="$TOK/byte_level_bpe.cc $TOK/pretokenizer.cc $TOK/unicode.cc $TOK/tokenizer.cc"
MODEL="core/model/weights.cc core/model/config.cc"
LOAD=core/model/load
# target -> the repository sources it links (besides tests/fuzz/<target>.cc).
declare -A SRCS=(
  [json_fuzz]="$IO/json.cc $IO/checked_file.cc $TOK/tokenizer.cc"
  [safetensors_fuzz]="$ST"
  [torch_zip_fuzz]="$IO/torch_zip.cc $IO/mapped_file.cc $IO/checked_file.cc"
  [pickle_fuzz]="$IO/pickle.cc"
  [torch_checkpoint_fuzz]="$IO/torch_checkpoint.cc $IO/torch_zip.cc $IO/pickle.cc $ST"
  [llama2c_model_fuzz]="$LOAD/llama2c.cc $LOAD/weight_plan.cc $IO/mapped_file.cc $IO/checked_file.cc $MODEL core/tensor.cc"
  [llama2c_tokenizer_fuzz]="$TOK/llama2c_tokenizer.cc $TOK/tokenizer.cc $IO/checked_file.cc"
  [gpt2_tokenizer_fuzz]="$TOK/gpt2_tokenizer.cc $IO/json.cc $IO/checked_file.cc $BPE"
  [tokenizer_json_fuzz]="$TOK/gpt2_tokenizer.cc $TOK/sentencepiece_bpe.cc $IO/json.cc $IO/checked_file.cc $BPE"
  [model_config_fuzz]="$LOAD/load_model.cc $LOAD/families.cc $LOAD/hf_gpt2.cc \
    $LOAD/transformer_lens.cc $LOAD/hf_common.cc $LOAD/hf_llama.cc $LOAD/hf_gpt_neox.cc \
    $LOAD/hf_gpt_neo.cc $LOAD/weight_plan.cc $LOAD/llama2c.cc $IO/json_fields.cc \
    $IO/container_formats.cc $TOK/load_tokenizer.cc $TOK/gpt2_tokenizer.cc \
    $TOK/llama2c_tokenizer.cc $TOK/sentencepiece_bpe.cc $BPE $ST $MODEL"
  [npy_fuzz]="$IO/npy.cc $IO/atomic_file.cc $IO/mapped_file.cc $IO/checked_file.cc core/tensor.cc"
  [bpe_fuzz]="$BPE"
  [state_file_fuzz]="core/plugin/state_file.cc core/analysis/state_codec.cc \
    core/analysis/sketch.cc $IO/json.cc $IO/atomic_file.cc $IO/checked_file.cc"
)
ALL=(json_fuzz safetensors_fuzz torch_zip_fuzz pickle_fuzz torch_checkpoint_fuzz
     llama2c_model_fuzz llama2c_tokenizer_fuzz gpt2_tokenizer_fuzz tokenizer_json_fuzz
     model_config_fuzz npy_fuzz bpe_fuzz state_file_fuzz)
if [[ -n "${LIST:-}" ]]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  [[ -n "${SRCS[$t]:-}" ]] || { echo "fuzz.sh: unknown target $t (--list)" >&2; exit 2; }
done

# ---- Build: a generated Makefile (header dependencies through -MMD). ----
mkdir -p "$OUT/obj" "$OUT/bin"
FLAGS="-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
-fno-sanitize-recover=all -I$ROOT -Wall -Wno-unused-function"
mk="$OUT/Makefile"
{
  echo "# Generated by tools/fuzz.sh"
  echo "CXX := $CXX"
  echo "FLAGS := $FLAGS"
  declare -A seen=()
  for t in "${targets[@]}"; do
    objs=""
    for s in tests/fuzz/$t.cc ${SRCS[$t]}; do
      o="$OUT/obj/${s%.cc}.o"
      objs+=" $o"
      if [[ -z "${seen[$s]:-}" ]]; then
        seen[$s]=1
        echo "$o: $ROOT/$s"
        echo "	@mkdir -p \$(@D) && echo '  CXX $s' && \$(CXX) \$(FLAGS) -MMD -MP -c \$< -o \$@"
        echo "-include ${o%.o}.d"
      fi
    done
    echo "$OUT/bin/$t:$objs"
    echo "	@echo '  LINK $t' && \$(CXX) \$(FLAGS) \$^ $ABSL_LIBS -o \$@"
    echo "all: $OUT/bin/$t"
  done
  echo ".DEFAULT_GOAL := all"
} > "$mk"
echo "== building ${#targets[@]} fuzz target(s) in $OUT"
if ! make -s -k -j"$JOBS" -f "$mk" all; then
  echo "fuzz.sh: build failed (see above)" >&2
  exit 2
fi
[[ "$BUILD_ONLY" == 1 ]] && exit 0

export MEMLENS_FUZZ_ROOT="$ROOT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if command -v llvm-symbolizer >/dev/null; then export ASAN_SYMBOLIZER_PATH="$(command -v llvm-symbolizer)"; fi
# Per input: 20 s; memory: no single allocation above 512 MB (the inputs are at most 64 KiB,
# so that is a parser trusting a size field) and 2 GB in all.
LIBFUZZER_FLAGS=(-timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536
                 -print_final_stats=1)

if [[ -n "$REPRO" ]]; then
  [[ ${#targets[@]} -eq 1 ]] || { echo "fuzz.sh: --repro needs exactly one target" >&2; exit 2; }
  exec "$OUT/bin/${targets[0]}" "${LIBFUZZER_FLAGS[@]}" "$REPRO"
fi

failed=()
summary="$OUT/summary.txt"
: > "$summary"
for t in "${targets[@]}"; do
  corpus="$OUT/corpus/$t"
  crashes="$OUT/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  seeds=()
  [[ -d "$ROOT/tests/fuzz/corpus/$t" ]] && seeds=("$ROOT/tests/fuzz/corpus/$t")
  log="$OUT/$t.log"
  before=$(ls "$crashes" | wc -l)
  echo "== $t: ${SECS}s (log $log)"
  "$OUT/bin/$t" "${LIBFUZZER_FLAGS[@]}" -max_total_time="$SECS" -artifact_prefix="$crashes/" \
    "$corpus" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  stats=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  if [[ $rc -ne 0 ]]; then
    crash=$(ls -t "$crashes" | head -1)
    if [[ $(ls "$crashes" | wc -l) -eq $before || -z "$crash" ]]; then crash="(no artifact; see $log)"
    else crash="$crashes/$crash"; fi
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 | sed 's/^/   /'
    echo "FAIL $t: exit $rc, input $crash"
    echo "FAIL $t $crash" >> "$summary"
    failed+=("$t: $crash")
  else
    echo "ok   $t: ${stats:-?} inputs, no crash"
    echo "PASS $t ${stats:-0}" >> "$summary"
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed:"
  printf '  %s\n' "${failed[@]}"
  echo "  reproduce: tools/fuzz.sh --repro=<input> <target>"
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s), no crash"
