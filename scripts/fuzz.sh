#!/usr/bin/env bash
# Runs one libFuzzer target on stable Rust: scripts/fuzz.sh policy_parse [SECONDS]
# Targets: policy_parse, setup_parse, blueprint_parse, sigv4_s3, s3_xml, s3_chunked. Corpus and crashes go to fuzz/corpus/TARGET and fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}
seconds=${2:-60}
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target/fuzz}"
# An explicit --target keeps the instrumentation flags off build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --target "$host" --bin "$target"
mkdir -p "corpus/$target" artifacts
# Seeds: fuzz/seeds/TARGET (committed, where the input has a structure to find) and the examples.
seeds=()
[ -d "seeds/$target" ] && seeds+=("seeds/$target")
"$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -artifact_prefix=artifacts/ "corpus/$target" "${seeds[@]}" ../examples
