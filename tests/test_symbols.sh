#!/bin/sh
# Exported-symbol test: the ABI of libhitl.so is exactly the functions that
# include/hitl.h declares with HITL_API.
#
# Fails when the shared library
#   - exports a dynamic symbol that is not a public hitl_* name (anything
#     else, hitl__* internals included), other than the version node
#     (HITL_0, HITL_0.2, ...) that the version script defines;
#   - lacks a function the header declares HITL_API;
#   - exports a hitl_* function the header does not declare;
#   - exports a symbol without a version node, or has no SONAME.
# Skips (77) when no shared library was built (--disable-shared).
#
# Run by `make check` from the top build directory; srcdir comes from the
# test harness.  NM and CC may be set in the environment.
set -eu
LC_ALL=C
export LC_ALL

srcdir=${srcdir:-.}
header="$srcdir/include/hitl.h"
so=lib/.libs/libhitl.so
NM=${NM:-nm}
CC=${CC:-cc}

if ! test -e "$so"; then
    echo "SKIP: $so not built (static-only build?)"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# Functions the header declares HITL_API.  The preprocessor resolves the
# declarations however they are laid out; with HITL_BUILDING, HITL_API
# becomes the visibility attribute, which marks each exported declaration.
# Every declaration then ends in ';' on a line of its own after tr.
$CC -E -P -DHITL_BUILDING -x c "$header" |
    tr '\n' ' ' | tr ';' '\n' |
    grep 'visibility *( *"default" *)' |
    sed -n 's/.*[^A-Za-z0-9_]\(hitl_[A-Za-z0-9_]*\) *(.*/\1/p' |
    sort -u >"$tmp/header"
if ! test -s "$tmp/header"; then
    echo "FAIL: found no HITL_API declaration in $header"
    exit 1
fi

# Defined dynamic symbols: "value type name@@node" (nm -D, binutils >= 2.35,
# prints the version).  The version node itself is an absolute (A) symbol.
"$NM" -D --defined-only "$so" >"$tmp/nm"
awk '$2 != "A" { print $3 }' "$tmp/nm" | sort -u >"$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort -u >"$tmp/exported"
awk '$2 == "A" { print $3 }' "$tmp/nm" | sed 's/@.*//' | sort -u >"$tmp/nodes"

if grep -v '^HITL_[0-9][0-9.]*$' "$tmp/nodes" >"$tmp/bad"; then
    echo "FAIL: absolute symbols other than a HITL_* version node:"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi
if grep -v '^hitl_[A-Za-z0-9]' "$tmp/exported" >"$tmp/bad"; then
    echo "FAIL: exported symbols outside the public hitl_* namespace"
    echo "      (internal functions must be static or hidden hitl__* ones):"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi
if grep -v '@@\?HITL_[0-9][0-9.]*$' "$tmp/versioned" >"$tmp/bad"; then
    echo "FAIL: exported symbols without a HITL_* version node"
    echo "      (is lib/libhitl.map passed to the linker?):"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi
if comm -23 "$tmp/header" "$tmp/exported" >"$tmp/bad" && test -s "$tmp/bad"; then
    echo "FAIL: declared HITL_API in include/hitl.h but not exported"
    echo "      (missing from lib/libhitl.map, or not defined):"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi
if comm -13 "$tmp/header" "$tmp/exported" | grep '^hitl_[A-Za-z0-9]' >"$tmp/bad"; then
    echo "FAIL: exported but not declared HITL_API in include/hitl.h:"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi

soname=$(LC_ALL=C readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
case "$soname" in
    libhitl.so.[0-9]*) ;;
    *) echo "FAIL: SONAME is '$soname', expected libhitl.so.N"; fail=1 ;;
esac

if test "$fail" = 0; then
    echo "PASS: $so ($soname) exports exactly the $(wc -l <"$tmp/header")" \
         "HITL_API functions of include/hitl.h, version nodes: $(tr '\n' ' ' <"$tmp/nodes")"
fi
exit "$fail"
