#!/bin/sh
# Manual-page test: every function libhitl.so exports has a page, every page
# is lint-clean, and the example of libhitl(3) is examples/loop.c verbatim.
#
# Fails when
#   - a defined dynamic hitl_* symbol of lib/.libs/libhitl.so has no page in
#     man/man3 (the pages man/mkman.py wrote; `make` builds them), or its
#     page says UNDOCUMENTED (no comment block above its declaration);
#   - a page listed in man/man3/pages.list is missing, or a .so stub points
#     at a page that does not exist;
#   - `groff -ww -z -man` says anything about a page, or (when man-db is
#     installed) `man --warnings` does, the way lintian runs it;
#   - libhitl(3)'s EXAMPLES section, as groff renders it, differs from
#     examples/loop.c (which `make check` compiles and runs as
#     examples/loop): the example a reader copies from the page is the one
#     the tests run.
# Skips (77) when no shared library was built.  Exits 99 when groff is
# missing (apt-get install groff-base).
#
# Run by `make check` from the top build directory; srcdir comes from the
# test harness.  NM may be set in the environment.
set -eu
LC_ALL=C.UTF-8
export LC_ALL

srcdir=${srcdir:-.}
so=lib/.libs/libhitl.so
NM=${NM:-nm}
mandir=man/man3
list=$mandir/pages.list

if ! command -v groff >/dev/null 2>&1; then
    echo "ERROR: groff not found: apt-get install groff-base" >&2
    exit 99
fi
if ! test -e "$so"; then
    echo "SKIP: $so not built (static-only build?)"
    exit 77
fi
if ! test -s "$list"; then
    echo "FAIL: $list missing: run make (man/mkman.py writes the pages)"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# 1. A page for every exported function.
"$NM" -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
    grep '^hitl_' | sort -u >"$tmp/exported"
sed 's/\.3$//' "$list" | sort -u >"$tmp/pages"
if comm -23 "$tmp/exported" "$tmp/pages" >"$tmp/bad" && test -s "$tmp/bad"; then
    echo "FAIL: exported functions without a man page (document them in"
    echo "      include/hitl.h: a comment block directly above the declaration):"
    sed 's/^/    /' "$tmp/bad"
    fail=1
fi

# An undocumented function gets a page that says so (man/mkman.py).
if (cd "$mandir" && grep -l 'UNDOCUMENTED:' $(cat pages.list)) >"$tmp/bad" 2>/dev/null; then
    echo "FAIL: functions without a comment block in include/hitl.h:"
    sed 's/\.3$//; s/^/    /' "$tmp/bad"
    fail=1
fi

# 2. Every listed page exists; every .so stub resolves.
while read -r page; do
    if ! test -f "$mandir/$page"; then
        echo "FAIL: $mandir/$page is listed but missing"
        fail=1
        continue
    fi
    target=$(sed -n '1s/^\.so //p' "$mandir/$page")
    if test -n "$target" && ! test -f "man/$target"; then
        echo "FAIL: $page: .so $target does not exist"
        fail=1
    fi
done <"$list"

# 3. Lint: no warning from groff (all warnings on) nor from man-db.  Both run
#    in man/ so that `.so man3/x.3` resolves as it does once installed.
lint() {
    (cd man && "$@") 2>"$tmp/lint" >/dev/null || true
    if test -s "$tmp/lint"; then
        echo "FAIL: $*:"
        sed 's/^/    /' "$tmp/lint"
        fail=1
    fi
}
n=0
while read -r page; do
    lint groff -ww -z -man -Tutf8 "man3/$page"
    if command -v man >/dev/null 2>&1; then
        # lintian's invocation (checks/documentation/manual.pm)
        MANROFFSEQ='' MANWIDTH=80 lint man --warnings -E UTF-8 -l -Tutf8 -Z \
            "man3/$page"
    fi
    n=$((n + 1))
done <"$list"

# 4. libhitl(3)'s example, rendered, is examples/loop.c: the lines of the
#    EXAMPLES section from the one that reads as loop.c's first line, with
#    that line's indentation taken off.  (With -Tutf8 groff prints \-, \e and
#    \(aq as ASCII; tabs are expanded.)
expand "$srcdir/examples/loop.c" | sed 's/ *$//' >"$tmp/loop.c"
groff -man -Tutf8 -P-c -P-b -P-u -P-o -rLL=200n "$mandir/libhitl.3" 2>/dev/null |
    awk '/^[A-Z]/ { in_ex = ($0 == "EXAMPLES"); next } in_ex' |
    awk -v first="$(head -1 "$tmp/loop.c")" '
        !found { t = $0; sub(/^ */, "", t)
                 if (t == first) { found = 1; match($0, /^ */); ind = RLENGTH } }
        found  { print substr($0, ind + 1) }' |
    sed 's/ *$//' | head -n "$(wc -l <"$tmp/loop.c")" >"$tmp/example"
if ! diff -u "$tmp/loop.c" "$tmp/example" >"$tmp/diff"; then
    echo "FAIL: libhitl(3)'s EXAMPLES section is not examples/loop.c:"
    head -40 "$tmp/diff" | sed 's/^/    /'
    fail=1
fi

if test "$fail" = 0; then
    echo "PASS: $(wc -l <"$tmp/exported") exported functions have pages;" \
         "$n pages lint-clean; libhitl(3)'s example is examples/loop.c"
fi
exit "$fail"
