"""The test API server's object store: a dict keyed (group, plural, namespace, name), indexed by kind and
by namespace, as kube-apiserver's watch cache and the controllers' informers index theirs.

A LIST, a controller's look at one kind, or the objects of one namespace read only that part of the store
instead of scanning every stored object. Each index keeps the store's own order (a dict keeps insertion
order; replacing an object keeps its place, removing and adding it again moves it to the end), so what
the simulation iterates over comes in the order it did before the store was indexed.
"""


class Store(dict):
    """A dict of stored objects that keeps two indexes of its keys up to date:
    (group, plural) -> {key: object} and (group, plural, namespace) -> {key: object}."""

    def __init__(self):
        super().__init__()
        self._kinds = {}
        self._spaces = {}
        self._seq = {}  # key -> when it was added (kept on replace), for position()
        self._next = 0

    def __setitem__(self, key, obj):
        if key not in self:
            self._seq[key] = self._next
            self._next += 1
        super().__setitem__(key, obj)
        self._kinds.setdefault(key[:2], {})[key] = obj
        self._spaces.setdefault(key[:3], {})[key] = obj

    def __delitem__(self, key):
        super().__delitem__(key)
        self._unindex(key)

    def pop(self, key, *default):
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        obj = super().pop(key)
        self._unindex(key)
        return obj

    def _unindex(self, key):
        self._seq.pop(key, None)
        for index, part in ((self._kinds, key[:2]), (self._spaces, key[:3])):
            bucket = index.get(part)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del index[part]

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs):
        for key, obj in dict(*args, **kwargs).items():
            self[key] = obj

    def clear(self):
        super().clear()
        self._seq.clear()
        self._kinds.clear()
        self._spaces.clear()

    def popitem(self):
        raise NotImplementedError("the store removes objects by key")

    def __ior__(self, other):
        self.update(other)
        return self

    # ---- reads through the indexes ---------------------------------------------------------------
    def of_kind(self, group, plural, namespace=None):
        """{key: object} of one resource (in one namespace; "" for cluster-scoped ones), in store order.
        The caller must not change the returned dict; copy it (list(...)) before writing to the store."""
        if namespace is None:
            return self._kinds.get((group, plural), {})
        return self._spaces.get((group, plural, namespace), {})

    def objects(self, group, plural, namespace=None):
        """The objects of one resource (in one namespace), in store order, as a list safe to iterate while
        the store changes."""
        return list(self.of_kind(group, plural, namespace).values())

    def position(self, key):
        """A number that orders keys as the store (and each of its indexes) does: sorted(keys, key=position)."""
        return self._seq[key]

    def kinds(self):
        """The (group, plural) pairs that have objects."""
        return list(self._kinds)
