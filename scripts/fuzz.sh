#!/usr/bin/env bash
# Coverage-guided fuzzing of tablecache-core (cargo-fuzz / libFuzzer).
#
#   scripts/fuzz.sh                      every target, 60 s each
#   scripts/fuzz.sh --seconds 300 alloc_ops keys_order
#   scripts/fuzz.sh --ci                 every target, 15 s each (for .ci/run)
#   scripts/fuzz.sh --replay             only replay the committed regressions
#
# Options:
#   --seconds N        fuzzing time per target (default 60; --ci sets 15)
#   --ci               short run of every target, for CI
#   --replay           build and replay core/fuzz/regressions only, no fuzzing
#   --jobs N           libFuzzer -fork=N workers per target (default 1)
#   --install-nightly  if there is no nightly toolchain, try `rustup toolchain
#                      install nightly` (else: stable without sanitizer)
# Environment: FUZZ_TOOLCHAIN (nightly|stable|...), FUZZ_SANITIZER
# (address|none|...), FUZZ_WORK (default /tmp/tablecache-fuzz).
#
# Targets: keys_order numeric_parse alloc_ops index_merge interval_ops walrec_decode
# (sources in core/fuzz/fuzz_targets/).
#
# For each target: the committed inputs in core/fuzz/regressions/<target>/
# are replayed first (a target whose replay fails counts as failed and is
# not fuzzed; the others still are), then the target is
# fuzzed with the corpus $FUZZ_WORK/corpus/<target> (kept between runs on
# this machine, never committed) seeded by those regressions. Crashes are
# written to $FUZZ_WORK/artifacts/<target>/. The exit status is non-zero if
# any target crashed. A table of executions / coverage / features / corpus
# per target is printed at the end.
#
# Toolchain: cargo-fuzz's sanitizers need nightly (-Zsanitizer). With a
# nightly toolchain (rustup's `nightly`) the targets are built with
# AddressSanitizer; with only stable, `cargo fuzz --sanitizer none` still
# builds with libFuzzer's coverage instrumentation (no RUSTC_BOOTSTRAP needed
# with cargo-fuzz 0.13 and Rust 1.95), which catches every panic/assertion
# but not out-of-bounds accesses in unsafe code that do not panic.
# cargo-fuzz itself is installed with `cargo install cargo-fuzz --locked`
# when missing.
#
# Reproduce / minimise a crash (from core/):
#   cargo +nightly fuzz run <target> <artifact>
#   cargo +nightly fuzz tmin <target> <artifact>
# then commit the minimised input under core/fuzz/regressions/<target>/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
ALL_TARGETS=(keys_order numeric_parse alloc_ops index_merge interval_ops walrec_decode)
# the fuzz binaries are looked for under core/fuzz/target
unset CARGO_TARGET_DIR
WORK="${FUZZ_WORK:-/tmp/tablecache-fuzz}"

seconds=60
replay_only=0
jobs=1
install_nightly=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a value}"; shift ;;
        --seconds=*) seconds="${1#*=}" ;;
        --ci) seconds=15 ;;
        --replay) replay_only=1 ;;
        --jobs) jobs="${2:?--jobs needs a value}"; shift ;;
        --install-nightly) install_nightly=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "unknown option: $1" >&2; exit 2 ;;
        *)
            if [[ " ${ALL_TARGETS[*]} " != *" $1 "* ]]; then
                echo "unknown target: $1 (targets: ${ALL_TARGETS[*]})" >&2; exit 2
            fi
            targets+=("$1") ;;
    esac
    shift
done
[ ${#targets[@]} -eq 0 ] && targets=("${ALL_TARGETS[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "--seconds must be a positive integer" >&2; exit 2
fi

t0=$(date +%s)

# --- tools -----------------------------------------------------------------
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked || { echo "fuzz: cannot install cargo-fuzz" >&2; exit 1; }
fi

have_toolchain() { rustup run "$1" rustc --version >/dev/null 2>&1; }

toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
    if have_toolchain nightly; then
        toolchain=nightly
    elif [ "$install_nightly" -eq 1 ] && timeout 900 rustup toolchain install nightly --profile minimal; then
        toolchain=nightly
    else
        toolchain=stable
    fi
fi
sanitizer="${FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
    case "$toolchain" in
        nightly*) sanitizer=address ;;
        *) sanitizer=none ;;
    esac
fi
echo "fuzz: $(cargo fuzz --version), toolchain $toolchain ($(rustup run "$toolchain" rustc --version)), sanitizer $sanitizer"

cd "$ROOT/core" || exit 1
FUZZ_FLAGS=(--fuzz-dir fuzz -O --debug-assertions --sanitizer "$sanitizer")
TRIPLE="$(rustup run "$toolchain" rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$ROOT/core/fuzz/target/$TRIPLE/release"

