#!/usr/bin/env bash
# ansible-galaxy collection build, into a temporary directory; checks the artifact's contents.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" .
tarball=$(ls "$out"/ambient-mesh-*.tar.gz)
for required in plugins/modules/gateway_api_crds.py plugins/modules/mesh_info.py meta/runtime.yml README.md; do
  tar -tzf "$tarball" | grep -qx "$required" || { echo "missing from $tarball: $required"; exit 1; }
done
if tar -tzf "$tarball" | grep -qE '^(\.venv|\.cache|\.git)/'; then echo "build includes local environment files"; exit 1; fi
echo "built $(basename "$tarball") ($(tar -tzf "$tarball" | wc -l) files)"
