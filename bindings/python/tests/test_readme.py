"""The README's Python example is five lines and really runs."""
import os
import re
import subprocess
import sys
import textwrap

from conftest import TOP_SRCDIR


def readme_example():
    with open(os.path.join(TOP_SRCDIR, "README"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^Python\n-+\n(.*?)(?=^\S[^\n]*\n-+\n|\Z)", text, re.S | re.M)
    assert m, "README has no Python section"
    block = re.search(r"((?:^    \S.*\n)+)", m.group(1), re.M)
    assert block, "the Python section has no indented example"
    return textwrap.dedent(block.group(1))


def test_readme_example_runs():
    code = readme_example()
    assert code.startswith("import") and len(code.splitlines()) == 5
    res = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    accuracies = [float(x) for x in res.stdout.split()]
    assert len(accuracies) == 5 and accuracies[-1] > 0.9, res.stdout
