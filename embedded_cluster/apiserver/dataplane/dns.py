"""Name resolution as a pod sees it: kubelet writes the pod's /etc/resolv.conf with the search path
`<namespace>.svc.<domain> svc.<domain> <domain>` and `options ndots:5` (kubernetes
pkg/kubelet/network/dns/dns.go, ClusterFirst), and cluster DNS answers `<svc>.<ns>.svc.<domain>` with
the Service's cluster IP (Kubernetes DNS-based service discovery specification)."""

import ipaddress

from .cluster import DOMAIN
from .messages import NotSimulated

NDOTS = 5


def candidates(name, namespace):
    """The names the resolver tries, in order (glibc/musl: fewer dots than ndots -> search list first)."""
    if name.endswith("."):
        return [name[:-1]]
    search = [f"{namespace}.svc.{DOMAIN}", f"svc.{DOMAIN}", DOMAIN]
    listed = [f"{name}.{s}" for s in search]
    return listed + [name] if name.count(".") < NDOTS else [name] + listed


def resolve(view, name, namespace):
    """The IP address a name resolves to in a pod of `namespace`, or None (NXDOMAIN)."""
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        pass
    suffix = f".svc.{DOMAIN}"
    for fqdn in candidates(name.lower(), namespace):
        if not fqdn.endswith(suffix):
            continue
        parts = fqdn[: -len(suffix)].split(".")
        if len(parts) != 2:
            continue  # <hostname>.<svc>.<ns>.svc names of headless Services are not served here
        svc = view.service(parts[1], parts[0])
        if svc is None:
            continue
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            raise NotSimulated(f"DNS CNAME of ExternalName Service {parts[1]}/{parts[0]}")
        if spec.get("clusterIP") in (None, "", "None"):
            raise NotSimulated(f"DNS of headless Service {parts[1]}/{parts[0]}")
        return spec["clusterIP"]
    return None
