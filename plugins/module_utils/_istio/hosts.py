# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's host names, once: a VirtualService or DestinationRule host resolved as istiod resolves it (short
names relative to the object's namespace, wildcards), and whether a VirtualService applies to the mesh."""


DOMAIN = "cluster.local"


def host_of(host, namespace):
    """A VirtualService or DestinationRule host as a fully qualified name (short names are relative to the
    object's namespace, as Istio resolves them)."""
    parts = host.split(".")
    if host == "*" or host.startswith("*."):
        return host
    if len(parts) == 1:
        return "%s.%s.svc.%s" % (host, namespace, DOMAIN)
    if len(parts) == 2:
        return "%s.svc.%s" % (host, DOMAIN)
    if len(parts) == 3 and parts[2] == "svc":
        return "%s.%s" % (host, DOMAIN)
    return host


def host_matches(host, namespace, fqdn):
    full = host_of(host, namespace)
    if full == "*":
        return True
    if full.startswith("*."):
        return fqdn.endswith(full[1:])
    return full == fqdn


def service_for_host(host, namespace, services):
    """The (namespace, name) of the Service a VirtualService host names, when it is one of `services`."""
    if not host or "*" in host:
        return None
    parts = host.split(".")
    if len(parts) > 2 and parts[2:] not in (["svc"], ["svc", "cluster", "local"]):
        return None
    key = (parts[1] if len(parts) > 1 else namespace, parts[0])
    return key if key in services else None


def vs_applies_to_mesh(vs):
    gateways = (vs.get("spec") or {}).get("gateways")
    return not gateways or "mesh" in gateways
