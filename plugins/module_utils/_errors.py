# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type of the collection: a message that says what to do, and details."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class AmbientMeshError(Exception):
    """A failure to report with fail_json(msg=..., **details)."""

    def __init__(self, msg, **details):
        super(AmbientMeshError, self).__init__(msg)
        self.msg = msg
        self.details = details
