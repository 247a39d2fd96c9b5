# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option values that ansible-core's argument validation cannot take apart.

An option of type dict with suboptions given a number or a boolean (abort: 500, or a list item that is
not a mapping) makes ansible-core's validation raise TypeError in set_fallbacks ("argument of type 'int'
is not iterable", ansible/module_utils/common/parameters.py _validate_sub_spec, ansible-core 2.19 and
2.21): the task fails with that text and no option named. These are found first, from the raw
parameters, and refused with the option's path (issue 11 item 9).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import _load_params


def _takes_apart(value):
    """What ansible-core handles itself: a mapping, a string (its own message names the option), or a
    list of those."""
    if isinstance(value, list):
        return all(isinstance(item, (dict, str)) for item in value)
    return isinstance(value, (dict, str))


def shape_problems(spec, params, path=""):
    """Messages for every option with suboptions whose value ansible-core would crash on."""
    out = []
    if not isinstance(params, dict):
        return out
    for name, opts in spec.items():
        value = params.get(name)
        sub = opts.get("options")
        if value is None or not sub:
            continue
        where = path + name
        if opts.get("type") == "dict":
            if not _takes_apart(value):
                out.append("%s must be a mapping (of %s), not %r" % (where, ", ".join(sorted(sub)), value))
            elif isinstance(value, dict):
                out += shape_problems(sub, value, where + ".")
        elif opts.get("type") == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                out += shape_problems(sub, item, "%s[%d]." % (where, index))
    return out


def refuse_bad_shapes(spec, module_class):
    """Fail the task, naming the option, when a value would crash ansible-core's validation; else return."""
    problems = shape_problems(spec, _load_params())
    if problems:
        # every option taken as it is, so that validation passes; no_log kept, so no secret is echoed
        raw = dict((name, dict(type="raw", no_log=bool(opts.get("no_log")))) for name, opts in spec.items())
        module_class(argument_spec=raw, supports_check_mode=True).fail_json(msg="; ".join(problems))
