#!/bin/sh
# Regenerates data/finefoods.tsv.gz from Debian's r-cran-modeldata package
# (GNU R "modeldata", Max Kuhn, MIT licence), whose data set small_fine_foods
# holds 5,000 Amazon fine-food reviews labeled by whether the reviewer gave
# five stars.  A one-off conversion: the build never runs it.
#
# Tools, all from Debian 12: apt-get (to fetch the .deb without installing
# it), dpkg-deb, gzip, and Rscript from r-base-core, needed only here to read
# the package's lazy-load database (apt-get install --no-install-recommends
# r-base-core).  No code from anywhere else is involved.
#
# Output: one review a line, three tab-separated fields: the class (0 = five
# stars, "great"; 1 = fewer, "other": the R factor's levels in order), the
# product id, and the review's text (the package's text has no tab or line
# break; the script checks).  No header.  Rows: the package's training_data
# (4,000 reviews) then its testing_data (1,000), each in the package's order.
#
# Usage: sh data/convert-finefoods.sh [OUTDIR]   (default: the script's folder)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
. "$here/r-package.sh"
r_package r-cran-modeldata
db="$work/x/usr/lib/R/site-library/modeldata/data/Rdata"

Rscript --vanilla - "$db" "$work/finefoods.tsv" <<'REOF'
a <- commandArgs(trailingOnly = TRUE)
e <- new.env()
invisible(lazyLoad(a[1], envir = e))
d <- rbind(get("training_data", envir = e), get("testing_data", envir = e))
stopifnot(identical(levels(d$score), c("great", "other")),
          !anyNA(d$review), !any(grepl("[\t\r\n]", d$review)),
          !any(grepl("[\t\r\n]", d$product)))
y <- as.integer(d$score) - 1L
writeLines(paste(y, d$product, d$review, sep = "\t"), a[2], useBytes = TRUE)
cat(sprintf("finefoods.tsv: %d reviews, %d products, classes great %d, other %d\n",
            nrow(d), length(unique(d$product)), sum(y == 0L), sum(y == 1L)))
REOF

gzip -9 -n -c "$work/finefoods.tsv" > "$out/finefoods.tsv.gz"
echo "$out/finefoods.tsv.gz: $(wc -c < "$out/finefoods.tsv.gz") bytes, sha256 $(sha256sum < "$out/finefoods.tsv.gz" | cut -c1-64)"
