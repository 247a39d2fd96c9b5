# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Semantic versions as Gateway API and Istio write them (v1.5.1, 1.30.3, v1.5.0-dev)."""


import re

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$")


def parse_version(text):
    """A sortable tuple; a pre-release sorts before its release. ValueError when malformed."""
    match = _SEMVER.match(str(text or "").strip())
    if not match:
        raise ValueError("%r is not a version like v1.5.1" % (text,))
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch or 0), 0 if pre else 1, pre or "")


def is_version(text):
    try:
        parse_version(text)
        return True
    except ValueError:
        return False


def compare_versions(a, b):
    """-1, 0 or 1."""
    pa, pb = parse_version(a), parse_version(b)
    return (pa > pb) - (pa < pb)
