#!/usr/bin/env bash
# Sets up everything the collection needs on this machine, idempotently:
#   .venv            Python 3.11 + ansible-core 2.19 (the main leg; runs the demo and the tests)
#   .venv-latest     Python 3.13 + the newest ansible-core (the second test leg); only with --all-legs
#   .cache/collections/ansible_collections/{ambient/mesh -> this repo, kubernetes/core, awx/awx}
# kubernetes.core (the connection layer) and awx.awx (awx/register.yml registers the job templates in AWX)
# come from the "ansible" package on PyPI (Galaxy may be unreachable).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

find_python() {  # minor version -> a working interpreter (pyenv shims can fail, so try real paths first)
  local cand
  for cand in "$HOME"/.pyenv/versions/"$1".*/bin/python"$1" /usr/local/bin/python"$1" /usr/bin/python"$1" \
              "$(command -v python"$1" || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" --version >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  echo "no working python$1 found: install it, or set PY${1/./} to its path" >&2
  return 1
}
PY311=${PY311:-$(find_python 3.11)}
ANSIBLE_CORE_MAIN=${ANSIBLE_CORE_MAIN:-2.19.14}
ANSIBLE_CORE_LATEST=${ANSIBLE_CORE_LATEST:-2.21.5}
ANSIBLE_BUNDLE=${ANSIBLE_BUNDLE:-12.3.0}   # the "ansible" package whose kubernetes.core we use

make_venv() {  # dir python ansible-core-version
  local dir=$1 py=$2 core=$3
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c "import ansible, kmock" 2>/dev/null \
     || [ "$("$dir/bin/python" -c 'import ansible.release as r; print(r.__version__)')" != "$core" ]; then
    echo "== creating $dir ($("$py" --version), ansible-core $core)"
    "$py" -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check --upgrade pip
  fi
  "$dir/bin/pip" install -q --disable-pip-version-check "ansible-core==$core" -r requirements-test.txt
}

# Prometheus (Debian's package): the real server the embedded cluster's metrics are scraped and queried by
# (embedded_cluster/apiserver/prometheus.py; the demo's metric gates, tests/integration/test_metrics.py). Installed
# with apt-get where that is possible (root, or sudo without a password); elsewhere install it yourself.
install_prometheus() {
  command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] && return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      echo "!! prometheus is not installed and this user cannot apt-get: install it (apt-get install prometheus)" >&2
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "!! prometheus is not installed and there is no apt-get here: install Prometheus 2.x and put it on PATH" >&2
    return 0
  fi
  echo "== installing prometheus (Debian's package)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
install_prometheus

make_venv .venv "$PY311" "$ANSIBLE_CORE_MAIN"
if [ "${1:-}" = "--all-legs" ]; then
  PY313=${PY313:-$(find_python 3.13)}
  make_venv .venv-latest "$PY313" "$ANSIBLE_CORE_LATEST"
fi

COLL=.cache/collections/ansible_collections
mkdir -p "$COLL/ambient"
ln -sfn "$ROOT" "$COLL/ambient/mesh"
if [ ! -f "$COLL/kubernetes/core/MANIFEST.json" ] || [ ! -f "$COLL/awx/awx/MANIFEST.json" ]; then
  echo "== fetching kubernetes.core and awx.awx from ansible==$ANSIBLE_BUNDLE (PyPI)"
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps "ansible==$ANSIBLE_BUNDLE" -d "$tmp"
  .venv/bin/python - "$tmp"/ansible-*.whl "$COLL" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
prefixes = ("ansible_collections/kubernetes/core/", "ansible_collections/awx/awx/")
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefixes) and not name.endswith("/"):
            target = dest + "/" + name[len("ansible_collections/"):]
            import os
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(name) as src, open(target, "wb") as out:
                out.write(src.read())
PY
  rm -rf "$tmp"
fi
echo "== ready: .venv (ansible-core $(.venv/bin/python -c 'import ansible.release; print(ansible.release.__version__)')), kubernetes.core $(.venv/bin/python -c "import json;print(json.load(open('$COLL/kubernetes/core/MANIFEST.json'))['collection_info']['version'])"), prometheus $(prometheus --version 2>/dev/null | head -1 | awk '{print $3}' | grep . || echo 'not installed')"
