#!/bin/sh
# Layer test: lib/ is in folders by layer, and a call only ever goes down.
#
#   base -> data -> learn -> select -> people -> route      (lib/README)
#
# Reads each library object's defined and undefined hitl_* / hitl__* symbols
# (nm) and fails when
#   - a module uses a symbol defined in a higher layer (printed as the pair
#     "user -> definer: symbol");
#   - modules use each other in a circle, within a layer too (tsort finds
#     it; the modules of the circle are printed);
#   - a source file of lib/ is outside the layer folders, or a module
#     includes the header of another layer than its own (each layer's header
#     includes the one below, so the compiler sees only what lies below).
#
# Run by `make check` from the top build directory; srcdir comes from the
# test harness.  NM may be set in the environment.
set -eu
LC_ALL=C
export LC_ALL

srcdir=${srcdir:-.}
NM=${NM:-nm}
layers="base data learn select people route"

rank() {
    r=0
    for l in $layers; do
        [ "$l" = "$1" ] && { echo $r; return; }
        r=$((r + 1))
    done
    echo "unknown layer $1"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# Every source file in a layer folder, every module including its own
# layer's header only.
for f in "$srcdir"/lib/*.c; do
    [ -e "$f" ] || continue
    echo "FAIL: $f is outside the layer folders"
    fail=1
done
for f in "$srcdir"/lib/*/*.c; do
    layer=$(basename "$(dirname "$f")")
    case " $layers " in
        *" $layer "*) ;;
        *) echo "FAIL: $f is in lib/$layer, which is not a layer ($layers)"; fail=1 ;;
    esac
    grep -o '^#include "[^"]*"' "$f" | sed 's/^#include "\(.*\)"$/\1/' |
        while read -r inc; do
            case "$inc" in
                config.h | "$layer/$layer.h") ;;
                *) echo "FAIL: lib/$layer/$(basename "$f") includes \"$inc\"" \
                        "(a module includes \"$layer/$layer.h\" only)"; exit 1 ;;
            esac
        done || fail=1
done

# The objects: lib/LAYER/libhitl_la-MODULE.o (or its PIC twin in .libs/).
find lib -name 'libhitl_la-*.o' | sort >"$tmp/objs"
if ! test -s "$tmp/objs"; then
    echo "FAIL: no library objects under lib/ (build the library first)"
    exit 1
fi
: >"$tmp/defs"
: >"$tmp/uses"
seen=" "
while read -r o; do
    layer=$(echo "$o" | sed 's|^lib/\([^/]*\)/.*|\1|')
    module=$layer/$(basename "$o" .o | sed 's/^libhitl_la-//')
    case "$seen" in *" $module "*) continue ;; esac
    seen="$seen$module "
    "$NM" "$o" >"$tmp/nm"
    awk -v m="$module" 'NF == 3 && $2 ~ /^[TDBRCVWGS]$/ && $3 ~ /^hitl_/ { print $3, m }' \
        "$tmp/nm" >>"$tmp/defs"
    awk -v m="$module" '$1 == "U" && $2 ~ /^hitl_/ { print m, $2 }' "$tmp/nm" >>"$tmp/uses"
done <"$tmp/objs"

sort -u "$tmp/defs" >"$tmp/defs.s"
sort -k2,2 -k1,1 -u "$tmp/uses" >"$tmp/uses.s"
# user symbol definer, for every use of a symbol some module defines
join -1 2 -2 1 -o 1.1,1.2,2.2 "$tmp/uses.s" "$tmp/defs.s" >"$tmp/edges"

while read -r user sym definer; do
    ul=${user%%/*}
    dl=${definer%%/*}
    if [ "$(rank "$dl")" -gt "$(rank "$ul")" ]; then
        echo "FAIL: upward call: $user -> $definer: $sym ($ul is below $dl)"
        fail=1
    fi
done <"$tmp/edges"

# Circles: tsort names the modules of one when it finds it.
awk '$1 != $3 { print $1, $3 }' "$tmp/edges" | sort -u >"$tmp/pairs"
if ! tsort "$tmp/pairs" >/dev/null 2>"$tmp/loops"; then
    echo "FAIL: modules that use each other in a circle:"
    sed 's/^tsort: /  /' "$tmp/loops"
    fail=1
fi

modules=$(echo $seen | wc -w)
pairs=$(wc -l <"$tmp/pairs")
if [ "$fail" -eq 0 ]; then
    echo "PASS: $modules modules in layers $layers; $pairs module pairs, all downward, no circle"
fi
exit $fail
