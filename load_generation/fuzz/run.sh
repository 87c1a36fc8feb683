#!/usr/bin/env bash
# Fuzzes loadgen's config parsing, validation and template check for a bounded
# time; exits non-zero if a target panics (libFuzzer leaves the input in
# fuzz/artifacts/<target>/).
#
#   load_generation/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   load_generation/fuzz/run.sh 60                       # every target, 60 s each
#   load_generation/fuzz/run.sh 300 config_and_template
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain (the
# sanitizer flags are nightly-only); set FUZZ_TOOLCHAIN to use another one
# (default: nightly). Seeds are read from corpus/<target>/ (checked in); what the
# fuzzer finds goes to corpus-work/<target>/ (ignored by git), so runs build on
# each other without touching the seeds. Without a nightly, `cargo test` in this
# directory still runs every seed through both targets.
#
# Replay one crash: cargo +nightly fuzz run <target> artifacts/<target>/crash-...
set -euo pipefail

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(config_and_template user_type_name threshold)
fi
toolchain="${FUZZ_TOOLCHAIN:-nightly}"

cd "$(dirname "$0")"
for target in "${targets[@]}"; do
    mkdir -p "corpus-work/$target"
    echo "== fuzzing $target for ${seconds}s"
    # -rss_limit_mb / -max_len keep it polite on a shared machine; -timeout flags
    # any single input that takes over 10 s (a hang is a bug too).
    cargo "+$toolchain" fuzz run "$target" "corpus-work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -dict=config.dict -print_final_stats=1
done
