#!/bin/sh
# Regenerates data/letter.csv.gz and data/satellite.csv.gz from Debian's
# r-cran-mlbench package (GNU R "mlbench", Leisch & Dimitriadou), which ships
# the UCI Letter Recognition and Statlog (Landsat Satellite) sets as R .rda
# files.  A one-off conversion: the build never runs it.
#
# Tools, all from Debian 12: apt-get (to fetch the .deb without installing
# it), dpkg-deb, gzip, and Rscript from r-base-core, needed only here to read
# the .rda files (apt-get install --no-install-recommends r-base-core).
# No code from anywhere else is involved.
#
# Output layout (the same as scikit-learn's digits.csv.gz that the demo
# uses): one item a line, comma-separated integer features, then the class as
# an integer 0..K-1 in the last column; no header.  Rows keep the package's
# order.  Class numbering follows the R factor levels:
#   letter:    0..25 = A..Z
#   satellite: 0 red soil, 1 cotton crop, 2 grey soil, 3 damp grey soil,
#              4 vegetation stubble, 5 very damp grey soil
# (mlbench drops the empty "mixture" class 6 of the UCI coding and renumbers
# UCI's 7 to level 6, which is 5 here.)
#
# Usage: sh data/convert-mlbench.sh [OUTDIR]   (default: the script's folder)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
. "$here/r-package.sh"
r_package r-cran-mlbench
rda="$work/x/usr/lib/R/site-library/mlbench/data"

Rscript --vanilla - "$rda" "$work" <<'REOF'
a <- commandArgs(trailingOnly = TRUE)
emit <- function(name, target, file) {
    e <- new.env()
    load(file.path(a[1], paste0(name, ".rda")), envir = e)
    d <- get(name, envir = e)
    y <- as.integer(d[[target]]) - 1L
    x <- as.matrix(d[, setdiff(names(d), target)])
    stopifnot(all(x == round(x)), !anyNA(x))
    storage.mode(x) <- "integer"
    write.table(cbind(x, y), file.path(a[2], file), sep = ",",
                row.names = FALSE, col.names = FALSE, quote = FALSE)
    cat(sprintf("%s: %d items, %d features, %d classes (%s)\n", file,
                nrow(x), ncol(x), nlevels(d[[target]]),
                paste(levels(d[[target]]), collapse = "|")))
}
emit("LetterRecognition", "lettr", "letter.csv")
emit("Satellite", "classes", "satellite.csv")
REOF

for f in letter satellite; do
    gzip -9 -n -c "$work/$f.csv" > "$out/$f.csv.gz"
    echo "$out/$f.csv.gz: $(wc -c < "$out/$f.csv.gz") bytes, sha256 $(sha256sum < "$out/$f.csv.gz" | cut -c1-64)"
done
