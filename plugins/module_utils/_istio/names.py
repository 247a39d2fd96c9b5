# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's and Gateway API's label names, classes, the waypoint-for table, object references."""


from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of


DATAPLANE_MODE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
WAYPOINT_FOR = "istio.io/waypoint-for"
WAYPOINT_CLASS = "istio-waypoint"
REVISION = "istio.io/rev"
# A revision tag: on the MutatingWebhookConfiguration istio-revision-tag-<tag> and on the Service
# istiod-revision-tag-<tag> that `istioctl tag set` makes, next to istio.io/rev=<the revision it points at>.
TAG = "istio.io/tag"
DEFAULT_TAG_WEBHOOK = "istio-revision-tag-default"
DEFAULT_VALIDATOR = "istiod-default-validator"
ISTIOD_SELECTOR = "app=istiod"
# What istiod's gateway deployment controller puts on the objects it renders for a Gateway
# (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go, apply()): the controller name with
# "/" replaced by "-". istiod binds no waypoint to the Services of waypoints and east-west gateways
# (pilot/pkg/serviceregistry/ambient/waypoints.go, fetchWaypointForService).
GATEWAY_MANAGED = "gateway.istio.io/managed"
NOT_BINDABLE_MANAGERS = ("istio.io-mesh-controller", "istio.io-eastwest-controller")
INJECTION = "istio-injection"
# Either of them on a namespace means sidecar injection.
SIDECAR_LABELS = (INJECTION, REVISION)

# Which istio.io/waypoint-for values can serve what a use-waypoint label is put on.
SERVES = {
    "Service": ("service", "all"),
    "Namespace": ("service", "workload", "all"),
}


def waypoint_for(gateway):
    """The traffic a waypoint Gateway takes; Istio's default is service."""
    return labels_of(gateway).get(WAYPOINT_FOR, "service")


def is_waypoint(gateway):
    return (gateway.get("spec") or {}).get("gatewayClassName") == WAYPOINT_CLASS


def istiod_skips_service(service):
    """True for the Services istiod never writes istio.io/WaypointBound on (Istio 1.30.3): ExternalName
    Services (pilot/pkg/serviceregistry/ambient/services.go, serviceServiceBuilder) and the Services
    of waypoints and east-west gateways. Ingress gateway Services are bound like any other."""
    if ((service.get("spec") or {}).get("type")) == "ExternalName":
        return True
    return labels_of(service).get(GATEWAY_MANAGED) in NOT_BINDABLE_MANAGERS
