#!/usr/bin/env bash
# The main job: set everything up, then roll the whole lab out with playbooks/rollout.yml on the variables
# file playbooks/vars/lab.yml: the platform (Gateway API CRDs, Istio ambient, the lab namespaces enrolled,
# waypoints), the lab's apps, the helloworld canary v1 -> v2 through 5/25/50/100 % (each step measured by
# the probe), the httpbin fault drill (3 s delay, HTTP 500 abort: asked for with -e rollout_fault_drill=true,
# on the first run only, since it disturbs live traffic and reports changed), the mesh report; it ends with
# the canary's summary table and the path of its report. Then it runs the job again as a schedule would,
# without the drill: the second run must change nothing. With prometheus installed (scripts/bootstrap.sh installs it)
# the embedded cluster runs a real Prometheus and background traffic, and the canary's steps and the fault drill are
# judged by Istio's metrics too (metric gates); without it the demo says so and runs on the probe alone.
# Without KUBECONFIG (or with AMBIENT_MESH_EMBEDDED=1) it runs against the embedded test cluster of
# embedded_cluster/ (its README.md): an in-memory, simulated Kubernetes API server on 127.0.0.1 with a
# simulated istiod, driven by its fake istioctl -- not a real cluster. With a real cluster, istioctl must
# be on PATH.
# Extra arguments go to ansible-playbook (e.g. --check, -e rollout_lab_apps=false).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export ANSIBLE_COLLECTIONS_PATH=$PWD/.cache/collections
# the Gateway API bundle the embedded cluster carries (upstream, unmodified: embedded_cluster/data/README.md)
GATEWAY_API_BUNDLE=$PWD/embedded_cluster/data/crds/gateway-api-v1.5.1-standard.yaml
extra=()

if [ -n "${KUBECONFIG:-}" ] && [ -z "${AMBIENT_MESH_EMBEDDED:-}" ]; then
  echo "== using the cluster of KUBECONFIG=$KUBECONFIG"
  extra+=(-e "kubeconfig=$KUBECONFIG")
else
  mkdir -p .cache/demo
  rm -rf .cache/demo/kubeconfig .cache/demo/metrics
  echo "== starting the embedded test cluster (in-memory, simulated API server; not a real cluster)"
  # the curl client sends background traffic of its own (a simulation knob: the Deployment sends it once it exists),
  # which the simulated waypoints count in Istio's metrics and a real Prometheus scrapes, when it is installed
  .venv/bin/python -m embedded_cluster --kubeconfig .cache/demo/kubeconfig --metrics-dir "$PWD/.cache/demo/metrics" \
    --traffic "test/curl=http://helloworld.hello.svc.cluster.local:5000/hello@40" \
    --traffic "test/curl=http://httpbin.httpbin.svc.cluster.local:8000/status/200@20" \
    > .cache/demo/apiserver.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s .cache/demo/kubeconfig ] && break; sleep 0.1; done
  [ -s .cache/demo/kubeconfig ] || { cat .cache/demo/apiserver.log; exit 1; }
  head -1 .cache/demo/apiserver.log
  if [ -s .cache/demo/metrics/prometheus.url ]; then
    prometheus=$(cat .cache/demo/metrics/prometheus.url)
    echo "== Prometheus (real, $(prometheus --version 2>/dev/null | head -1)) at $prometheus scrapes the simulated"
    echo "   waypoints: the canary's steps and the fault drill are judged by Istio's metrics as well as by the probe"
    # the metric gates (README, "Judged on real traffic"), sized for the embedded cluster's 1 s scrape interval
    cat > .cache/demo/metrics.yml <<EOF
canary_prometheus: {url: "$prometheus"}
canary_metrics:
  - {metric: request-success-rate, min: 99, min_requests: 20}
  - {metric: request-duration, max: 500, min_requests: 20}
canary_metrics_interval: 30s
canary_metrics_wait: 60
fault_check_prometheus: {url: "$prometheus"}
fault_check_metrics_window: 10
EOF
    extra+=(-e "@$PWD/.cache/demo/metrics.yml")
  else
    echo "== prometheus is not installed: no metrics - the canary and the fault drill are judged by the probe alone"
    echo "   (scripts/bootstrap.sh installs Debian's package where it can: apt-get install prometheus)"
  fi
  extra+=(-e "kubeconfig=$PWD/.cache/demo/kubeconfig")
  # the embedded cluster has no way to the Internet: install from the bundled copy
  extra+=(-e "install_gateway_api_src=$GATEWAY_API_BUNDLE")
  # the fake istioctl (istioctl's documented contract, acting on the embedded cluster)
  istioctl=$(.venv/bin/python -c \
      'import sys; from embedded_cluster import fake_istioctl; print(fake_istioctl.install(*sys.argv[1:], sys.executable))' \
      "$PWD/.cache/demo/bin" "$PWD/.cache/demo/istioctl-home")
  extra+=(-e "install_istioctl_path=$istioctl")
fi

# the reports (JSON + HTML) of the canary and the fault check, kept out of the work tree
extra+=(-e "rollout_report_dir=$PWD/.cache/demo/reports")
book=(.venv/bin/ansible-playbook -i playbooks/inventory/local.yml playbooks/rollout.yml "${extra[@]}")

# the lab shows the fault drill (off by default: the main job must not disturb live traffic on a schedule);
# the arguments given come after, so -e rollout_fault_drill=false still wins
"${book[@]}" -e rollout_fault_drill=true "$@"
for arg in "$@"; do
  case $arg in --check|-C) echo "== check mode: nothing was written (no second run)"; exit 0;; esac
done
echo "== again, as a scheduled run (no fault drill): a second run must change nothing"
"${book[@]}" "$@" > .cache/demo/second-run.log || { tail -40 .cache/demo/second-run.log; exit 1; }
# the recap, then the last task's summary: the canary's table and its report
grep -A1 "^PLAY RECAP" .cache/demo/second-run.log | tail -1
grep -Eq "^local-cluster +: .*changed=0 " .cache/demo/second-run.log || {
  echo "!! the second run changed something:"; grep -B2 "^changed:" .cache/demo/second-run.log; exit 1; }
sed -n '/^TASK \[Summary\]/,/^PLAY RECAP/p' .cache/demo/second-run.log | sed '$d'
