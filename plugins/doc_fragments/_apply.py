# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The options of APPLY_ARG_SPEC in module_utils/_args.py; private to the collection.
    DOCUMENTATION = r"""
options:
  force_conflicts:
    description:
      - Objects are written by server-side apply with the field manager C(ambient.mesh), so fields
        that other managers own are never overwritten; a conflict fails the task and names the other
        manager and the fields.
      - Set to V(true) to take those fields over (server-side apply C(force=true)).
    type: bool
    default: false
notes:
  - Check mode asks the API server for a dry run (C(dryRun=All)), so what it reports is what the
    server would do, admission and schema validation included.
  - A dry run of every changing object comes first, so a batch the server rejects changes nothing;
    M(ambient.mesh.waypoint) instead writes the first new Gateway alone before the others (see its
    description).
"""
