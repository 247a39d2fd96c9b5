#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection in a real ansible_collections/ambient/mesh tree,
# with kubernetes.core beside it.  Usage: scripts/sanity.sh VENV_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PYVER=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test --venv fetches get-pip.py from a host that may be unreachable: use the local stand-in
PIP_VER=$(grep -o "pip='[0-9.]*'" "$VENV"/lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.')
mkdir -p ~/.ansible/test/cache
cp scripts/get_pip_standin.py ~/.ansible/test/cache/get_pip_${PIP_VER//./_}.py

TREE=$(mktemp -d)
trap 'rm -rf "$TREE"' EXIT
mkdir -p "$TREE/ansible_collections/ambient/mesh" "$TREE/ansible_collections/kubernetes"
git ls-files -z | xargs -0 -I{} cp --parents {} "$TREE/ansible_collections/ambient/mesh/"
cp -r .cache/collections/ansible_collections/kubernetes/core "$TREE/ansible_collections/kubernetes/core"
cd "$TREE/ansible_collections/ambient/mesh"
git init -q . && git add -A >/dev/null  # ansible-test lists a collection's files through git
CORE=$("$OLDPWD/$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)')
echo "== ansible-test sanity (ansible-core $CORE, Python $PYVER)"
# The collection's own test harness (the embedded cluster, pytest suites, scripts, benchmarks) is
# controller-side Python 3.11+ code, not collection content: scripts/test.sh checks it with ruff.
excludes=()
for path in tests/ embedded_cluster/ scripts/ benchmarks/; do
  if [ -e "$path" ]; then excludes+=(--exclude "$path"); fi
done
"$OLDPWD/$VENV/bin/ansible-test" sanity --venv --python "$PYVER" --color no "${excludes[@]}"
