#!/usr/bin/env bash
# Release hygiene, one step of scripts/test.sh:
#   1. antsibull-changelog lint          the changelog fragments (changelogs/fragments/*.yml)
#   2. antsibull-docs lint-collection-docs --plugin-docs   every module's and role's docs, as docs.ansible.com
#                                        would render them, and the references between them
#   3. scripts/ee.sh create              the AWX execution environment's build context (ansible-builder, no
#                                        container engine); tests/integration/test_awx.py checks its contents
# Every check runs; the exit status is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
status=0
run() { echo "== $*"; "$@" || { echo "!! failed: $*"; status=1; }; }

run "$VENV/bin/antsibull-changelog" lint

# antsibull-docs copies the collection and its dependencies with `git ls-files` when they sit in a git work
# tree (antsibull_docs/utils/collection_copier.py), which would copy nothing of the untracked
# .cache/collections/kubernetes/core: give it a collections path outside this work tree.
deps=$(mktemp -d)
trap 'rm -rf "$deps"' EXIT
mkdir -p "$deps/ansible_collections/kubernetes"
cp -r .cache/collections/ansible_collections/kubernetes/core "$deps/ansible_collections/kubernetes/core"
PATH="$PWD/$VENV/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$deps" \
  run "$VENV/bin/antsibull-docs" lint-collection-docs --plugin-docs --validate-collection-refs all .

run ./scripts/ee.sh create "$VENV"
exit $status
