#!/usr/bin/env bash
# ansible-lint with the production profile, offline, with kubernetes.core on the collections path.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
ANSIBLE_COLLECTIONS_PATH=$PWD/.cache/collections PATH="$PWD/$VENV/bin:$PATH" \
  "$VENV/bin/ansible-lint" --nocolor --profile production
