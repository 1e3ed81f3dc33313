#!/usr/bin/env bash
# GestaltLab's test command (README's second command; .ci/run calls exactly this):
# set-up with test extras, the xunit suite, then every notebook in quick mode.
# Ends with one line of totals: "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The dotnet CLI reports usage to Microsoft unless told not to; nothing of this project phones home.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1

bash environment/setup.sh --tests || { echo "0 passed, 1 failed"; exit 1; }

results=artifacts/test-results
rm -rf "$results"; mkdir -p "$results"
dotnet test tests/GestaltLab.Tests/GestaltLab.Tests.csproj -c Release --no-build --nologo \
  --logger "trx;LogFileName=tests.trx" --logger "console;verbosity=normal" --results-directory "$results"
test_rc=$?

passed=0; failed=0; skipped=0
trx="$results/tests.trx"
if [ -f "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  get() { printf '%s' "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  passed=$(get passed); failed=$(get failed); total=$(get total); executed=$(get executed)
  failed=$(( failed + $(get error) + $(get timeout) + $(get aborted) ))
  skipped=$(( total - executed ))
fi
if [ "$test_rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # the run itself broke (build, crash)

# Notebooks, in quick mode; the executed copies go to artifacts/ so the committed notebooks keep the outputs of
# their full run.
if compgen -G "notebooks/*.ipynb" >/dev/null; then
  nbdir=artifacts/notebooks-quick
  rm -rf "$nbdir"; mkdir -p "$nbdir"
  for nb in notebooks/*.ipynb; do
    echo "=== notebook $nb (quick)"
    if ./gestaltlab notebook run "$nb" --quick --output "$nbdir/$(basename "$nb")"; then
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
