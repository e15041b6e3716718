#!/usr/bin/python3
"""Write libhitl's section-3 manual pages from include/hitl.h.

The header is the manual; this script only lays it out in man(7) form, so a
function, type or section added to the header gets its page by rebuilding.

What it reads.  The header is cut into sections by its banners

    /* ----- */
    /* Title */
    /* ----- */

and within a section into
  - function groups: a comment block directly followed by one or more
    HITL_API declarations (one with no comment of its own, directly after
    another, joins its group: "hitl_pool_size / hitl_pool_dim: ...");
  - types: a comment block (optional) directly followed by typedefs;
  - prose: any other comment block (the comment before an opaque handle's
    `typedef struct hitl_x hitl_x;` counts as prose of its section too);
  - #define HITL_* macros.

What it writes, into OUTDIR:
  - one page per function group, named for its first function, with a .so
    stub for each other function: NAME (the block's first sentence), SYNOPSIS,
    DESCRIPTION, RETURN VALUE (the "Returns ..." sentences, with the status
    codes as a list), TYPES (the enums and callback types of the synopsis),
    NOTES (the thread-safety sentences), SEE ALSO (the pages the block names);
  - one page per section that has prose, types or macros, named for its
    handle type (hitl_pool, hitl_feedback, ...), else its first type, else
    hitl_<first word of the title>, with a .so stub for each other type: the
    declarations, the prose and type comments, and the list of the section's
    functions;
  - with --overview, the hand-written overview page with its `.\\" include:
    FILE` lines replaced by FILE (an example program, as a literal block) and
    its `.\\" index` line replaced by the list of all pages;
  - pages.list: the file names written, one a line (the install list).

usage: mkman.py --header include/hitl.h --outdir man/man3 --version 0.1.0
                [--overview man/libhitl.3 --srcdir .]

A HITL_API declaration that no comment documents still gets a page, saying
UNDOCUMENTED (and a warning naming the line); tests/test_man.sh fails on it.
"""
import argparse
import os
import re
import sys
import time

# The text of a function that has no comment block; tests/test_man.sh fails
# on it.
UNDOCUMENTED = ("UNDOCUMENTED: include/hitl.h has no comment block for this "
                "function.")
# Sentences that say how a call may be used from threads go to NOTES.
THREAD_RE = re.compile(r"(Concurrent reads|Thread-safe|Not thread-safe|"
                       r"Thread-safety|Threads:)")
# Sentences after "Returns ..." that still say what a call returns.
RET_MORE_RE = re.compile(r"HITL_(OK|E[A-Z]+)\b|[Oo]n failure|[Oo]n success|"
                         r"\berror\b|\bfails?\b|written only|is not written")
ABBREV_RE = re.compile(r"(\be\.g|\bi\.e|\betc|\bvs|\bcf|\bresp|\bapprox)\.$")
# Longest type comment + declaration shown inline in a function's TYPES.
TYPES_INLINE_MAX = 40


class Section:
    def __init__(self, title):
        self.title = title
        self.prose = []        # comment blocks (lists of lines)
        self.types = []        # TypeGroup
        self.macros = []       # source lines of #define
        self.groups = []       # Group
        self.page = None       # page name, or None: merged into groups[0]
        self.aliases = []


class Group:
    def __init__(self, doc, section, line):
        self.names, self.decls, self.doc = [], [], doc
        self.section, self.line = section, line


class TypeGroup:
    def __init__(self, doc):
        self.names, self.codes, self.doc = [], [], doc
        self.opaque = False


# ---- reading the header ---------------------------------------------------

