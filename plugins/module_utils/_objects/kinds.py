# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The (apiVersion, kind) of every object the collection reads or writes, declared once."""


NAMESPACE = ("v1", "Namespace")
SERVICE = ("v1", "Service")
POD = ("v1", "Pod")
DEPLOYMENT = ("apps/v1", "Deployment")
STATEFULSET = ("apps/v1", "StatefulSet")
DAEMONSET = ("apps/v1", "DaemonSet")
WORKLOADS = (DEPLOYMENT, STATEFULSET)
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
MUTATING_WEBHOOK = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
VALIDATING_WEBHOOK = ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
GATEWAY = ("gateway.networking.k8s.io/v1", "Gateway")
HTTPROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
VIRTUALSERVICE = ("networking.istio.io/v1", "VirtualService")
DESTINATIONRULE = ("networking.istio.io/v1", "DestinationRule")
