"""numpy <-> C buffers without hidden copies.

Feature rows reach the library as (pointer, n, stride): a float32 array whose
rows are each contiguous (C order, or a row/column slice of one such as
X[::2] or X[:, :64]) is passed by pointer, with the caller's row stride.
Anything else (float64, integers, Fortran order, a list of lists) is
converted once to a C-contiguous float32 copy, except where the library
keeps the pointer (Pool.borrow): there a copy would silently break the
promise, so it is refused with InvalidArgument.
"""
import numpy as np

from ._ffi import ffi
from .errors import InvalidArgument

_F4 = np.dtype(np.float32)


class Rows:
    """A validated (pointer, n, stride) view of an array; `array` is the
    object that owns the memory and must be kept alive while C reads it."""
    __slots__ = ("array", "ptr", "n", "stride", "copied")

    def __init__(self, array, ptr, n, stride, copied):
        self.array, self.ptr, self.n = array, ptr, n
        self.stride, self.copied = stride, copied


def _zero_copy_stride(a, dim):
    """Row stride in floats if the library can read `a` in place, else None."""
    if a.dtype != _F4 or not a.flags.aligned:
        return None
    if a.flags.c_contiguous:
        return dim
    s0, s1 = a.strides
    if s1 != _F4.itemsize and a.shape[1] > 1:
        return None
    if s0 <= 0 or s0 % _F4.itemsize or s0 // _F4.itemsize < dim:
        return None
    return s0 // _F4.itemsize


def rows(X, dim, name="X", borrow=False):
    """Validate X as an (n, dim) matrix of real numbers and return Rows."""
    a = X if isinstance(X, np.ndarray) else np.asarray(X)
    if a.dtype.kind not in "fiu":
        raise InvalidArgument("%s must hold real numbers (float32 is read in "
                              "place), got dtype %s" % (name, a.dtype))
    if a.ndim != 2 or a.shape[1] != dim:
        hint = " (one row: X.reshape(1, -1))" if a.ndim == 1 else ""
        raise InvalidArgument("%s must have shape (n, %d), got %s%s"
                              % (name, dim, a.shape, hint))
    stride = _zero_copy_stride(a, dim)
    copied = stride is None
    if copied:
        if borrow:
            raise InvalidArgument(
                "%s cannot be borrowed: the pool reads it in place, which "
                "needs float32 rows that are each contiguous; got dtype %s "
                "with strides %s.  Pass np.ascontiguousarray(%s, "
                "dtype=np.float32) (and keep it unchanged), or use Pool.add, "
                "which copies" % (name, a.dtype, a.strides, name))
        a = np.ascontiguousarray(a, dtype=_F4)
        stride = dim
    n = a.shape[0]
    if a.flags.c_contiguous:
        ptr = ffi.from_buffer("float[]", a)
    else:  # rows of a larger buffer: same memory, caller's stride
        ptr = ffi.cast("float *", a.ctypes.data)
    return Rows(a, ptr, n, stride, copied)


def ids(values, n, name="ids"):
    """None (NULL), or n caller ids as uint64 (see ints)."""
    if values is None:
        return None, ffi.NULL
    a = values if isinstance(values, np.ndarray) else np.asarray(values)
    if a.size and a.dtype.kind not in "iu":
        raise InvalidArgument(
            "%s of a pool are uint64 integers, got dtype %s: for str or other "
            "hashable ids, hitl.ActiveLearner(..., pool=X, ids=...) maps them "
            "to the pool's" % (name, a.dtype))
    return ints(a, "uint64_t", name, n)


def out(shape, dtype, ctype):
    """A new numpy array and a writable C pointer into it."""
    a = np.empty(shape, dtype=dtype)
    return a, ffi.from_buffer(ctype + "[]", a, require_writable=True)


def view(ptr, n, stride, dim, dtype=np.float32, writable=False):
    """An (n, dim) numpy view of C memory with a row stride in elements.
    Valid only while the memory is (typically: during a callback)."""
    itemsize = np.dtype(dtype).itemsize
    if n == 0:
        return np.empty((0, dim), dtype=dtype)
    nbytes = ((n - 1) * stride + dim) * itemsize
    a = np.frombuffer(ffi.buffer(ptr, nbytes), dtype=dtype)
    a = np.lib.stride_tricks.as_strided(a, shape=(n, dim),
                                        strides=(stride * itemsize, itemsize),
                                        writeable=writable)
    return a


_INT_TYPES = {"int32_t": np.int32, "uint32_t": np.uint32, "uint64_t": np.uint64,
              "size_t": np.uintp}


def ints(values, ctype, name, n=None):
    """A C-contiguous integer array of C type `ctype` ("int32_t", "uint32_t",
    "uint64_t") and its pointer; an array of that type already is passed as
    is, anything else is checked for range and converted once."""
    dtype = np.dtype(_INT_TYPES[ctype])
    a = values if isinstance(values, np.ndarray) else np.asarray(values)
    if a.size == 0 and a.dtype.kind == "f":
        a = a.astype(dtype)
    if a.dtype.kind not in "iu" or a.ndim != 1:
        raise InvalidArgument("%s must be a 1-D array of integers, got %s %s"
                              % (name, a.dtype, a.shape))
    if n is not None and a.shape[0] != n:
        raise InvalidArgument("%s must have %d entries, got %d"
                              % (name, n, a.shape[0]))
    if a.dtype != dtype and a.size:
        info = np.iinfo(dtype)
        lo, hi = int(a.min()), int(a.max())
        if lo < info.min or hi > info.max:
            raise InvalidArgument("%s must be in [%d, %d], got %d .. %d"
                                  % (name, info.min, info.max, lo, hi))
    a = np.ascontiguousarray(a, dtype=dtype)
    return a, ffi.from_buffer(ctype + "[]", a)


