#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints, one a line, the host files that python3 needs in the VM guest
(tests/vm) to run the given scripts: the interpreter (first), os.py (the landmark
of its prefix), encodings/ (looked up by name at run time), and every
standard-library module, source or extension, that importing what the
scripts import (also in programs they run from strings with -c) loads,
and the compiled cache (__pycache__/*.pyc) of each source.
Modules that sit beside a script (e.g. clitest.py)
are followed into but not printed: the script's directory goes into the
guest whole. With no script: what the interpreter needs to start."""

import ast
import importlib.util
import os
import subprocess
import sys


def imported(script, seen, names):
    """Adds to names every top-level module the script imports, anywhere in
    it, also in the programs it runs from strings (python3 -c); follows the
    ones that are files beside it."""
    if script in seen:
        return
    seen.add(script)
    with open(script, encoding="utf-8") as f:
        code_imports(f.read(), os.path.dirname(script), seen, names)


def code_imports(code, here, seen, names):
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            mods = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and "import" in node.value:
            code_imports(node.value, here, seen, names)
            continue
        else:
            continue
        for m in mods:
            local = os.path.join(here, m.split(".")[0] + ".py")
            if os.path.exists(local):
                imported(local, seen, names)
            else:
                names.add(m)


# Run in the interpreter the guest gets: imports each module named on its
# command line and prints its standard library's directory, then the file of every module that is loaded then.
PROBE = """
import importlib, os, sys
print(os.path.dirname(os.__file__))
for m in sys.argv[1:]:
    importlib.import_module(m)
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f:
        print(f)
"""


def main():
    python = "/usr/bin/python3"
    names = set()
    seen = set()
    for script in sys.argv[1:]:
        imported(os.path.abspath(script), seen, names)
    out = subprocess.run([python, "-I", "-c", PROBE] + sorted(names),
                         capture_output=True, text=True, check=True).stdout
    stdlib, *loaded = out.split()
    files = {os.path.join(stdlib, "os.py"), os.path.join(stdlib, "encodings")}
    for f in loaded:
        if f.startswith(stdlib + os.sep) and \
                not f.startswith(os.path.join(stdlib, "encodings") + os.sep):
            files.add(f)
    # The compiled cache of each module too (a timestamp pyc, valid while
    # the source keeps its mtime and size, which the guest's copy keeps):
    # without it every python3 in the guest compiles what it imports, and
    # under TCG that is most of a start.
    for f in list(files):
        if f.endswith(".py"):
            pyc = importlib.util.cache_from_source(f)
            if os.path.exists(pyc):
                files.add(pyc)
    print(python)
    for f in sorted(files):
        print(f)


if __name__ == "__main__":
    main()
