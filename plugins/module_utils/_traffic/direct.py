# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""traffic_probe direct_to_pod: the URL of a Service rewritten to one ready endpoint of it (pod IP and target port).

In ambient mode a request to a pod's IP goes from the client's ztunnel to the pod's, past the Service's waypoint
(a namespace waypoint serves Service traffic, `istio.io/waypoint-for: service`), so none of the Service's routes,
timeouts, retries or faults apply: what comes back is the app alone - the raw effect a resilience drill compares
the client's view with. The endpoint comes from the Service's EndpointSlices (label kubernetes.io/service-name),
the target port from the slice's port of the Service port's name (as kube-proxy maps them)."""


from urllib.parse import urlsplit, urlunsplit

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import DOMAIN, host_of


def service_of(url, client_namespace):
    """(namespace, name, port) of the Service a URL names, its host resolved as Istio resolves a short name
    (hosts.host_of: name, name.namespace, name.namespace.svc[.cluster.local], relative to the client's namespace)."""
    parts = urlsplit(url)
    full = host_of(parts.hostname or "", client_namespace)
    suffix = ".svc.%s" % DOMAIN
    labels = full[: -len(suffix)].split(".") if full.endswith(suffix) else []
    if len(labels) != 2 or not all(labels):
        raise AmbientMeshError("direct_to_pod needs a URL that names a Service (name, name.namespace or "
                               "name.namespace.svc.cluster.local), not %r" % parts.hostname)
    return labels[1], labels[0], parts.port or (443 if parts.scheme == "https" else 80)


def endpoint_url(api, url, client_namespace):
    """(the URL with one ready endpoint's address and target port, a line saying which)."""
    namespace, name, port = service_of(url, client_namespace)
    svc = api.get("v1", "Service", name, namespace)
    if svc is None:
        raise AmbientMeshError("direct_to_pod: Service %s/%s (from the URL) does not exist" % (namespace, name))
    svc_port = [p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port]
    if not svc_port:
        raise AmbientMeshError("direct_to_pod: Service %s/%s has no port %d (the URL's)" % (namespace, name, port))
    port_name = svc_port[0].get("name") or ""
    slices = api.list("discovery.k8s.io/v1", "EndpointSlice", namespace=namespace,
                      label_selector="kubernetes.io/service-name=%s" % name)
    for eps in sorted(slices, key=lambda s: s["metadata"]["name"]):
        target = [p.get("port") for p in eps.get("ports") or [] if (p.get("name") or "") == port_name]
        if not target or target[0] is None:
            continue
        for endpoint in eps.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False or not endpoint.get("addresses"):
                continue
            address = endpoint["addresses"][0]
            pod = (endpoint.get("targetRef") or {}).get("name") or address
            host = "[%s]" % address if ":" in address else address
            parts = urlsplit(url)
            return (urlunsplit((parts.scheme, "%s:%d" % (host, target[0]), parts.path, parts.query, parts.fragment)),
                    "pod %s/%s at %s:%d, a ready endpoint of Service %s/%s port %d, past its waypoint and routes"
                    % (namespace, pod, address, target[0], namespace, name, port))
    raise AmbientMeshError("direct_to_pod: Service %s/%s has no ready endpoint for port %d (no ready pod?)"
                           % (namespace, name, port))