# --- build -----------------------------------------------------------------
tb=$(date +%s)
echo "fuzz: building ${targets[*]}"
if [ ${#targets[@]} -eq ${#ALL_TARGETS[@]} ]; then
    build_sets=("")               # one cargo build of every target
else
    build_sets=("${targets[@]}")
fi
for t in "${build_sets[@]}"; do
    if ! cargo "+$toolchain" fuzz build "${FUZZ_FLAGS[@]}" ${t:+"$t"}; then
        echo "fuzz: build ${t:-of the targets} failed" >&2; exit 1
    fi
done
build_secs=$(( $(date +%s) - tb ))

# --- replay the committed regressions ----------------------------------------
failed=()
mkdir -p "$WORK/logs"
for t in "${targets[@]}"; do
    dir="$ROOT/core/fuzz/regressions/$t"
    [ -d "$dir" ] || continue
    mapfile -t files < <(find "$dir" -type f | sort)
    [ ${#files[@]} -eq 0 ] && continue
    echo "fuzz: replaying ${#files[@]} regression input(s) of $t"
    if ! "$BIN_DIR/$t" -rss_limit_mb=4096 "${files[@]}" > "$WORK/logs/replay-$t.log" 2>&1; then
        tail -n 40 "$WORK/logs/replay-$t.log"
        echo "fuzz: REGRESSION in $t (log $WORK/logs/replay-$t.log)" >&2
        failed+=("$t")
    fi
done
if [ "$replay_only" -eq 1 ]; then
    if [ ${#failed[@]} -ne 0 ]; then
        echo "fuzz: regression inputs fail: ${failed[*]}"
        echo "fuzz: $(( ${#targets[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
        exit 1
    fi
    echo "fuzz: regressions ok ($(( $(date +%s) - t0 )) s)"
    echo "fuzz: ${#targets[@]} passed, 0 failed"
    exit 0
fi

# --- fuzz --------------------------------------------------------------------
declare -A EXECS COV FT CORP RATE STATUS
for t in "${failed[@]}"; do STATUS[$t]=REGRESS; done
for t in "${targets[@]}"; do
    if [ "${STATUS[$t]:-}" = REGRESS ]; then
        echo "fuzz: $t: not fuzzed, a committed regression input fails (fix it first)"
        continue
    fi
    corpus="$WORK/corpus/$t" art="$WORK/artifacts/$t" log="$WORK/logs/$t.log"
    mkdir -p "$corpus" "$art" "$WORK/logs"
    seeds=()
    [ -d "$ROOT/core/fuzz/regressions/$t" ] && seeds=("$ROOT/core/fuzz/regressions/$t")
    extra=()
    [ "$jobs" -gt 1 ] && extra=(-fork="$jobs")
    echo "fuzz: $t for ${seconds}s (corpus $corpus, log $log)"
    "$BIN_DIR/$t" "$corpus" "${seeds[@]}" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
        -artifact_prefix="$art/" -print_final_stats=1 "${extra[@]}" > "$log" 2>&1
    rc=$?
    last=$(grep -aE '^#[0-9]+' "$log" | tail -n 1)
    EXECS[$t]=$(grep -aoE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n1)
    [ -z "${EXECS[$t]}" ] && EXECS[$t]=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
    COV[$t]=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    FT[$t]=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    CORP[$t]=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | sed 's/corp: //')
    RATE[$t]=$(grep -oE 'exec/s: [0-9]+' <<<"$last" | grep -oE '[0-9]+')
    if [ "$rc" -eq 0 ]; then
        STATUS[$t]=ok
    else
        STATUS[$t]=CRASH
        failed+=("$t")
        echo "---------------- $t: crash (exit $rc) ----------------"
        grep -aE 'panicked at|ERROR: |SUMMARY|Test unit written|Base64' "$log" | head -n 12
        grep -aA6 'panicked at' "$log" | head -n 20
        echo "reproduce: (cd core && cargo +$toolchain fuzz run ${FUZZ_FLAGS[*]} $t $art/<crash-file>)"
        echo "minimise:  (cd core && cargo +$toolchain fuzz tmin ${FUZZ_FLAGS[*]} $t $art/<crash-file>)"
    fi
    echo "fuzz: $t: ${STATUS[$t]}: $last"
done

echo
printf '%-14s %-7s %12s %9s %8s %8s %16s\n' target status execs exec/s cov ft corpus
for t in "${targets[@]}"; do
    printf '%-14s %-7s %12s %9s %8s %8s %16s\n' "$t" "${STATUS[$t]}" "${EXECS[$t]:-?}" "${RATE[$t]:-?}" \
        "${COV[$t]:-?}" "${FT[$t]:-?}" "${CORP[$t]:-?}"
done
echo "fuzz: toolchain $toolchain, sanitizer $sanitizer, ${seconds}s per target, build ${build_secs}s, total $(( $(date +%s) - t0 ))s"
ok=$(( ${#targets[@]} - ${#failed[@]} ))
echo "fuzz: ${ok} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
