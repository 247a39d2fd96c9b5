#!/usr/bin/env bash
# The execution environment for AWX / Automation Controller (execution-environment.yml, ansible-builder).
#   scripts/ee.sh create [VENV] [CONTEXT]   the build context only (no container engine): CONTEXT/Containerfile
#                                           and CONTEXT/_build/ (default .cache/ee/context); what CI checks
#   scripts/ee.sh build  [VENV] [TAG]       the image (podman or docker), default tag ambient-mesh-ee:<version>
# Both first build this collection from the work tree into .cache/ee/ambient-mesh.tar.gz, the file the
# definition copies into the context (additional_build_files) and awx/ee/requirements.yml installs.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-create}
VENV=${2:-.venv}
mkdir -p .cache/ee
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" . >/dev/null
mv "$out"/ambient-mesh-*.tar.gz .cache/ee/ambient-mesh.tar.gz
case $action in
  create)
    context=${3:-.cache/ee/context}
    rm -rf "$context"
    "$VENV/bin/ansible-builder" create -f execution-environment.yml -c "$context" --output-filename Containerfile
    ;;
  build)
    version=$("$VENV/bin/python" -c "import yaml; print(yaml.safe_load(open('galaxy.yml'))['version'])")
    "$VENV/bin/ansible-builder" build -f execution-environment.yml -c .cache/ee/context \
      -t "${3:-ambient-mesh-ee:$version}"
    ;;
  *) echo "usage: $0 create|build [VENV] [CONTEXT|TAG]" >&2; exit 2;;
esac
