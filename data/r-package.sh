# Sourced by the convert-*.sh scripts (after `set -eu` and setting $here):
# r_package NAME fetches Debian's package NAME without installing it,
# unpacks it into $work/x ($work: a temporary folder removed on exit),
# prints the .deb's name, and checks that Rscript is there to read it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

r_package() {
    command -v Rscript >/dev/null || {
        echo "Rscript not found: apt-get install --no-install-recommends r-base-core" >&2
        exit 1
    }
    (cd "$work" && apt-get download "$1" >/dev/null)
    deb=$(ls "$work/$1"_*.deb)
    echo "package: $(basename "$deb")"
    dpkg-deb -x "$deb" "$work/x"
}
