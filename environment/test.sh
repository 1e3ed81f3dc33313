#!/usr/bin/env bash
# GestaltLab's test command (README's second command; .ci/run calls exactly this):
# set-up with test extras, the xunit suite, then every notebook in quick mode.
# Ends with one line of totals: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The dotnet CLI reports usage to Microsoft unless told not to; nothing of this project phones home.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1

passed=0; failed=0; skipped=0
# Stopped from outside (CI's time limit, Ctrl+C), the totals line still ends the output, counting the stop as a failure.
trap 'echo; echo "$passed passed, $((failed + 1)) failed"; exit 1' TERM INT

bash environment/setup.sh --tests || { echo "0 passed, 1 failed"; exit 1; }

results=artifacts/test-results
rm -rf "$results"; mkdir -p "$results"
# A test that hangs is stopped (and named in the output) rather than holding CI until its time limit.
# (No memory dump of the hung process: with libtorch loaded it would be gigabytes.)
dotnet test tests/GestaltLab.Tests/GestaltLab.Tests.csproj -c Release --no-build --nologo --blame-hang-timeout 20m --blame-hang-dump-type none \
  --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" --results-directory "$results"
test_rc=$?

trx="$results/tests.trx"
counters=$([ -f "$trx" ] && grep -o '<Counters [^>]*>' "$trx" | head -n 1)
if [ -n "$counters" ]; then
  # An attribute the file lacks counts as 0, so the totals line is always well formed.
  get() { local v; v=$(printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'); printf '%s' "${v:-0}"; }
  passed=$(get passed); total=$(get total); executed=$(get executed)
  failed=$(( $(get failed) + $(get error) + $(get timeout) + $(get aborted) ))
  skipped=$(( total > executed ? total - executed : 0 ))
fi
# The run itself broke (build, crash), or left no readable results: that is a failure, never "0 failed".
if { [ "$test_rc" != 0 ] || [ -z "$counters" ]; } && [ "$failed" = 0 ]; then failed=1; fi

# Notebooks, in quick mode; the executed copies go to artifacts/ so the committed notebooks keep the outputs of
# their full run.
if compgen -G "notebooks/*.ipynb" >/dev/null; then
  nbdir=artifacts/notebooks-quick
  rm -rf "$nbdir"; mkdir -p "$nbdir"
  for nb in notebooks/*.ipynb; do
    echo "=== notebook $nb (quick)"
    # --foreground: in the script's own process group, so that Ctrl+C or CI's stop reaches the notebook at once.
    if timeout --foreground -k 60 20m ./gestaltlab notebook run "$nb" --quick --output "$nbdir/$(basename "$nb")"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
fi

line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
[ "$failed" = 0 ]
