"""Labels and item ids of any kind, mapped to what the C library stores.

The library knows classes as 0 .. K-1 and items by uint64 ids.  People have
"spam"/"ham", 3.0 from a pandas column, numpy scalars and string ids.  A
LabelMap turns hashable labels into class indices and back (like
scikit-learn's LabelEncoder, but growing: a new label gets the next index,
so the indices already recorded in a pool or a journal never move); an
IdMap does the same for item ids.

A label is normalised first: numpy (and pandas) scalars become the Python
value they hold (np.int64(3) -> 3, np.str_("a") -> "a"), a float must be
integral (2.0 -> the same class as 2: equal Python values are one key,
so 1, 1.0 and True are one class) and NaN, None and unhashable values are
refused with a message naming them.
"""
import math
import numbers

import numpy as np

from .errors import InvalidArgument

__all__ = ["LabelMap", "IdMap", "normalize_label", "encode_target"]


def _scalar(value):
    """numpy and pandas scalars as the Python value they hold."""
    if isinstance(value, np.generic) or (
            type(value).__module__.startswith("pandas")
            and callable(getattr(value, "item", None))):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def normalize_label(value, what="label"):
    """`value` as a dictionary key that means one class (see the module)."""
    v = _scalar(value)
    if v is None or type(v).__name__ == "NAType":
        raise InvalidArgument("%s %r is missing (None/NA): every answer needs "
                              "a class" % (what, value))
    if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            raise InvalidArgument("%s %r is not a class (a missing value in a "
                                  "float column?)" % (what, value))
        if f != int(f):
            raise InvalidArgument("%s %r is not a class: float labels must be "
                                  "integral (2.0), not continuous values"
                                  % (what, value))
        v = int(f)
    try:
        hash(v)
    except TypeError:
        raise InvalidArgument("%s %r is not hashable, so it cannot name a class"
                              % (what, value)) from None
    return v


def _as_list(values, what):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__") and \
            not hasattr(values, "__iter__"):
        raise InvalidArgument("%s must be a sequence (one per item), got %r"
                              % (what, values))
    a = values if isinstance(values, np.ndarray) else None
    if a is not None and a.ndim != 1:
        raise InvalidArgument("%s must be one-dimensional, got shape %s"
                              % (what, a.shape))
    return a.tolist() if a is not None else list(values)


class _KeyMap:
    """Hashable keys <-> 0 .. n-1 in order of arrival."""
    _what = "key"

    def __init__(self, keys=()):
        self._keys = []
        self._index = {}
        for k in keys:
            self._add(self._norm(k))

    def _norm(self, value):
        return value

    def _add(self, key):
        if key in self._index:
            raise InvalidArgument("%s %r appears twice" % (self._what, key))
        self._index[key] = len(self._keys)
        self._keys.append(key)

    def __len__(self):
        return len(self._keys)

    def __contains__(self, value):
        try:
            return self._norm(value) in self._index
        except InvalidArgument:
            return False

    def keys(self):
        return list(self._keys)

    def plan(self, values, grow=True):
        """(indices, new keys): the index of each value, new keys numbered
        after the known ones in order of first appearance.  Changes
        nothing: commit(new) does, once the caller has recorded them."""
        out, new, pending = [], [], {}
        for v in values:
            key = self._norm(v)
            i = self._index.get(key)
            if i is None:
                i = pending.get(key)
            if i is None:
                if not grow:
                    raise self._unknown(v)
                i = pending[key] = len(self._keys) + len(new)
                new.append(key)
            out.append(i)
        return out, new

    def _unknown(self, value):
        return InvalidArgument("unknown %s %r" % (self._what, value))

    def commit(self, new):
        for key in new:
            self._add(key)

    def index(self, value):
        i = self._index.get(self._norm(value))
        if i is None:
            raise self._unknown(value)
        return i

    def decode(self, indices):
        """The keys of `indices` as a numpy array (its dtype from the keys:
        str labels give a str array, ints an int array, mixed an object
        array)."""
        keys = self._keys
        return _key_array([keys[int(i)] for i in np.asarray(indices).reshape(-1)])


def _key_array(keys):
    kinds = {type(k) for k in keys}
    if kinds and (kinds <= {int} or kinds <= {str} or kinds <= {bool}
                  or kinds <= {float}):
        return np.array(keys)
    a = np.empty(len(keys), dtype=object)
    a[:] = keys
    return a


class LabelMap(_KeyMap):
    """Class labels <-> class indices 0 .. K-1, in order of first arrival.

    classes_ is the array of labels by index (scikit-learn's name).  A
    label is normalised by normalize_label: equal Python values (1, 1.0,
    True, np.int64(1)) are one class."""
    _what = "label"

    def _norm(self, value):
        return normalize_label(value)

    @property
    def classes_(self):
        return _key_array(self._keys)

    def encode(self, labels, grow=True):
        """(int32 indices, new labels) for a sequence of labels; see plan."""
        idx, new = self.plan(_as_list(labels, "labels"), grow)
        return np.asarray(idx, dtype=np.int32), new

    def _unknown(self, value):
        keys = self._keys if len(self._keys) <= 12 else self._keys[:12] + ["..."]
        return InvalidArgument("label %r is not a class of the model (classes "
                               "%s): nothing was recorded" % (value, keys))


class IdMap(_KeyMap):
    """Item ids of any hashable kind (str, int, tuple, ...) <-> the pool's
    uint64 ids 0 .. n-1."""
    _what = "item id"

    def _norm(self, value):
        v = _scalar(value)
        try:
            hash(v)
        except TypeError:
            raise InvalidArgument("item id %r is not hashable" % (value,)) from None
        return v

    def _unknown(self, value):
        from .errors import NotFound
        return NotFound("no item has id %r" % (value,))


def encode_target(y):
    """scikit-learn's view of a classification target: (classes, y_index)
    with classes sorted (np.unique).  Raises ValueError like scikit-learn
    for continuous, missing or mixed-type targets."""
    a = np.asarray(y)
    if a.dtype.kind == "c":
        raise ValueError("Complex data not supported as a target")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError("Input contains NaN, infinity or a value too "
                             "large for dtype('float64').")
        if np.any(a != np.floor(a)):
            raise ValueError("Unknown label type: continuous values (a "
                             "classifier takes classes; floats must be "
                             "integral)")
    elif a.dtype.kind == "O":
        vals = [normalize_label(v) for v in a.tolist()]
        kinds = {isinstance(v, str) for v in vals}
        if len(kinds) > 1:
            raise ValueError("Mix of label input types (string and number)")
        b = np.empty(len(vals), dtype=object)
        b[:] = vals
        a = b
    elif a.dtype.kind not in "biuUS":
        raise ValueError("Unknown label type: dtype %s" % a.dtype)
    try:
        classes, yi = np.unique(a, return_inverse=True)
    except TypeError as exc:
        raise ValueError("Unknown label type: labels cannot be sorted (%s)"
                         % exc) from None
    return classes, yi.astype(np.int32)
