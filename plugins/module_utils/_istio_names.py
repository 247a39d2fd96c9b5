# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's and Gateway API's label names, classes, the waypoint-for table, object references."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DATAPLANE_MODE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR = "istio.io/waypoint-for"
WAYPOINT_CLASS = "istio-waypoint"
REVISION = "istio.io/rev"
INJECTION = "istio-injection"
# Either of them on a namespace means sidecar injection.
SIDECAR_LABELS = (INJECTION, REVISION)

# Which istio.io/waypoint-for values can serve what a use-waypoint label is put on.
SERVES = {
    "Service": ("service", "all"),
    "Namespace": ("service", "workload", "all"),
}


def labels_of(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def waypoint_for(gateway):
    """The traffic a waypoint Gateway takes; Istio's default is service."""
    return labels_of(gateway).get(WAYPOINT_FOR, "service")


def is_waypoint(gateway):
    return (gateway.get("spec") or {}).get("gatewayClassName") == WAYPOINT_CLASS


def ref_of(kind, namespace, name):
    """How messages and results name an object: "Kind namespace/name", or "Kind name" when cluster-scoped."""
    if namespace:
        return "%s %s/%s" % (kind, namespace, name)
    return "%s %s" % (kind, name)


def object_ref(obj):
    meta = obj.get("metadata") or {}
    return ref_of(obj.get("kind"), meta.get("namespace"), meta.get("name"))
