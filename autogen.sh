#!/bin/sh
# Bootstrap a fresh clone: make sure the Debian packages that the build and
# the tests need are installed, then regenerate configure and Makefile.in
# from configure.ac and Makefile.am.
#
#   ./autogen.sh               check packages, then autoreconf -fi
#   ./autogen.sh --deps-only   only check (and as root install) packages
#   ./autogen.sh --no-deps     only autoreconf -fi (any system)
#
# Packages: on a Debian-like system (dpkg-query present) missing packages are
# installed with apt-get when running as root; otherwise the exact apt-get
# command is printed and the script fails.  Elsewhere the check is skipped
# with a note and configure reports what is missing.
set -e
cd "$(dirname "$0")"

# Why each package is needed (keep this list and README's in step).
packages="
build-essential
autoconf automake libtool pkg-config
libopenblas-dev
liblbfgs-dev
zlib1g-dev
check
python3-dev python3-cffi python3-numpy python3-pytest python3-sklearn python3-scipy
python3-matplotlib python3-tqdm
valgrind
groff-base
"
#   build-essential               C and C++ compilers, make
#   autoconf automake libtool pkg-config   the build system
#   libopenblas-dev               scoring (cblas_sgemm)
#   liblbfgs-dev                  the optimizer of the built-in model
#   zlib1g-dev                    checksums; the demo reads data/*.csv.gz
#   check                         the C test suites
#   python3-*                     the Python bindings and their tests
#   python3-matplotlib python3-tqdm   hitl.evaluate's plot and progress bar
#                                 (optional at run time), make demo's picture
#   valgrind                      make check-valgrind (CI)
#   groff-base                    make check lints the man pages (groff)

check_deps() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "autogen.sh: not a Debian-like system; not checking packages" \
             "(configure will report what is missing)" >&2
        return 0
    fi
    missing=
    for p in $packages; do
        case "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" in
            ii*) ;;
            *) missing="$missing $p" ;;
        esac
    done
    [ -z "$missing" ] && return 0

    line="apt-get update && apt-get install -y$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "autogen.sh: missing Debian packages:$missing" >&2
        echo "autogen.sh: install them as root, then run make again:" >&2
        echo "    $line" >&2
        exit 1
    fi
    echo "autogen.sh: installing missing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # word splitting of $missing is intended
    apt-get update && apt-get install -y $missing
}

case "${1-}" in
    --deps-only) check_deps; exit 0 ;;
    --no-deps) ;;
    "") check_deps ;;
    *) echo "usage: $0 [--deps-only | --no-deps]" >&2; exit 2 ;;
esac

mkdir -p m4 build-aux
autoreconf -fi
