# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many requests at once: the collection's one thread pool."""


from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError


def run_concurrently(func, items, workers):
    """[(item, result, error)] in the order of items, at most `workers` calls at a time."""
    items = list(items)
    if not items:
        return []
    # imported here: a run with nothing to do in parallel (a no-op) does not pay for concurrent.futures
    from concurrent.futures import ThreadPoolExecutor

    def call(item):
        try:
            return item, func(item), None
        except AmbientMeshError as exc:
            return item, None, exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(call, items))


def read_all(reads, workers):
    """Run named reads ({name: callable}) at once; {name: answer}, or the first error raised."""
    answers = {}
    for name, items, error in run_concurrently(lambda n: reads[n](), sorted(reads), workers):
        if error is not None:
            raise error
        answers[name] = items
    return answers
