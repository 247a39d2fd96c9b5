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
# everything the collection is made of, read from the tree, must be in the artifact
missing=0
for required in $(git ls-files plugins roles meta playbooks) README.md MANIFEST.json; do
  grep -qx "$required" <<<"$listing" || { echo "missing from $tarball: $required"; missing=1; }
done
[ "$missing" = 0 ] || exit 1
if grep -qE '^(\.venv|\.cache|\.git|\.ci)/' <<<"$listing"; then echo "the build includes local files"; exit 1; fi
echo "built $(basename "$tarball") ($(wc -l <<<"$listing") entries)"
