#!/usr/bin/env bash
# molecule, offline, for the collection's scenarios (extensions/molecule) and then the role example's
# (examples/roles/app_mesh/molecule), with the venv's tools on PATH and the collections of .cache/collections
# (scripts/bootstrap.sh puts kubernetes.core and this checkout there).
#   scripts/molecule.sh                 molecule test --all, in both places (what scripts/test.sh runs)
#   scripts/molecule.sh converge -s default   any molecule command, in extensions/molecule only
# Without KUBECONFIG (or with AMBIENT_MESH_EMBEDDED=1) every scenario runs on its own embedded test cluster
# (in-memory, simulated; started by create, stopped by destroy); with KUBECONFIG, on that cluster with the
# istioctl on PATH. VENV picks the virtualenv (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
export PATH=$ROOT/$VENV/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.cache/collections
# no colour codes in logs (CI)
export ANSIBLE_NOCOLOR=1 NO_COLOR=1 ANSIBLE_FORCE_COLOR=0

if [ $# -gt 0 ]; then
  exec molecule "$@"
fi
echo "== molecule test --all: the collection's scenarios (extensions/molecule)"
molecule test --all
echo "== molecule test: the role example (examples/roles/app_mesh)"
cd examples/roles/app_mesh
molecule test
