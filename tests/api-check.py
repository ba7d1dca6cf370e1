#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check that the exported API is listed the same way everywhere.

The version script (src/lib/libprocmadvise.map), the public header
(include/procmadvise.h) and the man pages (man/man*/) must agree on the set
of pmadv_* functions:

  - every function the version script exports is declared in the header,
    and every pmadv_* function the header declares is exported;
  - every exported function has a man page of its own name, either a full
    page or a ".so" alias page;
  - every exported function appears in the NAME section of some full page;
  - no man page, alias or NAME line names a pmadv_* function that is not
    exported, and every ".so" alias points to a page that exists.

Prints each difference and exits 1 if there is any, 0 otherwise.
Usage: api-check.py [SOURCE_ROOT]   (default: the parent of this directory)
"""

import os
import re
import sys

PREFIX = "pmadv_"


def strip_c(text):
    """The header without comments, preprocessor lines and string literals."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    lines = []
    continued = False
    for line in text.split("\n"):
        is_pp = continued or line.lstrip().startswith("#")
        continued = is_pp and line.rstrip().endswith("\\")
        lines.append("" if is_pp else line)
    return "\n".join(lines)


def header_functions(path):
    """Names of the pmadv_* functions the header declares.

    A function declaration is an identifier followed by "(" outside any
    parentheses (so parameters and function-pointer types do not count)
    and outside any braces (struct members).
    """
    text = strip_c(open(path, encoding="utf-8").read())
    names = set()
    paren = brace = 0
    for m in re.finditer(r"[A-Za-z_]\w*|[(){}]", text):
        tok = m.group(0)
        if tok == "(":
            paren += 1
        elif tok == ")":
            paren -= 1
        elif tok == "{":
            brace += 1
        elif tok == "}":
            brace -= 1
        elif tok.startswith(PREFIX) and paren == 0:
            rest = text[m.end():].lstrip()
            # Depth 0 is file scope, 1 is file scope inside the header's
            # extern "C" { }; deeper is a struct or union body.
            if rest.startswith("(") and brace <= 1:
                names.add(tok)
    return names


def map_functions(path):
    """Names in the global: parts of the version script."""
    text = re.sub(r"#[^\n]*|/\*.*?\*/", " ", open(path, encoding="utf-8").read(),
                  flags=re.S)
    names = set()
    for block in re.finditer(r"\{(.*?)\}", text, flags=re.S):
        section = None
        for tok in re.finditer(r"(global|local)\s*:|([A-Za-z_][\w*?]*)\s*;",
                               block.group(1)):
            if tok.group(1):
                section = tok.group(1)
            elif section == "global":
                names.add(tok.group(2))
    return names


def roff_plain(text):
    """Roff text with font escapes and the common character escapes removed."""
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", text)
    text = text.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
    return text


def read_pages(mandir):
    """{name: (path, so_target or None, [names in NAME section])}."""
    pages = {}
    for sect in sorted(os.listdir(mandir)):
        sdir = os.path.join(mandir, sect)
        if not (sect.startswith("man") and os.path.isdir(sdir)):
            continue
        for fname in sorted(os.listdir(sdir)):
            path = os.path.join(sdir, fname)
            if not os.path.isfile(path) or "." not in fname:
                continue
            name = fname.rsplit(".", 1)[0]
            lines = open(path, encoding="utf-8").read().split("\n")
            body = [ln for ln in lines
                    if ln.strip() and not ln.startswith(('.\\"', "'\\\""))]
            so = None
            if body and body[0].startswith(".so "):
                so = body[0].split(None, 1)[1].strip()
            names = []
            in_name = False
            for ln in lines:
                if ln.startswith(".SH"):
                    in_name = ln[3:].strip().strip('"').upper() == "NAME"
                    continue
                if not in_name or ln.startswith('.\\"'):
                    continue
                ln = roff_plain(ln)
                if ln.startswith("."):  # a macro line such as .B name
                    ln = ln.split(None, 1)[1] if " " in ln else ""
                head = re.split(r"\s+-\s+|\s+-$|^-\s+", ln, maxsplit=1)[0]
                names += [n.strip() for n in head.split(",") if n.strip()]
                if len(re.split(r"\s+-\s+|\s+-$|^-\s+", ln, maxsplit=1)) > 1:
                    in_name = False  # the description follows the dash
            pages[(sect, name)] = (path, so, names)
    return pages


def main():
    root = (sys.argv[1] if len(sys.argv) > 1
            else os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    mapfile = os.path.join(root, "src", "lib", "libprocmadvise.map")
    header = os.path.join(root, "include", "procmadvise.h")
    mandir = os.path.join(root, "man")
    problems = []

    exported = map_functions(mapfile)
    declared = header_functions(header)
    pages = read_pages(mandir)

    for f in sorted(exported - declared):
        problems.append(f"{f}: exported by the version script, not declared "
                        f"in include/procmadvise.h")
    for f in sorted(declared - exported):
        problems.append(f"{f}: declared in include/procmadvise.h, not "
                        f"exported by the version script")

    page_files = {name for (_, name) in pages}
    named = {}
    for (sect, name), (path, so, names) in pages.items():
        rel = os.path.relpath(path, root)
        if so is not None:
            target = os.path.join(mandir, so)
            if not os.path.isfile(target):
                problems.append(f"{rel}: .so points to {so}, which does not "
                                f"exist")
            continue
        if not names:
            problems.append(f"{rel}: no NAME section")
        for n in names:
            named.setdefault(n, []).append(rel)

    api = exported | declared
    for f in sorted(api):
        if f not in page_files:
            problems.append(f"{f}: no man page or .so alias named after it")
        if f not in named:
            problems.append(f"{f}: not named in the NAME section of any page")
    for (sect, name), (path, _, _) in sorted(pages.items()):
        if name.startswith(PREFIX) and name not in api:
            problems.append(f"{os.path.relpath(path, root)}: documents "
                            f"{name}, which is not part of the API")
    for n, where in sorted(named.items()):
        if n.startswith(PREFIX) and n not in api:
            problems.append(f"{', '.join(where)}: NAME lists {n}, which is "
                            f"not part of the API")

    for p in problems:
        print(p)
    if problems:
        print(f"api-check: {len(problems)} difference(s) between the version "
              f"script, the header and the man pages")
        return 1
    print(f"api-check: {len(exported)} functions agree in the version script, "
          f"the header and the man pages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
