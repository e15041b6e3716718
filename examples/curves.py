#!/usr/bin/python3
"""The learning curves of the digits run as a picture: `make demo` runs this
after the C demo (examples/demo.c).

    curves.py DATA.csv.gz OUT.png

hitl.evaluate runs the simulated loop (a quarter of each class held out,
the oracle answering with the true label) for four strategies over three
seeds, prints the table and draws the curves into OUT.png.
"""
import gzip
import os
import sys

import numpy as np

import hitl


def main(data, out):
    with gzip.open(data, "rt") as f:
        a = np.loadtxt(f, delimiter=",")
    X, y = a[:, :-1] / 16.0, a[:, -1].astype(int)
    print("== learning curves (Python: hitl.evaluate)")
    print("%s: %d items, %d features; budget 300 labels in batches of 10, "
          "seeds 0 1 2" % (data, X.shape[0], X.shape[1]))
    result = hitl.evaluate(X, y, ["random", "margin", "entropy", "default"],
                           budget=300, batch=10, seeds=[0, 1, 2])
    print(result)
    try:
        result.plot(out, title="libhitl on digits: test accuracy by labels "
                               "spent (mean of 3 seeds, band min..max)")
    except ImportError:
        print("no picture: matplotlib is missing (apt-get install "
              "python3-matplotlib)")
        return 0
    print("learning curves saved to %s" % os.path.abspath(out))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    sys.exit(main(sys.argv[1], sys.argv[2]))