def comment_text(lines):
    """Strip the /* * */ decoration from the lines of one comment block."""
    out = []
    for ln in lines:
        ln = ln.rstrip()
        ln = re.sub(r"^\s*/\*+ ?", "", ln)
        ln = re.sub(r"\s*\*+/$", "", ln)
        ln = re.sub(r"^\s*\*(?!/) ?", "", ln)
        out.append(ln.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def read_statement(lines, i):
    """Lines from i to the ';' that ends a declaration at brace depth 0."""
    decl, depth = [], 0
    while i < len(lines):
        ln = lines[i]
        decl.append(ln)
        code = re.sub(r"/\*.*?\*/", "", ln)
        depth += code.count("{") - code.count("}")
        i += 1
        if depth == 0 and code.rstrip().endswith(";"):
            break
    return decl, i


def is_dashes(ln):
    return re.fullmatch(r"/\*\s*-{10,}\s*\*/", ln.strip()) is not None


def parse(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    sections = [Section("")]
    pending = None              # the last comment block, not yet attached
    last = None                 # kind of the previous statement
    i = 0
    while i < len(lines):
        ln = lines[i]
        sec = sections[-1]
        if is_dashes(ln) and i + 2 < len(lines) and is_dashes(lines[i + 2]):
            title = comment_text([lines[i + 1]])
            sections.append(Section(title[0].strip() if title else ""))
            pending, last = None, None
            i += 3
            continue
        if ln.startswith("/*"):
            if pending is not None:
                sec.prose.append(pending)
            block = [ln]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            i += 1
            pending, last = comment_text(block), "comment"
            continue
        if ln.startswith("HITL_API"):
            decl, i2 = read_statement(lines, i)
            # drop the export macro and shift the continuation lines with it
            cut = len(re.match(r"HITL_API\s+", decl[0]).group(0))
            code = "\n".join([decl[0][cut:]] + [
                x[cut:] if x[:cut].strip() == "" else x for x in decl[1:]])
            m = re.search(r"\b(hitl_\w+)\s*\(", code)
            if not m:
                sys.exit("%s:%d: cannot find the function name" % (path, i + 1))
            if last == "comment":
                sec.groups.append(Group(pending, sec, i + 1))
            elif not (sec.groups and last == "decl"):
                # Still a page (the build goes on), marked for test_man.sh.
                sys.stderr.write("%s:%d: warning: %s has no comment block\n"
                                 % (path, i + 1, m.group(1)))
                sec.groups.append(Group([UNDOCUMENTED], sec, i + 1))
            sec.groups[-1].names.append(m.group(1))
            sec.groups[-1].decls.append(code)
            pending, last, i = None, "decl", i2
            continue
        if ln.startswith("typedef"):
            decl, i = read_statement(lines, i)
            code = "\n".join(decl)
            flat = re.sub(r"/\*.*?\*/", "", code, flags=re.S)
            opaque = re.match(r"typedef struct (\w+) \1;", flat.strip())
            m = re.search(r"\(\s*\*\s*(\w+)\s*\)", flat) or \
                re.search(r"(\w+)\s*;\s*$", flat)
            if opaque:
                if pending is not None:
                    sec.prose.append(pending)
                tg = TypeGroup([])
                tg.opaque = True
                sec.types.append(tg)
            elif last == "comment" or last != "type" or not sec.types or \
                    sec.types[-1].opaque:
                tg = TypeGroup(pending or [])
                sec.types.append(tg)
            else:
                tg = sec.types[-1]
            tg.names.append(m.group(1))
            tg.codes.append(code)
            pending, last = None, "type"
            continue
        if re.match(r"#define HITL_\w+", ln) and not ln.startswith("#define HITL_H"):
            if pending is not None:
                sec.prose.append(pending)
            while ln.rstrip().endswith("\\"):
                sec.macros.append(ln)
                i += 1
                ln = lines[i]
            sec.macros.append(ln)
            pending, last = None, "macro"
            i += 1
            continue
        if ln.strip():
            if pending is not None:
                sec.prose.append(pending)
            pending, last = None, "other"
        elif last == "comment" and pending is not None:
            sec.prose.append(pending)
            pending, last = None, "blank"
        elif last in ("type", "decl"):  # only adjacent declarations share
            last = "blank"              # a comment
        i += 1
    return [s for s in sections if s.title]


def name_pages(sections):
    functions = {n for s in sections for g in s.groups for n in g.names}
    for s in sections:
        types = [n for t in s.types for n in t.names]
        if not (s.prose or s.types or s.macros):
            continue
        opaque = [t.names[0] for t in s.types if t.opaque]
        word = re.match(r"\w+", s.title).group(0).lower()
        cand = (opaque or types or ["hitl_" + word])[0]
        if cand in functions:
            if not s.groups:
                sys.exit("section %r: no page name (hitl_%s is a function)"
                         % (s.title, word))
            continue            # merged into the section's first function page
        s.page = cand
        s.aliases = [n for n in types if n != cand]
    return functions


# ---- text to man(7) --------------------------------------------------------

def esc(s, code=False):
    """Escape text for roff; in code every '-' is a minus sign, in prose only
    those that are not a hyphen between two letters."""
    s = s.replace("\\", "\\e")
    if code:                    # ASCII quotes and minus, whatever the device
        s = s.replace("-", "\\-").replace("'", "\\(aq").replace("`", "\\(ga")
    else:
        s = re.sub(r"(?<![A-Za-z])-|-(?![A-Za-z])", r"\\-", s)
    return s


def ctl(s):
    """Protect a line from being read as a roff request."""
    return "\\&" + s if s.startswith((".", "'")) else s


class Markup:
    """Inline fonts: `arg` italic, page names and HITL_* constants bold."""

    def __init__(self, pages):
        self.pages = pages

    def __call__(self, s):
        s = esc(s)
        s = re.sub(r"`([^`]+)`", r"\\fI\1\\fP", s)

        def word(m):
            w = m.group(0)
            if w in self.pages or re.fullmatch(r"HITL_[A-Z0-9_]*[A-Z0-9*]", w):
                return "\\fB%s\\fP" % w
            return w
        return re.sub(r"\b(hitl_\w+|HITL_[A-Z0-9_]+\*?)", word, s)


def join_lines(lines):
    """Lines of a paragraph as one string; a line that ends a sentence is
    followed by two spaces, as the header writes sentence ends."""
    return "".join(x + ("  " if x.endswith((".", "?", "!")) else " ")
                   for x in lines).strip()


def split_sentences(text):
    """Sentences of a paragraph.  A sentence ends at '.' followed by two
    spaces, or by one and a capital, never inside parentheses or after an
    abbreviation (e.g., i.e.)."""
    out, depth, start = [], 0, 0
    for j, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ".!?" and depth == 0 and (j + 1 == len(text) or
                                             text[j + 1] == " "):
            if ABBREV_RE.search(text[start:j + 1]):
                continue
            rest = text[j + 1:]
            if rest.strip() and not rest.startswith("  ") and \
                    not re.match(r"\s*([A-Z(*\"`]|hitl_|HITL_)", rest):
                continue
            out.append(text[start:j + 1].strip())
            start = j + 1
    if text[start:].strip():
        out.append(text[start:].strip())
    return out


def blocks(text):
    """A comment's lines as a list of blocks:
        ("para", [lines])                 filled text
        ("bullet", [(kind, line), ...])   one list item: kind "text"/"code"
        ("code", [lines])                 literal lines (tables, formulas)
    Indentation decides: lines deeper than the paragraph's margin are literal,
    unless they continue a list item ("- ") or hang under a "name: " line."""
    out = []
    base = min((len(t) - len(t.lstrip()) for t in text if t.strip()), default=0)
    para, bullet, code = None, None, None

    def close():
        nonlocal para, bullet, code
        for b in (para, bullet, code):
            if b is not None:
                out.append(b)
        para = bullet = code = None

    hang = None                 # indent of a hanging item's continuation
    for t in text:
        if not t.strip():
            close()
            hang = None
            continue
        ind = len(t) - len(t.lstrip()) - base
        body = t.strip()
        if bullet is not None and ind > 0 and not body.startswith("- "):
            bind = bullet[2]
            if ind == bind + 2 and not re.search(r"\S {3,}\S", body):
                bullet[1].append(("text", body))
            else:
                bullet[1].append(("code", t[base + bind + 2:]))
            continue
        if body.startswith("- ") and ind <= 4:
            close()
            bullet = ("bullet", [("text", body[2:])], ind)
            continue
        tabular = re.search(r"\S {3,}\S", body) is not None
        if ind == 0 and not tabular:
            label = re.match(r"hitl_\w+( / hitl_\w+)*: ", body)
            if code is not None or bullet is not None or hang is not None or \
                    (label and para is not None):
                close()
                hang = None
            if para is None:
                para = ("para", [])
            para[1].append(body)
            continue
        if para is not None and ind <= 2 and not tabular and code is None:
            # a hanging continuation: "name: text\n  more text"
            para[1].append(body)
            hang = ind
            continue
        if para is not None or bullet is not None:
            close()
        if code is None:
            code = ("code", [])
        code[1].append(t[base:])
    close()
    return [(b[0], b[1]) for b in out]


def render(blks, mark):
    """man(7) lines for blocks (see blocks())."""
    out = []
    for kind, body in blks:
        if kind == "para":     # one sentence a line, as roff wants it
            out.append(".PP")
            out += [ctl(mark(x)) + ("\\&" if ABBREV_RE.search(x) else "")
                    for x in split_sentences(join_lines(body))]
        elif kind == "code":
            out += [".PP", ".nf"] + [ctl(esc(x, code=True)) for x in body] + [".fi"]
        else:
            out.append(".IP \\(bu 2")
            literal = False
            for k, x in body:
                if k == "code" and not literal:
                    out.append(".nf")
                    literal = True
                elif k == "text" and literal:
                    out.append(".fi")
                    literal = False
                out.append(ctl(esc(x, code=True)) if k == "code" else ctl(mark(x)))
            # (list items keep their lines: they are short)
            if literal:
                out.append(".fi")
    return out


def strip_prefix(doc):
    """The block minus its leading "hitl_a[ / hitl_b ...]: " label."""
    if doc and re.match(r"hitl_\w+( / [\w]+)*:", doc[0].strip()):
        first = re.sub(r"^\s*hitl_\w+( / [\w]+)*:\s*", "", doc[0])
        return ([first] if first.strip() else []) + doc[1:]
    return list(doc)


def summary(doc):
    """The first sentence of a block, for a NAME line."""
    first = next((b for k, b in blocks(strip_prefix(doc)) if k == "para"), [])
    sents = split_sentences(join_lines(first))
    if not sents:
        return ""
    s = sents[0].rstrip(".")
    if len(s) > 80:             # a NAME line is a summary: drop the asides
        s = re.sub(r"\s*\([^()]*\)", "", s)
        s = re.split(r",? (e\.g\.|i\.e\.) ", s)[0]
    for sep in (";", ":"):
        if len(s) > 80:
            s = split_top(s, sep)[0]
    if len(s) > 90:             # the longest head of the list that fits
        parts = split_top(s, ",")
        heads = [",".join(parts[:n]) for n in range(1, len(parts))]
        heads = [h for h in heads if 20 <= len(h) <= 90]
        s = heads[-1] if heads else s
    return s.rstrip(":").replace("`", "")


def split_doc(doc):
    """(description blocks, return sentences, thread sentences) of a
    function's block.  The paragraph that starts with "Returns"/"Return"
    gives RETURN VALUE (a paragraph about several functions, "hitl_x: ...",
    is left alone); thread-safety sentences of any paragraph go to NOTES."""
    desc, rets, threads = [], [], []
    for kind, body in blocks(strip_prefix(doc)):
        if kind != "para":
            desc.append((kind, body))
            continue
        text = join_lines(body)
        keep, in_ret = [], False
        per_function = re.match(r"hitl_\w+( / hitl_\w+)*:", text) is not None
        for s in split_sentences(text):
            if THREAD_RE.match(s):
                threads.append(s)
            elif not per_function and re.match(
                    r"(Returns?\b|Never fails|Same returns)", s):
                in_ret = True
                rets.append(s)
            elif in_ret and RET_MORE_RE.search(s):
                rets.append(s)
            else:
                keep.append(s)
        if keep:
            desc.append(("para", keep))
    if desc and desc[0][0] == "para":      # "hitl_x: an empty pool" -> "An ..."
        first = desc[0][1][0]
        if "_" not in first.split(" ")[0]:
            desc[0] = ("para", [first[:1].upper() + first[1:]] + desc[0][1][1:])
    return desc, rets, threads


def status_meanings(sections):
    """HITL_X -> the comment beside it in enum hitl_status."""
    meaning = {"HITL_OK": "Success."}
    for s in sections:
        for t in s.types:
            if "hitl_status" in t.names:
                code = "\n".join(t.codes)
                for m in re.finditer(r"(HITL_\w+)\s*=\s*-?\d+\s*,?\s*/\*(.*?)\*/",
                                     code, re.S):
                    text = " ".join(m.group(2).split())
                    meaning[m.group(1)] = text[:1].upper() + text[1:] + "."
    return meaning


def split_top(s, sep):
    """s split at sep outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


def render_returns(rets, mark, meaning):
    """RETURN VALUE: "Returns HITL_OK; HITL_EINVAL (why); ..." as a list of
    the status codes, the other sentences as text."""
    out = []
    for s in rets:
        m = re.match(r"Returns?:?\s+(.*?)\.?$", s)
        items = [x.strip() for x in split_top(m.group(1), ";")] if m else []
        if not items or not all(re.match(r"HITL_(OK|E[A-Z]+)\b", x) for x in items):
            out += [".PP", ctl(mark(s))]
            continue
        out += [".PP", "Returns one of:" if len(items) > 1 else "Returns:"]
        for x in items:
            code, rest = re.match(r"(HITL_\w+)\s*(.*)", x).groups()
            if rest.startswith("(") and rest.endswith(")") and \
                    len(split_top(rest[1:-1], ")")) == 1:
                rest = rest[1:-1]
            if code == "HITL_OK":
                text = "Success" + (" " + rest if rest else "") + "."
            elif not rest:
                text = meaning.get(code, "")
            else:
                text = rest[:1].upper() + rest[1:] + "."
            out += [".TP", ".B " + code, ctl(mark(text.replace("..", ".")))]
    return out


def see_also(own, texts, pages):
    refs = set()
    for t in texts:
        refs |= set(re.findall(r"\bhitl_\w+", " ".join(t)))
    return sorted(r for r in refs if r in pages and r not in own)


def header_lines(name, version, date):
    # no hyphenation and ragged right: identifiers stay whole
    return ['.TH %s 3 "%s" "libhitl %s" "libhitl Manual"' % (name, date, version),
            ".nh", ".ad l"]


def see_also_lines(pages, section_page=None):
    refs = ([section_page] if section_page else []) + \
        [p for p in pages if p != section_page] + ["libhitl"]
    return [".SH SEE ALSO", ",\n".join("\\fB%s\\fP(3)" % esc(r, True) for r in refs)]


def tidy(lines):
    """Drop empty paragraphs (a .PP followed by another break or heading)."""
    out = []
    for x in lines:
        if out and out[-1] in (".PP", ".IP \\(bu 2") and x in (".PP", ".SH", ".TP") \
                or (out and out[-1] == ".PP" and x.startswith((".SH", ".SS", ".PP", ".TP"))):
            out.pop()
        out.append(x)
    return "\n".join(out) + "\n"


def code_lines(code, bold=()):
    lines = []
    for ln in code.split("\n"):
        ln = esc(ln, code=True)
        for b in bold:
            ln = re.sub(r"\b%s\b" % b, "\\\\fB%s\\\\fP" % b, ln, count=1)
        lines.append(ctl(ln))
    return lines


def function_page(g, ctx):
    mark, pages, types = ctx["mark"], ctx["pages"], ctx["types"]
    sec = g.section
    desc, rets, threads = split_doc(g.doc)
    lines = header_lines(g.names[0], ctx["version"], ctx["date"])
    lines += [".SH NAME", "%s \\- %s" % (", ".join(esc(n, True) for n in g.names),
                                         esc(summary(g.doc)))]
    lines += [".SH SYNOPSIS", ".nf", ".B #include <hitl.h>"]
    merged = sec.page is None and sec.groups and sec.groups[0] is g
    if merged and sec.macros:
        lines += [".PP"] + code_lines("\n".join(sec.macros))
    for d in g.decls:
        lines += [".PP"] + code_lines(d, [n for n in g.names if n in d][:1])
    lines += [".fi", ".PP",
              "Compile and link with \\fI$(pkg\\-config \\-\\-cflags \\-\\-libs libhitl)\\fP."]
    lines += [".SH DESCRIPTION"] + render(desc, mark)
    if rets:
        lines += [".SH RETURN VALUE"] + render_returns(rets, mark, ctx["meaning"])
    used = []
    for t in types:
        if not t.opaque and any(re.search(r"\b%s\b" % n, d)
                                for n in t.names for d in g.decls):
            used.append(t)
    if used:
        lines.append(".SH TYPES")
        for t in used:
            size = len(t.doc) + sum(c.count("\n") + 1 for c in t.codes)
            home = ctx["type_page"].get(t.names[0])
            if size <= TYPES_INLINE_MAX or not home:
                lines += render(blocks(t.doc), mark)
                lines += [".PP", ".nf"] + code_lines("\n".join(t.codes)) + [".fi"]
                lines += [".PP"]
            else:
                lines += [".PP", "%s: see \\fB%s\\fP(3)." % (
                    ", ".join("\\fI%s\\fP" % esc(n, True) for n in t.names), esc(home, True))]
    notes = []
    if merged:
        for p in sec.prose:
            notes += render(blocks(p), mark)
    if threads:
        notes += [".PP", ctl(mark("  ".join(threads)))]
    notes += [".PP", "The conventions of every call (status codes, detail messages, "
              "ownership, threads) are in \\fBlibhitl\\fP(3)."]
    lines += [".SH NOTES"] + notes
    refs = see_also(g.names, [g.doc] + [t.doc for t in used], pages)
    lines += see_also_lines(refs, sec.page if sec.page not in g.names else None)
    return tidy(lines)


def section_page(sec, ctx):
    mark = ctx["mark"]
    names = [sec.page] + sec.aliases
    title = sec.title[:1].lower() + sec.title[1:] if not sec.title[1:2].isupper() \
        else sec.title
    lines = header_lines(sec.page, ctx["version"], ctx["date"])
    lines += [".SH NAME", "%s \\- %s" % (", ".join(esc(n, True) for n in names),
                                         esc(title))]
    lines += [".SH SYNOPSIS", ".nf", ".B #include <hitl.h>"]
    for t in sec.types:
        lines += [".PP"] + code_lines("\n".join(t.codes), t.names)
    if sec.macros:
        lines += [".PP"] + code_lines("\n".join(sec.macros))
    lines += [".fi", ".SH DESCRIPTION"]
    for p in sec.prose:
        lines += render(blocks(p), mark)
    for t in sec.types:
        if t.doc:
            lines += [".SS " + ", ".join(esc(n, True) for n in t.names)]
            lines += render(blocks(t.doc), mark)
    if sec.groups:
        lines.append(".SH FUNCTIONS")
        for g in sec.groups:
            lines += [".TP", ", ".join("\\fB%s\\fP(3)" % esc(n, True) for n in g.names),
                      ctl(esc(summary(g.doc)[:1].upper() + summary(g.doc)[1:])) + "."]
    others = sorted(s.page for s in ctx["sections"] if s.page and s is not sec)
    refs = see_also(names, sec.prose + [t.doc for t in sec.types],
                    ctx["pages"] - {n for g in sec.groups for n in g.names})
    lines += see_also_lines(sorted(set(refs) | set(others)))
    return tidy(lines)


def overview(path, ctx, srcdir):
    """The hand-written overview with its include: and index lines filled in."""
    out = []
    for ln in open(path, encoding="utf-8").read().split("\n"):
        m = re.match(r'\.\\"\s*include:\s*(\S+)\s*$', ln)
        if m:
            with open(os.path.join(srcdir, m.group(1)), encoding="utf-8") as f:
                text = f.read().rstrip("\n").split("\n")
            out += [".PP", ".in +4n", ".EX"] + \
                [ctl(esc(x.expandtabs(), code=True)) for x in text] + [".EE", ".in"]
        elif re.match(r'\.\\"\s*index\s*$', ln):
            for s in ctx["sections"]:
                if s.page:
                    out += [".TP", "\\fB%s\\fP(3)" % esc(s.page, True),
                            ctl(esc(s.title)) + "."]
                else:
                    for g in s.groups[:1]:
                        out += [".TP", "\\fB%s\\fP(3)" % esc(g.names[0], True),
                                ctl(esc(s.title)) + "."]
            out += [".PP", "Every function has a page of its own:"]
            fns = sorted(n for s in ctx["sections"] for g in s.groups for n in g.names)
            out += [",\n".join("\\fB%s\\fP(3)" % esc(n, True) for n in fns) + "."]
        else:
            out.append(ln)
    text = "\n".join(out)
    return re.sub(r'^(\.TH \S+ \S+ )"[^"]*" "[^"]*"', r'\1"%s" "libhitl %s"' % (
        ctx["date"], ctx["version"]), text, count=1, flags=re.M)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--overview", help="hand-written overview page (man/libhitl.3)")
    ap.add_argument("--srcdir", default=".", help="where include: paths start")
    a = ap.parse_args()

    sections = parse(a.header)
    functions = name_pages(sections)
    pages = set(functions) | {s.page for s in sections if s.page} | \
        {n for s in sections for n in s.aliases}
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    stamp = int(epoch) if epoch else int(os.stat(a.header).st_mtime)
    ctx = {"sections": sections, "pages": pages, "mark": Markup(pages),
           "version": a.version,
           "date": time.strftime("%Y-%m-%d", time.gmtime(stamp)),
           "types": [t for s in sections for t in s.types],
           "type_page": {n: s.page for s in sections for t in s.types
                         for n in t.names if s.page},
           "meaning": status_meanings(sections)}

    files = {}
    for s in sections:
        for g in s.groups:
            files[g.names[0]] = function_page(g, ctx)
            for n in g.names[1:]:
                files[n] = ".so man3/%s.3\n" % g.names[0]
        if s.page:
            files[s.page] = section_page(s, ctx)
            for n in s.aliases:
                files[n] = ".so man3/%s.3\n" % s.page
    if a.overview:
        name = os.path.splitext(os.path.basename(a.overview))[0]
        files[name] = overview(a.overview, ctx, a.srcdir)

    os.makedirs(a.outdir, exist_ok=True)
    listing = os.path.join(a.outdir, "pages.list")
    old = open(listing).read().split() if os.path.exists(listing) else []
    for name, text in files.items():
        path = os.path.join(a.outdir, name + ".3")
        if not (os.path.exists(path) and open(path, encoding="utf-8").read() == text):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    written = sorted(n + ".3" for n in files)
    for stale in set(old) - set(written):
        try:
            os.remove(os.path.join(a.outdir, stale))
        except FileNotFoundError:
            pass
    with open(listing + ".tmp", "w") as f:
        f.write("\n".join(written) + "\n")
    os.replace(listing + ".tmp", listing)


if __name__ == "__main__":
    main()
