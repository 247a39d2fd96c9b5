"""The embedded cluster of ambient.mesh: a simulated Kubernetes cluster in one Python process - not a real cluster.

An in-memory Kubernetes API server on 127.0.0.1 (apiserver/, built on kmock) with a simulated istiod
and a simulated data plane (Pods, EndpointSlices, ztunnel and waypoint routing, curl over pods/exec),
a fake istioctl that acts on it (fake_istioctl/), and the unmodified upstream Gateway API and Istio
files both read (data/). No container runs in it. It is what `make demo`, the molecule scenarios, the
benchmarks and the tests run against; it is not part of the built collection (galaxy.yml build_ignore),
and nothing under plugins/ imports it.

    python -m embedded_cluster --kubeconfig FILE     (from the repository root; see README.md here)

    from embedded_cluster import TestCluster
    with TestCluster() as cluster:
        cluster.write_kubeconfig(path)
"""

from .apiserver import TestCluster

__all__ = ["TestCluster"]
