#!/usr/bin/env bash
# The whole test suite. Every step runs; the exit status is non-zero when any step failed.
#   leg 1: Python 3.11 + ansible-core 2.19     leg 2: Python 3.13 + the newest ansible-core
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh --all-legs || { echo "bootstrap failed"; exit 1; }

failed=()
step() {
  local name=$1; shift
  echo; echo "===== $name"
  local start=$SECONDS
  if "$@"; then echo "----- ok: $name ($((SECONDS - start))s)"; else echo "----- FAILED: $name ($((SECONDS - start))s)"; failed+=("$name"); fi
}

step "unit + integration tests, Python 3.11 / ansible-core 2.19" .venv/bin/python -m pytest -q -n auto --durations=15 tests
step "unit + integration tests, Python 3.13 / newest ansible-core" .venv-latest/bin/python -m pytest -q -n auto --durations=15 tests
step "ansible-test sanity, Python 3.11 / ansible-core 2.19" ./scripts/sanity.sh .venv
step "ansible-test sanity, Python 3.13 / newest ansible-core" ./scripts/sanity.sh .venv-latest
step "molecule test: extensions/molecule and the role example, on embedded test clusters" env AMBIENT_MESH_EMBEDDED=1 ./scripts/molecule.sh
step "ansible-lint --profile production" ./scripts/lint.sh .venv
step "ruff (tests, scripts, benchmarks)" .venv/bin/ruff check tests scripts benchmarks
step "ansible-galaxy collection build" ./scripts/build.sh .venv
step "release checks: changelog lint, collection docs lint, ansible-builder create" ./scripts/release_checks.sh .venv

echo
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED steps:\n'; printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all steps passed"