def table(values, ncols, name, dtype=np.float32, ctype="float", ndim=2):
    """A C-contiguous (n, ncols) table (no stride argument in C): float32
    C-contiguous input is passed as is, other real input converted once."""
    a = values if isinstance(values, np.ndarray) else np.asarray(values)
    if a.dtype.kind not in "fiu":
        raise InvalidArgument("%s must hold real numbers, got dtype %s"
                              % (name, a.dtype))
    if a.ndim != ndim or (ncols is not None and a.shape[-1] != ncols):
        raise InvalidArgument("%s must have %d dimensions%s, got shape %s"
                              % (name, ndim, "" if ncols is None else
                                 " and %d columns" % ncols, a.shape))
    a = np.ascontiguousarray(a, dtype=dtype)
    return a, ffi.from_buffer(ctype + "[]", a)


# ---- sparse rows ---------------------------------------------------------------

class CSR:
    """A validated CSR view (n rows): the three arrays as the library reads
    them (indptr and indices int32, values float32, C-contiguous), their
    pointers, and whether any of them had to be converted."""
    __slots__ = ("arrays", "indptr", "indices", "values", "n", "copied")

    def __init__(self, arrays, ptrs, n, copied):
        self.arrays = arrays
        self.indptr, self.indices, self.values = ptrs
        self.n, self.copied = n, copied


def is_sparse(X):
    """Whether X is a scipy.sparse matrix or array (scipy is not imported
    unless the caller has already made such an object)."""
    return type(X).__module__.startswith("scipy.sparse") and hasattr(X, "format")


def csr(X, dim, name="X", borrow=False):
    """Validate a scipy.sparse CSR matrix/array X of shape (n, dim) and
    return CSR.  int32 indices and float32 values are read in place (scipy
    picks int32 indices whenever they fit); anything else is converted once,
    or refused with borrow=True: other dtypes, and rows whose columns are
    unsorted or repeated (scipy's non-canonical form: summed as scipy reads
    them, on a copy).  Other sparse formats are refused with the
    call that converts them."""
    fmt = getattr(X, "format", "?")
    if fmt != "csr":
        raise InvalidArgument(
            "%s is a scipy.sparse %s %s; libhitl takes CSR rows: pass %s.tocsr()"
            % (name, fmt, "array" if "array" in type(X).__name__ else "matrix", name))
    if len(X.shape) != 2 or X.shape[1] != dim:
        raise InvalidArgument("%s must have shape (n, %d), got %s" % (name, dim, X.shape))
    if not X.has_canonical_format:
        # scipy allows unsorted (TfidfVectorizer makes them) and repeated
        # columns in a row, meaning their sum; the library wants each row's
        # columns strictly increasing
        if borrow:
            raise InvalidArgument(
                "%s cannot be borrowed: its rows have unsorted or repeated column "
                "indices; call %s.sum_duplicates() first (sorts them in place and "
                "adds repeats, as scipy reads them), or use Pool.add, which does "
                "that on a copy" % (name, name))
        X = X.copy()
        X.sum_duplicates()
    want = (np.dtype(np.int32), np.dtype(np.int32), _F4)
    have = (X.indptr, X.indices, X.data)
    n = X.shape[0]
    nnz = int(X.indptr[n]) if n else 0
    offset = int(X.indptr[0]) if n else 0
    in_place = (all(a.dtype == d and a.flags.c_contiguous for a, d in zip(have, want))
                and offset == 0)
    if not in_place:
        if borrow:
            raise InvalidArgument(
                "%s cannot be borrowed: the pool reads CSR arrays in place, which "
                "needs int32 indptr and indices, float32 data, C-contiguous and "
                "indptr[0] == 0; got %s, %s, %s.  Pass %s.astype(np.float32) with "
                "int32 indices (and keep it unchanged), or use Pool.add, which copies"
                % (name, X.indptr.dtype, X.indices.dtype, X.data.dtype, name))
        if nnz > np.iinfo(np.int32).max:
            raise InvalidArgument("%s has %d non-zeros; a batch holds at most 2^31 - 1: "
                                  "add it in row slices" % (name, nnz))
        have = (np.ascontiguousarray(X.indptr[:n + 1] - offset, dtype=np.int32),
                np.ascontiguousarray(X.indices[offset:offset + nnz], dtype=np.int32),
                np.ascontiguousarray(X.data[offset:offset + nnz], dtype=_F4))
    ptrs = tuple(ffi.from_buffer(c + "[]", a)
                 for c, a in zip(("int32_t", "int32_t", "float"), have))
    return CSR(have, ptrs, n, not in_place)
