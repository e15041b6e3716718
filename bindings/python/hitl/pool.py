"""hitl.Pool: the items, one to one with hitl_pool."""
import collections

import numpy as np

from ._ffi import ffi, lib
from ._base import (Handle, check, size_arg, u64_arg, i32_arg, float_arg,
                    enum_value, pool_range)
from .errors import InvalidArgument
from ._enums import ItemState
from . import _arrays

__all__ = ["Pool", "Item"]

Item = collections.namedtuple("Item", "id state label")

# numpy's integer of the C enum's size, for arrays of hitl_item_state
_STATE_DTYPE = np.dtype("i%d" % ffi.sizeof("hitl_item_state"))


class Pool(Handle):
    """Items with float32 feature rows, caller ids (uint64), a state and a
    label each (hitl_pool).  Labeled and unlabeled items share one pool.

    A pool holds dense rows, or (sparse=True, or from_array of a
    scipy.sparse CSR matrix) sparse rows: scipy.sparse CSR matrices and
    arrays, whose int32 indices and float32 values the pool can read in
    place.  Other scipy.sparse formats are refused with the .tocsr() to
    call.

    Rows come in through add() (copied) or borrow() (read in place, zero-copy).
    Indices are pool positions 0..len(pool)-1; ids are the caller's names for
    items (the index itself unless ids are given).

    pickle/copy.deepcopy give a pool that owns copies of the rows (a
    borrowed pool included: the caller's array is not referenced), with the
    same ids, states, labels, weights and n_classes.

    Borrowed: rows given to borrow() (or from_array(borrow=True)) stay the
    caller's memory; the pool keeps a reference to the array and reads it
    in place, so it must not change.  Models, strategies and queries only
    read the pool during a call; a Feedback borrows it for its lifetime
    (closing the pool closes its Feedback objects first).

    Not thread-safe: one thread at a time may change a pool; reading calls
    (len, find, item, count, labels/states/weights/rows, scoring it through
    a model or a query) may run in several threads at once when nothing
    changes it meanwhile.

    >>> pool = hitl.Pool.from_array(np.eye(3, dtype=np.float32), ids=[7, 8, 9])
    >>> pool.set_labels([0, 2], [1, 0])           # by index, all or nothing
    >>> pool.labels(), pool.find(9)
    (array([ 1, -1,  0], dtype=int32), 2)
    """
    _c_free = "hitl_pool_free"

    def __init__(self, dim, sparse=False):
        dim = size_arg(dim, "dim")
        out = ffi.new("hitl_pool **")
        check((lib.hitl_pool_create_sparse if sparse else lib.hitl_pool_create)(out, dim))
        self._borrowed = []     # arrays the C pool reads in place
        self._own(out[0], keep=self._borrowed)
        self._dim = dim
        self._sparse = bool(sparse)

    def close(self):
        """Free the pool now (closing the Feedback objects on it first) and
        let go of the borrowed arrays."""
        super().close()
        self._borrowed.clear()

    @classmethod
    def from_array(cls, X, ids=None, borrow=False):
        """A pool holding the rows of X (n, dim): a dense array, or a
        scipy.sparse CSR matrix/array (a sparse pool).  borrow=True reads X
        in place (see borrow()); otherwise the rows are copied."""
        if _arrays.is_sparse(X):
            if X.format != "csr" or len(X.shape) != 2:
                _arrays.csr(X, 0)       # raises, naming .tocsr()
            a, sparse = X, True
        else:
            a = X if isinstance(X, np.ndarray) else np.asarray(X)
            sparse = False
        if a.ndim != 2:
            from .errors import InvalidArgument
            raise InvalidArgument("X must have shape (n, dim), got %s"
                                  % (a.shape,))
        pool = cls(a.shape[1], sparse=sparse)
        try:
            (pool.borrow if borrow else pool.add)(a, ids)
        except BaseException:
            pool.close()
            raise
        return pool

    def _append(self, fn, X, ids, borrow):
        if self._sparse or _arrays.is_sparse(X):
            return self._append_csr(X, ids, borrow)
        r = _arrays.rows(X, self._dim, borrow=borrow)
        ids_arr, ids_ptr = _arrays.ids(ids, r.n)
        first = len(self)
        check(fn(self._ptr, r.ptr, r.n, r.stride, ids_ptr))
        if borrow:
            self._borrowed.append(r.array)
        return range(first, first + r.n)

    def _append_csr(self, X, ids, borrow):
        if not self._sparse:
            from .errors import InvalidArgument
            raise InvalidArgument("X is sparse but the pool is dense: make the pool "
                                  "with Pool(dim, sparse=True) or Pool.from_array(X)")
        if not _arrays.is_sparse(X):
            from .errors import InvalidArgument
            raise InvalidArgument("the pool is sparse: pass a scipy.sparse CSR matrix "
                                  "(scipy.sparse.csr_matrix(X))")
        c = _arrays.csr(X, self._dim, borrow=borrow)
        ids_arr, ids_ptr = _arrays.ids(ids, c.n)
        first = len(self)
        fn = lib.hitl_pool_add_csr_borrowed if borrow else lib.hitl_pool_add_csr
        check(fn(self._ptr, c.indptr, c.indices, c.values, c.n, ids_ptr))
        if borrow:
            self._borrowed.append((X, c.arrays))
        return range(first, first + c.n)

    def add(self, X, ids=None):
        """Append the rows of X (n, dim), copying them.  ids: n unique
        non-negative integers, or None for "id = pool index".  Any real dtype
        or layout is accepted (converted to float32 once if needed).
        Returns the range of the new items' indices.  Raises NumericError for
        NaN/Inf, InvalidArgument for a bad shape, dtype or duplicate id; on
        any error nothing is added.  A sparse pool takes scipy.sparse CSR
        matrices/arrays instead (converted once to int32 indices and float32
        values if they are not already; other formats: call .tocsr();
        unsorted or duplicate column indices within a row are refused: call
        X.sum_duplicates() first)."""
        return self._append(lib.hitl_pool_add, X, ids, False)

    def borrow(self, X, ids=None):
        """Append the rows of X without copying them (zero-copy): the pool
        reads X's memory in place for as long as the pool lives, and keeps a
        reference to X so it cannot be freed before.  Do not modify X
        afterwards.  X must be float32 with each row contiguous (C order or a
        row/column slice of it); anything else raises InvalidArgument rather
        than copying behind your back.  Returns the new indices' range.
        For a sparse pool, X is a scipy.sparse CSR matrix/array with int32
        indptr and indices and float32 data, read in place likewise."""
        return self._append(lib.hitl_pool_add_borrowed, X, ids, True)

    def __len__(self):
        n = ffi.new("size_t *")
        check(lib.hitl_pool_size(n, self._ptr))
        return n[0]

    size = property(__len__, doc="Number of items.")

    @property
    def dim(self):
        """Features per row."""
        d = ffi.new("size_t *")
        check(lib.hitl_pool_dim(d, self._ptr))
        return d[0]

    def count(self, state=ItemState.UNLABELED):
        """Number of items in `state` (an ItemState, its value or name)."""
        n = ffi.new("size_t *")
        check(lib.hitl_pool_count(n, self._ptr,
                                  enum_value(ItemState, state, "item state")))
        return n[0]

    def find(self, item_id):
        """The pool index of the item with caller id `item_id`; NotFound."""
        i = ffi.new("size_t *")
        check(lib.hitl_pool_find(i, self._ptr, u64_arg(item_id, "item_id")))
        return i[0]

    def __contains__(self, item_id):
        from .errors import NotFound, InvalidArgument
        try:
            self.find(item_id)
        except (NotFound, InvalidArgument):
            return False
        return True

    def item(self, index):
        """Item(id, state, label) of item `index` (label -1 unless LABELED)."""
        item_id = ffi.new("uint64_t *")
        state = ffi.new("hitl_item_state *")
        label = ffi.new("int32_t *")
        check(lib.hitl_pool_item(item_id, state, label, self._ptr,
                                 size_arg(index, "index")))
        return Item(item_id[0], ItemState(state[0]), label[0])

    @property
    def sparse(self):
        """Whether the pool holds sparse (CSR) rows."""
        s = ffi.new("int *")
        check(lib.hitl_pool_is_sparse(s, self._ptr))
        return bool(s[0])

    def sparse_row(self, index):
        """(indices int32, values float32): copies of the non-zeros of item
        `index` of a sparse pool, columns increasing."""
        idx = ffi.new("const int32_t **")
        val = ffi.new("const float **")
        nnz = ffi.new("size_t *")
        check(lib.hitl_pool_sparse_row(idx, val, nnz, self._ptr, size_arg(index, "index")))
        k = nnz[0]
        if k == 0:
            return np.empty(0, np.int32), np.empty(0, np.float32)
        return (np.frombuffer(ffi.buffer(idx[0], 4 * k), dtype=np.int32).copy(),
                np.frombuffer(ffi.buffer(val[0], 4 * k), dtype=np.float32).copy())

    def row(self, index):
        """A copy of item `index`'s features (float32, shape (dim,)); for a
        sparse pool the row made dense."""
        if self._sparse:
            idx, val = self.sparse_row(index)
            row = np.zeros(self._dim, np.float32)
            row[idx] = val
            return row
        p = ffi.new("const float **")
        check(lib.hitl_pool_row(p, self._ptr, size_arg(index, "index")))
        return np.frombuffer(ffi.buffer(p[0], 4 * self._dim),
                             dtype=np.float32).copy()

    @property
    def n_classes(self):
        """The declared class count (0: none declared, any label >= 0).

        Setting it (2 .. 65536, or 0 to forget it) makes set_label and
        every Feedback of the pool refuse larger labels before anything is
        written; InvalidArgument if an item already has a larger label.

        >>> pool = hitl.Pool.from_array(np.zeros((3, 2), np.float32))
        >>> pool.n_classes = 2
        >>> pool.set_label(0, 5)
        Traceback (most recent call last):
        hitl.errors.InvalidArgument: ...not below the pool's 2 classes...
        """
        k = ffi.new("size_t *")
        check(lib.hitl_pool_classes(k, self._ptr))
        return k[0]

    @n_classes.setter
    def n_classes(self, value):
        check(lib.hitl_pool_set_classes(self._ptr, size_arg(value, "n_classes")))

    def set_label(self, index, label):
        """Mark item `index` LABELED with class `label` (>= 0, and below
        n_classes when that is declared)."""
        check(lib.hitl_pool_set_label(self._ptr, size_arg(index, "index"),
                                      i32_arg(label, "label")))

    def set_state(self, index, state):
        """Set item `index` UNLABELED or SKIPPED (forgets its label), or
        LABELED again if it has a label."""
        check(lib.hitl_pool_set_state(self._ptr, size_arg(index, "index"),
                                      enum_value(ItemState, state, "item state")))

    def set_weight(self, index, weight):
        """The sample weight (> 0, finite; default 1) item `index` carries
        when a model is fitted."""
        check(lib.hitl_pool_set_weight(self._ptr, size_arg(index, "index"),
                                       float_arg(weight, "weight")))

    def weight(self, index):
        """The sample weight of item `index` (1 unless set)."""
        w = ffi.new("float *")
        check(lib.hitl_pool_weight(w, self._ptr, size_arg(index, "index")))
        return w[0]

    # -- many items at once ----------------------------------------------------
    def _range(self, first, n):
        return pool_range(self, first, n)

    def ids(self, first=0, n=None):
        """Caller ids of items first..first+n-1 (all by default), uint64."""
        first, n = self._range(first, n)
        a, p = _arrays.out(n, np.uint64, "uint64_t")
        check(lib.hitl_pool_items(p, ffi.NULL, ffi.NULL, self._ptr, first, n))
        return a

    def labels(self, first=0, n=None):
        """Labels of items first..first+n-1 (all by default), int32; -1 for
        an item that is not LABELED.  One C call (hitl_pool_items)."""
        first, n = self._range(first, n)
        a, p = _arrays.out(n, np.int32, "int32_t")
        check(lib.hitl_pool_items(ffi.NULL, ffi.NULL, p, self._ptr, first, n))
        return a

    def states(self, first=0, n=None):
        """States of items first..first+n-1 (all by default) as an integer
        array of hitl.ItemState values: pool.states() == hitl.LABELED."""
        first, n = self._range(first, n)
        a, p = _arrays.out(n, _STATE_DTYPE, "hitl_item_state")
        check(lib.hitl_pool_items(ffi.NULL, p, ffi.NULL, self._ptr, first, n))
        return a

    def weights(self, first=0, n=None):
        """Sample weights of items first..first+n-1 (all by default), float32."""
        first, n = self._range(first, n)
        a, p = _arrays.out(n, np.float32, "float")
        check(lib.hitl_pool_weights(p, self._ptr, first, n))
        return a

    def rows(self, first=0, n=None):
        """A float32 copy (n, dim) of the rows of items first..first+n-1
        (all by default), borrowed or copied alike."""
        first, n = self._range(first, n)
        a, p = _arrays.out((n, self._dim), np.float32, "float")
        check(lib.hitl_pool_copy_rows(p, self._ptr, first, n))
        return a

    @staticmethod
    def _indices(indices):
        idx, pi = _arrays.ints(indices, "size_t", "indices")
        return idx, pi, idx.shape[0]

    def set_labels(self, indices, labels):
        """set_label(indices[i], labels[i]) for every i, all or nothing: a
        bad index or label anywhere (InvalidArgument, naming the entry)
        leaves every item as it was.  indices and labels: 1-D integer
        arrays or sequences of equal length; an index given twice keeps its
        last label.  One C call, about 100x faster than a set_label loop."""
        idx, pi, n = self._indices(indices)
        lab, pl = _arrays.ints(labels, "int32_t", "labels", n)
        check(lib.hitl_pool_set_labels(self._ptr, pi, pl, n))

    def set_weights(self, indices, weights):
        """set_weight(indices[i], weights[i]) for every i, all or nothing
        like set_labels."""
        idx, pi, n = self._indices(indices)
        w = np.asarray(weights)
        if w.dtype.kind not in "fiu" or w.ndim != 1 or w.shape[0] != n:
            raise InvalidArgument("weights must be a 1-D array of %d real "
                                  "numbers, got %s %s" % (n, w.dtype, w.shape))
        w = np.ascontiguousarray(w, dtype=np.float32)
        check(lib.hitl_pool_set_weights(self._ptr, pi, ffi.from_buffer("float[]", w), n))

    def __reduce__(self):
        from ._pickle import reduce_pool
        return reduce_pool(self)

    def _describe(self):
        return "dim=%d size=%d labeled=%d%s" % (
            self._dim, len(self), self.count(ItemState.LABELED),
            " sparse" if self._sparse else "")
