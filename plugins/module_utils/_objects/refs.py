# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How messages and results name an object, and an object's labels: the same for every kind."""


def labels_of(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def ref_of(kind, namespace, name):
    """How messages and results name an object: "Kind namespace/name", or "Kind name" when cluster-scoped."""
    if namespace:
        return "%s %s/%s" % (kind, namespace, name)
    return "%s %s" % (kind, name)


def object_ref(obj):
    meta = obj.get("metadata") or {}
    return ref_of(obj.get("kind"), meta.get("namespace"), meta.get("name"))
