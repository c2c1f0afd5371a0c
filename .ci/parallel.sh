# Sourced by .ci/run: two ways to keep both of CI's
# cores busy in the steps that would leave one idle. Never for a step whose
# checks depend on timing (the demo, the peer benchmark, the suites of real
# threads that a mutation must fail): those run alone.

# side_by_side FUNCTION...: runs the functions at once, each in a subshell
# of its own (with the caller's shell options) and each one's output into
# target/ci-lanes/FUNCTION.log under the current directory. Once all have
# ended it prints the logs in turn, so their lines are not interleaved, and
# returns 1 if any function failed. For the single-threaded fuzzers.
side_by_side() {
  local dir="$PWD/target/ci-lanes" name pid status failed=0 i=0
  local -a pids=()
  mkdir -p "$dir"
  for name in "$@"; do
    ("$name") >"$dir/$name.log" 2>&1 &
    pids+=("$!")
  done
  for name in "$@"; do
    pid=${pids[$i]}
    i=$((i + 1))
    if wait "$pid"; then status=0; else status=$?; fi
    echo "---- $name (exit status $status) ----"
    cat "$dir/$name.log"
    if [[ $status -ne 0 ]]; then
      echo "---- $name FAILED (exit status $status)"
      failed=1
    fi
  done
  return $failed
}

# loom_binary TARGET_DIR RUSTFLAGS TEST: builds the loom-tests crate's test
# TEST (profile `checked`) and prints its executable's path.
loom_binary() {
  RUSTFLAGS="$2" CARGO_TARGET_DIR=$1 cargo test --profile checked -p lfmap-loom-tests \
    --test "$3" --no-run --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p'
}

# loom_jobs BOUND BINARY [--skip NAME]...: one job line "BOUND BINARY NAME"
# per model of BINARY that no --skip names.
# A binary that lists no model, or none left after the skips (built
# without `--cfg loom`, say), is an error, not an empty set that passes.
loom_jobs() {
  local bound=$1 binary=$2 skipped=" " names name emitted=0
  shift 2
  while [[ $# -gt 0 ]]; do
    [[ $1 == --skip ]] || { echo "loom_jobs: unexpected argument $1" >&2; return 1; }
    skipped+="$2 "
    shift 2
  done
  names=$("$binary" --list | sed -n 's/: test$//p') || return 1
  for name in $names; do
    if [[ $skipped != *" $name "* ]]; then
      echo "$bound $binary $name"
      emitted=$((emitted + 1))
    fi
  done
  if [[ $emitted -eq 0 ]]; then
    echo "loom_jobs: no model to run in $binary" >&2
    return 1
  fi
}

# run_loom_job BOUND BINARY NAME DIR: one job of run_loom_jobs, its output
# into its own log under DIR and one line into DIR/results. A filter that
# matched nothing ("0 passed") is a failure, not a pass.
run_loom_job() {
  local bound=$1 binary=$2 name=$3 dir=$4 started=$SECONDS status
  local log="$dir/$(basename "${binary%/checked/deps/*}")-$(basename "$binary")-$name-$bound.log"
  if LOOM_MAX_PREEMPTIONS=$bound "$binary" --exact "$name" --test-threads=1 >"$log" 2>&1 &&
    grep -q "^test result: ok. 1 passed" "$log"; then
    status=ok
  else
    status=FAILED
  fi
  echo "$status $((SECONDS - started)) s: $name (bound $bound, $binary) log=$log" >>"$dir/results"
}

# run_loom_jobs FILE [FIRST...]: runs every job line of FILE (above), each
# model in a process of its own at its preemption bound, two processes at a
# time, the models named FIRST started first (the longest: the step lasts
# at least as long as its longest model, so it must not start last). Prints
# one line per model with its time, and each failed model's log; returns 1
# if any failed.
#
# Why not libtest's own two threads: a loom model allocates and frees a
# generator stack per thread per interleaving, and two models in one
# process contend on that process's memory map (WordMap's models took
# 133-177 s on two threads of one process against 112 s on one).
run_loom_jobs() {
  local file=$1 dir=target/loom-runs results failed=0
  shift
  if [[ ! -s $file ]]; then
    echo "run_loom_jobs: no job in $file" >&2
    return 1
  fi
  mkdir -p "$dir"
  results="$dir/results"
  : >"$results"
  # A stable sort on each job's rank (its model's place among FIRST, or
  # after them all): a reordering of FILE, so no job is lost or doubled.
  awk -v first="$*" 'BEGIN { n = split(first, f, " "); for (i = 1; i <= n; i++) rank[f[i]] = i }
    { print (($3 in rank) ? rank[$3] : n + 1), $0 }' "$file" |
    sort -s -n -k1,1 | cut -d' ' -f2- >"$dir/ordered"
  export -f run_loom_job
  xargs -P 2 -L 1 bash -c 'run_loom_job "$1" "$2" "$3" "'"$dir"'"' _ <"$dir/ordered" || true
  sed 's/ log=.*//' "$results"
  if [[ $(wc -l <"$results") -ne $(wc -l <"$dir/ordered") ]]; then
    echo "run_loom_jobs: $(wc -l <"$dir/ordered") jobs, $(wc -l <"$results") results"
    failed=1
  fi
  local line
  while read -r line; do
    echo "---- log of ${line% log=*}"
    tail -60 "${line##* log=}"
    failed=1
  done < <(grep '^FAILED' "$results" || true)
  echo "$(grep -c '^ok' "$results") of $(wc -l <"$dir/ordered") models passed"
  return $failed
}
