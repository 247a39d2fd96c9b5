"""A real Prometheus (Debian's `prometheus` package, or any `prometheus` on PATH) scraping the simulated proxies.

Nothing here is simulated: the binary is the real server, its queries are real PromQL over what it scraped.
The embedded cluster writes the scrape targets (dataplane/exposition.py) into a file_sd file; this module writes
a configuration that reads it, starts the server on a free 127.0.0.1 port with its data in the given folder,
waits until it is ready (GET /-/ready) and stops it with the cluster.

The configuration is the shape of Istio's sample (samples/addons/prometheus.yaml: job kubernetes-pods, the
pod's namespace and name as labels) with file_sd_configs in place of kubernetes_sd_configs (the embedded API
server serves no watch, which Kubernetes service discovery needs) and a 1 s scrape interval, so tests see a
change within seconds. A user's Prometheus scrapes every 15 s to 1 min; the collection's `interval` options
are sized for both.
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request

SCRAPE_INTERVAL = "1s"
CONFIG = """\
# written by embedded_cluster/apiserver/prometheus.py
global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: kubernetes-pods
    honor_labels: true
    file_sd_configs:
      - files: [{targets}]
        refresh_interval: 1s
"""


class PrometheusNotInstalled(RuntimeError):
    pass


def binary():
    """The prometheus executable, or None."""
    return os.environ.get("PROMETHEUS_BIN") or shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)


def _die_with_parent():
    """Linux prctl(PR_SET_PDEATHSIG, SIGTERM): Prometheus ends with the process that started it, also when that one
    is killed outright (no orphaned server holding its port and data folder)."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Prometheus:
    def __init__(self, folder, targets_file, port=None):
        self.folder = folder
        self.port = port  # None: a free one
        self.targets_file = targets_file
        self.process = None
        self.url = None

    def start(self, timeout=60):
        exe = binary()
        if exe is None:
            raise PrometheusNotInstalled("prometheus is not installed (Debian/Ubuntu: apt-get install prometheus; "
                                         "scripts/bootstrap.sh installs it when it can)")
        os.makedirs(self.folder, exist_ok=True)
        config = os.path.join(self.folder, "prometheus.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(CONFIG.format(interval=SCRAPE_INTERVAL, targets=self.targets_file))
        port = self.port or _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(os.path.join(self.folder, "prometheus.log"), "wb")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(
            [exe, f"--config.file={config}", f"--storage.tsdb.path={os.path.join(self.folder, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with status {self.process.returncode}; its log: "
                                   + open(os.path.join(self.folder, "prometheus.log"), encoding="utf-8").read()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"prometheus did not get ready within {timeout} s")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
