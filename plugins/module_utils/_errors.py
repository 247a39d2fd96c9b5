# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one exception type of the collection: a message that says what to do, and details.

A batch (many objects, one request each) that fails part way is reported as one message with
identical errors grouped ("500 objects: connection refused to https://127.0.0.1:6443"), capped in
length, and the per-object detail in the structured `errors` value; never one line per object.
"""


# A failure message longer than this is cut: the controller prints it, twice with -v; the
# detail is in the structured return values.
MAX_MESSAGE = 4000
# refs named per error group in `errors` (the rest is counted in `more`)
SAMPLE = 20


class AmbientMeshError(Exception):
    """A failure to report with fail_json(msg=..., **details).

    `cause` is the error without the object it happened to (for grouping a batch's failures);
    `transient` says that the same request may succeed later (an outage, 429/5xx after retries),
    as opposed to a refusal that running again will not change (403, 422, a conflict).
    """

    def __init__(self, msg, cause=None, transient=False, **details):
        super(AmbientMeshError, self).__init__(msg)
        self.msg = msg
        self.cause = cause or msg
        self.transient = transient
        self.details = details


def cap(msg, limit=MAX_MESSAGE):
    """msg, cut to `limit` characters with a note of how much was left out."""
    if len(msg) <= limit:
        return msg
    note = " ... (%d more characters; the details are in the result's errors)" % (len(msg) - limit)
    return msg[:limit - len(note)] + note


def group_failures(failed, sample=SAMPLE):
    """[{error, count, objects, more}] from [{ref, error}], the largest group first.

    Identical errors form one group; `objects` names the first `sample` refs, `more` counts the rest.
    """
    groups = {}
    order = []
    for entry in failed:
        if entry["error"] not in groups:
            groups[entry["error"]] = []
            order.append(entry["error"])
        groups[entry["error"]].append(entry["ref"])
    out = []
    for error in sorted(order, key=lambda e: -len(groups[e])):
        refs = groups[error]
        out.append({"error": error, "count": len(refs), "objects": refs[:sample], "more": max(0, len(refs) - sample)})
    return out


def describe_groups(groups, shown=3, names=3):
    """'500 objects: <error> (ns-1, ns-2, ns-3, ...); 1 object: <error> (x)' for the largest groups."""
    parts = []
    for group in groups[:shown]:
        refs = ", ".join(group["objects"][:names]) + (", ..." if group["count"] > names else "")
        parts.append("%d object%s: %s (%s)" % (group["count"], "" if group["count"] == 1 else "s", group["error"], refs))
    if len(groups) > shown:
        parts.append("and %d other errors" % (len(groups) - shown))
    return "; ".join(parts)


def batch_error(headline, failures, done=(), **details):
    """One AmbientMeshError for a batch of which some requests failed.

    failures: [(ref, AmbientMeshError)]; done: refs written before the failure (they stay written,
    so the result says changed). The message is `headline`, the identical errors grouped, what stays
    written, and whether running again can help; `failed` ([{ref, error}]) and `errors` (the groups)
    carry the detail.
    """
    failed = [{"ref": ref, "error": exc.cause} for ref, exc in failures]
    groups = group_failures(failed)
    done = list(done)
    msg = "%s: %s" % (headline, describe_groups(groups))
    # an object whose change takes several requests (a sidecar migration's label steps) can be both written in
    # part and failed: counted once, as failed, so that the failed and the written add up to the batch
    failed_refs = set(entry["ref"] for entry in failed)
    whole = [ref for ref in done if ref not in failed_refs]
    part = [ref for ref in done if ref in failed_refs]
    if whole:
        msg += "; %d object%s written before the failure stay%s written" % (
            len(whole), "" if len(whole) == 1 else "s", "s" if len(whole) == 1 else "")
    if part:
        msg += "; %d of the failed object%s had been written in part before failing, which stays" % (
            len(part), "" if len(part) == 1 else "s")
    if all(exc.transient for _ref, exc in failures):
        msg += "; run the task again once the API server answers: it continues where this run stopped"
    else:
        msg += "; fix the cause above first: running again as is fails the same way"
    details.setdefault("changed", bool(done))
    return AmbientMeshError(cap(msg), done=done, failed=failed, errors=groups, **details)
