#!/usr/bin/env bash
# ansible-galaxy collection build, into a temporary directory; checks the artifact's contents.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" .
tarball=$(ls "$out"/ambient-mesh-*.tar.gz)
listing=$(tar -tzf "$tarball")
for required in plugins/modules/gateway_api_crds.py plugins/modules/mesh_info.py plugins/modules/istio_install.py \
                roles/install/tasks/main.yml roles/install/meta/argument_specs.yml meta/runtime.yml README.md \
                plugins/module_utils/_kube.py plugins/doc_fragments/wait.py; do
  grep -qx "$required" <<<"$listing" || { echo "missing from $tarball: $required"; exit 1; }
done
if grep -qE '^(\.venv|\.cache|\.git|\.ci)/' <<<"$listing"; then echo "the build includes local files"; exit 1; fi
echo "built $(basename "$tarball") ($(wc -l <<<"$listing") entries)"
