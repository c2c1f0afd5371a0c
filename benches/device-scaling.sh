#!/usr/bin/env bash
# The 1-16 thread scaling table, lfmap and its peers in one run, on a
# machine with more cores than the development one and no Rust toolchain
# (the workplace's lent 16-core machine). Build here, run there:
#
#   bash benches/device-scaling.sh build          # here: binaries into .device-bench/
#   bash benches/device-scaling.sh run OUTDIR     # there: the report into OUTDIR
#
# `build` makes the peers benchmark binary and `peers-user` (lfmap alone,
# as users build it: no feature a peer switches on) and copies both, with
# the commit they were built from, into `.device-bench/` (ignored by git;
# carry it to the other machine). `run` re-executes the peers binary once
# per measurement, as `cargo bench --bench peers` does, and writes
# `benchmarks.md`, the CSV and the charts into OUTDIR. Its defaults are
# sized for one 10-minute command: 175 measurements of about a second each
# (18 took 20 s on the 2-core development machine); override them with
# THREADS, WORKLOADS, MAPS and REPS. docs/benchmarks.md, "Scaling beyond
# two cores", says how to call it through the device tool.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.device-bench

case "${1:-}" in
build)
    # The bench target's path, as cargo prints it ("Executable ... (PATH)").
    peers=$(cargo bench --bench peers --no-run 2>&1 |
        sed -n 's/.*Executable .*(\(.*target\/release\/deps\/peers-[0-9a-f]*\)).*/\1/p' | tail -n 1)
    [ -x "$peers" ] || { echo "device-scaling: no peers binary found" >&2; exit 1; }
    # As the driver builds it (benches/peers/driver.rs, build_user_binary).
    cargo build --release -p lfmap-bench-user --bin peers-user
    mkdir -p "$dir"
    cp "$peers" "$dir/peers"
    cp target/release/peers-user "$dir/peers-user"
    git rev-parse --short HEAD > "$dir/commit"
    if ! git diff --quiet HEAD -- src benches Cargo.toml; then
        echo "(with uncommitted changes)" >> "$dir/commit"
    fi
    exclude=$(git rev-parse --git-path info/exclude)
    grep -qx "/$dir/" "$exclude" 2>/dev/null || echo "/$dir/" >> "$exclude"
    du -sh "$dir"
    echo "device-scaling: carry $dir; then: bash benches/device-scaling.sh run \$OUT"
    ;;
run)
    out=${2:?usage: device-scaling.sh run OUTDIR}
    [ -x "$dir/peers" ] && [ -x "$dir/peers-user" ] ||
        { echo "device-scaling: $dir/ is missing; run the build step first" >&2; exit 1; }
    mkdir -p "$out"
    nproc
    LFMAP_BENCH_COMMIT=$(tr '\n' ' ' < "$dir/commit") \
        "$dir/peers" \
        --reps "${REPS:-1}" \
        --threads "${THREADS:-1,2,4,8,16}" \
        --workloads "${WORKLOADS:-read_heavy,exchange,mixed,rapid_grow}" \
        --maps "${MAPS:-lfmap,wordmap,papaya,dashmap,flurry,scc,rwlock}" \
        --no-strings \
        --user-bin "$dir/peers-user" \
        --out "$out"
    ;;
*)
    echo "usage: bash benches/device-scaling.sh build | run OUTDIR" >&2
    exit 2
    ;;
esac
