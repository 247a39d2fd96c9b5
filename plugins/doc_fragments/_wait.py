# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The options of WAIT_ARG_SPEC in module_utils/_args.py; private to the collection.
    DOCUMENTATION = r"""
options:
  wait:
    description:
      - Wait until what the module changed is ready (conditions named in the module's description).
      - Never waits in check mode, since nothing changed.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait before failing with the condition last seen.
    type: int
    default: 120
"""
