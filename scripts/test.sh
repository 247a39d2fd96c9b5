#!/usr/bin/env bash
# The whole test suite. Every step runs; the exit status is non-zero when any step failed.
#   leg 1: Python 3.11 + ansible-core 2.19     leg 2: Python 3.13 + the newest ansible-core
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --all-legs || { echo "bootstrap failed"; exit 1; }

failed=()
step() {  # name minutes command...: a step that runs longer than its minutes is stopped and counts as failed
  local name=$1 minutes=$2; shift 2
  echo; echo "===== $name"
  local start=$SECONDS rc=0
  timeout --kill-after=30 "${minutes}m" "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "----- ok: $name ($((SECONDS - start))s)"
  else
    [ "$rc" -eq 124 ] && echo "----- stopped: $name ran longer than its $minutes minutes"
    echo "----- FAILED: $name (exit status $rc, $((SECONDS - start))s)"; failed+=("$name")
  fi
}

# Leg 1 runs every test. Leg 2 runs the unit tests and the integration tests marked core_compat (every
# module and role through ansible-playbook, the docs, imports, argument handling, istioctl deadlines and
# TMPDIR, ansible-runner): what can differ with ansible-core or Python. pytest.ini says what the marks mean.
step "unit + integration tests, Python 3.11 / ansible-core 2.19" 55 \
  .venv/bin/python -m pytest -q -n auto --durations=15 tests
step "unit + core_compat integration tests, Python 3.13 / newest ansible-core" 20 \
  .venv-latest/bin/python -m pytest -q -n auto --durations=10 -m "not integration or core_compat" tests
step "ansible-test sanity, Python 3.11 / ansible-core 2.19" 20 ./scripts/sanity.sh .venv
step "ansible-test sanity, Python 3.13 / newest ansible-core" 20 ./scripts/sanity.sh .venv-latest
step "molecule test: extensions/molecule and the role example, on embedded test clusters" 20 \
  env AMBIENT_MESH_EMBEDDED=1 ./scripts/molecule.sh
step "ansible-lint --profile production" 10 ./scripts/lint.sh .venv
step "ruff (tests, scripts, benchmarks, embedded_cluster)" 2 .venv/bin/ruff check tests scripts benchmarks embedded_cluster
step "ansible-galaxy collection build" 5 ./scripts/build.sh .venv
step "release checks: changelog lint, collection docs lint, ansible-builder create" 10 ./scripts/release_checks.sh .venv

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED steps:\n'; printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all steps passed"
