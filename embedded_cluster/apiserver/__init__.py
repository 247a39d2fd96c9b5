"""An in-memory Kubernetes API server for the ambient.mesh tests, built on kmock.

Test infrastructure only: nothing under plugins/ imports it.
"""

from .cluster import TestCluster

__all__ = ["TestCluster"]
