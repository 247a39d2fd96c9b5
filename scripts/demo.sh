#!/usr/bin/env bash
# The main job: set everything up, then roll the whole lab out (playbooks/site.yml: platform.yml =
# Gateway API CRDs, Istio ambient, the lab namespaces enrolled, waypoints, the mesh report; lab.yml =
# the lab's apps; lab_checks.yml = the helloworld 95/5 split measured by the probe, the httpbin fault drill).
# Without KUBECONFIG (or with AMBIENT_MESH_EMBEDDED=1) it runs against the embedded test cluster:
# an in-memory, simulated Kubernetes API server on 127.0.0.1 with a simulated istiod, driven by the
# fake istioctl of tests/ -- not a real cluster. With a real cluster, istioctl must be on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export ANSIBLE_COLLECTIONS_PATH=$PWD/.cache/collections
# the Gateway API bundle carried as test data (upstream, unmodified: tests/data/README.md)
GATEWAY_API_BUNDLE=$PWD/tests/data/crds/gateway-api-v1.5.1-standard.yaml
extra=()

if [ -n "${KUBECONFIG:-}" ] && [ -z "${AMBIENT_MESH_EMBEDDED:-}" ]; then
  echo "== using the cluster of KUBECONFIG=$KUBECONFIG"
  extra+=(-e "kubeconfig=$KUBECONFIG")
else
  mkdir -p .cache/demo
  rm -f .cache/demo/kubeconfig
  echo "== starting the embedded test cluster (in-memory, simulated API server; not a real cluster)"
  (cd tests && exec ../.venv/bin/python -m apiserver --kubeconfig ../.cache/demo/kubeconfig) > .cache/demo/apiserver.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s .cache/demo/kubeconfig ] && break; sleep 0.1; done
  [ -s .cache/demo/kubeconfig ] || { cat .cache/demo/apiserver.log; exit 1; }
  head -1 .cache/demo/apiserver.log
  extra+=(-e "kubeconfig=$PWD/.cache/demo/kubeconfig")
  # the embedded cluster has no way to the Internet: install from the bundled copy
  extra+=(-e "install_gateway_api_src=$GATEWAY_API_BUNDLE")
  # the fake istioctl (istioctl's documented contract, acting on the embedded cluster)
  istioctl=$(cd tests && ../.venv/bin/python -c 'import sys, fake_istioctl; print(fake_istioctl.install(
      "../.cache/demo/bin", "../.cache/demo/istioctl-home", sys.executable))')
  extra+=(-e "install_istioctl_path=$PWD/tests/$istioctl")
fi

.venv/bin/ansible-playbook -i playbooks/inventory/local.yml playbooks/site.yml "${extra[@]}" "$@"
echo "== again: a second run must change nothing"
.venv/bin/ansible-playbook -i playbooks/inventory/local.yml playbooks/site.yml "${extra[@]}" "$@" \
  | tee .cache/demo/second-run.log | tail -3
grep -q "changed=0" .cache/demo/second-run.log
