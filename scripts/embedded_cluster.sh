#!/usr/bin/env bash
# The embedded test cluster as a background process, for runs that outlive one shell command (molecule's
# create and destroy, a job run through ansible-runner):
#   scripts/embedded_cluster.sh start DIR   starts the embedded cluster of embedded_cluster/ (its README.md;
#                                           python -m embedded_cluster: an in-memory API server with a simulated
#                                           istiod and data plane, not a real cluster) on 127.0.0.1 and writes
#                                           DIR/kubeconfig, the fake istioctl DIR/bin/istioctl
#                                           (embedded_cluster/fake_istioctl, acting on that server),
#                                           DIR/apiserver.pid and DIR/apiserver.log; with prometheus installed
#                                           also a real Prometheus scraping the simulated waypoints' metrics
#                                           (its URL in DIR/metrics/prometheus.url);
#                                           a server already running from DIR is kept (nothing is restarted)
#   scripts/embedded_cluster.sh stop DIR    stops it (SIGTERM, then waits for it to exit); nothing running is fine
#   scripts/embedded_cluster.sh status DIR  exit 0 when it runs
# start prints "kubeconfig=PATH" and "istioctl=PATH" (absolute paths), and "prometheus=URL" when it runs, so a
# caller can read them.
# PYTHON picks the interpreter (default: the repository's .venv); it needs requirements-test.txt installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
pidfile=$DIR/apiserver.pid

running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case $action in
  start)
    if running && [ -s "$DIR/kubeconfig" ]; then
      echo "== the embedded test cluster of $DIR is running already (pid $(cat "$pidfile"))"
    else
      rm -rf "$DIR/kubeconfig" "$pidfile" "$DIR/metrics"
      # setsid + nohup + no inherited descriptors: the server outlives the caller (an Ansible task waits for its
      # pipes to close) and gets no SIGHUP when the caller's session ends
      (cd "$ROOT" && exec setsid nohup "$PYTHON" -m embedded_cluster --kubeconfig "$DIR/kubeconfig" \
        --metrics-dir "$DIR/metrics") \
        < /dev/null > "$DIR/apiserver.log" 2>&1 &
      echo $! > "$pidfile"
      for _ in $(seq 150); do [ -s "$DIR/kubeconfig" ] && break; running || break; sleep 0.1; done
      if [ ! -s "$DIR/kubeconfig" ]; then
        echo "!! the embedded test cluster did not start:" >&2; cat "$DIR/apiserver.log" >&2
        "$0" stop "$DIR" >/dev/null; exit 1
      fi
      echo "== started the embedded test cluster (in-memory, simulated; not a real cluster), pid $(cat "$pidfile")"
      head -1 "$DIR/apiserver.log"
    fi
    # the fake istioctl follows istioctl's documented contract and acts on the cluster of its --kubeconfig
    istioctl=$(cd "$ROOT" && "$PYTHON" -c \
      'import sys; from embedded_cluster import fake_istioctl; print(fake_istioctl.install(*sys.argv[1:]))' \
      "$DIR/bin" "$DIR/istioctl-home" "$PYTHON")
    echo "kubeconfig=$DIR/kubeconfig"
    echo "istioctl=$istioctl"
    if [ -s "$DIR/metrics/prometheus.url" ]; then echo "prometheus=$(cat "$DIR/metrics/prometheus.url")"; fi
    ;;
  stop)
    if running; then
      pid=$(cat "$pidfile")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then echo "!! pid $pid did not stop on SIGTERM: killing it" >&2; kill -9 "$pid"; fi
      echo "== stopped the embedded test cluster of $DIR (pid $pid)"
    else
      echo "== no embedded test cluster runs from $DIR"
    fi
    rm -f "$pidfile" "$DIR/kubeconfig"
    ;;
  status)
    if running; then echo "running, pid $(cat "$pidfile")"; else echo "not running"; exit 1; fi
    ;;
  *) usage ;;
esac
