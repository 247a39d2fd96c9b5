# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much of a batch a module returns: what changed by default, every object on request.

At a few thousand objects, echoing every one (with its labels before and after) is most of the
run's cost: the controller parses, stores and templates all of it. By default a module lists the
objects it changed (would change, in check mode) and names the others in ``unchanged``.
"""


def shape_results(entries, name_of, mode, slim=None):
    """(listed entries, summary keys) for a module's per-object list.

    entries: one dict per object, each with ``changed``. With mode ``changed`` only the changed
    ones are listed (passed through ``slim`` when given); with ``all`` every entry as it is.
    The summary keys: ``unchanged`` (the names of the others, by ``name_of``), ``unchanged_count``
    and ``summary`` ({total, changed, unchanged}).
    """
    changed = [e for e in entries if e["changed"]]
    unchanged = [name_of(e) for e in entries if not e["changed"]]
    if mode == "all":
        listed = list(entries)
    else:
        listed = [slim(e) for e in changed] if slim else changed
    return listed, {"unchanged": unchanged, "unchanged_count": len(unchanged),
                    "summary": {"total": len(entries), "changed": len(changed), "unchanged": len(unchanged)}}
