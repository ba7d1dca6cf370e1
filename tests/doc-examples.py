#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every C example in README.md and the man pages is compiled, and run
where it can run.

Blocks: ```c fences of README.md; .EX/.EE blocks of man/man*/* (groff
escapes undone). Each is one of:
  - a structure synopsis ("struct NAME {...};" alone): compiled under
    another tag and checked field by field (offset) and in size against the
    header's structure of that name;
  - a program (it has main): compiled; run with the arguments RUNS gives
    its page, against a live target, expecting exit 0;
  - a fragment: compiled as the body of a function, where pid, t, addr1,
    len1, addr2, len2, opts and res are given (globals, which the fragment's
    own declarations may shadow), and run twice: against a live target,
    and against one that has exited before the fragment runs, as a daemon's
    targets do. Locals start as a 0xfe pattern
    (-ftrivial-auto-var-init=pattern), so a fragment that frees or reads a
    variable it never set crashes here;
  - anything else (shell sessions, JSON, udev rules, all of section 8):
    skipped, and counted.
Prints one line per block and exits 1 if any failed.
Usage: doc-examples.py SOURCE_ROOT BUILD_ROOT CC
"""

import os
import re
import subprocess
import sys
import tempfile

SRC, BUILD, CC = sys.argv[1], sys.argv[2], sys.argv[3]

# Arguments a program example of a page runs with: {pid} is a live target,
# {addr} and {len} one of its anonymous mappings.
RUNS = {
    "pmadv_advise.3": ["{pid}", "cold", "{addr}", "{len}"],
    "pmadv_vma_fill.3": ["{pid}"],
    "pmadv_kill_reap.3": ["{pid}"],
    "pmadv_open_self.3": [],
}

CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror",
          "-Wno-unused-variable", "-Wno-unused-but-set-variable",
          "-ftrivial-auto-var-init=pattern", "-O1", "-g",
          "-I" + os.path.join(SRC, "include"),
          "-I" + os.path.join(BUILD, "include")]
LIBS = ["-L" + os.path.join(BUILD, "src", "lib"), "-lprocmadvise",
        "-Wl,-rpath," + os.path.join(BUILD, "src", "lib")]

PRELUDE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <procmadvise.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
"""

FRAGMENT_MAIN = r"""
/* What the examples take as given. */
pid_t pid;
struct pmadv_target *t;
void *addr1, *addr2;
size_t len1, len2;
struct pmadv_opts opts = PMADV_OPTS_INIT;
struct pmadv_result res;

static void example(void)
{
#line 1 "%(where)s"
%(code)s
}

/* argv[1]: "live", or "gone" for a target that exits first. */
int main(int argc, char **argv)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *a = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int st;

	if (argc != 2 || a == MAP_FAILED)
		return 2;
	memset(a, 1, 4 * page);
	addr1 = a, len1 = page, addr2 = a + 2 * page, len2 = page;
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	if (pid < 0 || pmadv_open(pid, 0, &t) < 0)
		return 2;
	if (!strcmp(argv[1], "gone")) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	example();
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return 0;
}
"""

GROFF = [(r"\e", "\\"), (r"\-", "-"), (r"\[aq]", "'"), (r"\[dq]", '"'),
         (r"\(aq", "'"), (r"\(dq", '"'), (r"\~", " "), (r"\ ", " ")]


def ungroff(line):
    if line.startswith("\\&"):
        line = line[2:]
    line = re.sub(r"\\f(\[[^\]]*\]|.)", "", line)
    for a, b in GROFF:
        line = line.replace(a, b)
    return line


def blocks():
    readme = os.path.join(SRC, "README.md")
    with open(readme) as f:
        text = f.read()
    for i, m in enumerate(re.finditer(r"```c\n(.*?)```", text, re.S)):
        yield "README.md block %d" % (i + 1), "README.md", m.group(1)
    mandir = os.path.join(SRC, "man")
    for sect in sorted(os.listdir(mandir)):
        d = os.path.join(mandir, sect)
        if not os.path.isdir(d):
            continue
        for page in sorted(os.listdir(d)):
            with open(os.path.join(d, page)) as f:
                lines = f.read().split("\n")
            code, n, inside = [], 0, False
            for line in lines:
                if line.startswith(".EX"):
                    inside, code = True, []
                elif line.startswith(".EE"):
                    inside = False
                    n += 1
                    yield ("%s example %d" % (page, n), page,
                           "\n".join(code) + "\n")
                elif inside:
                    code.append(ungroff(line))


def kind(page, code):
    lines = [l for l in code.split("\n") if l.strip()]
    # section 8 shows commands and their output, never C
    if page.endswith(".8") or not lines or \
            any(re.match(r"\s*[$#] ", l) for l in lines):
        return "skip"
    if re.match(r"\s*struct \w+ \{", lines[0]) and \
            lines[-1].strip() == "};" and \
            sum(l.strip() == "};" for l in lines) == 1:
        return "synopsis"
    if re.search(r"^\w[\w\s\*]*\bmain\s*\(", code, re.M) or \
            re.search(r"^main\s*\(", code, re.M):
        return "program"
    if ";" in code and not code.lstrip().startswith("{"):
        return "fragment"
    return "skip"


def compile_c(src, out, link=True):
    p = subprocess.run([CC] + CFLAGS + ["-x", "c", "-", "-o", out] +
                       (LIBS if link else ["-c"]),
                       input=src, capture_output=True, text=True)
    return p.returncode == 0, p.stderr


def synopsis(where, code, tmp):
    m = re.match(r"\s*struct (\w+) \{", code)
    name = m.group(1)
    header = "procmadvise-ioctl.h" if name.startswith("procmadvise") \
        else "procmadvise.h"
    body = code.replace("struct %s {" % name, "struct doc_%s {" % name, 1)
    fields = []
    for line in body.split("\n")[1:]:
        line = re.sub(r"/\*.*?\*/", "", line)
        fields += re.findall(r"\**\s*([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*[,;]",
                             line)
    checks = "".join(
        '_Static_assert(offsetof(struct doc_%s, %s) == offsetof(struct %s, '
        '%s), "%s: field %s is not where the header has it");\n'
        % (name, f, name, f, where, f) for f in fields)
    src = "%s#include <linux/types.h>\n#include <%s>\n%s\n%s" \
          "_Static_assert(sizeof(struct doc_%s) == sizeof(struct %s), " \
          '"%s: another size than the header\'s");\n' % (
              PRELUDE, header, body, checks, name, name, where)
    return compile_c(src, os.path.join(tmp, "syn.o"), link=False)


def live_target():
    """A python3 process with an anonymous mapping: (Popen, addr, len)."""
    p = subprocess.Popen(
        [sys.executable, "-c",
         "import mmap, ctypes, sys\n"
         "m = mmap.mmap(-1, 1 << 20)\n"
         "m.write(b'x' * (1 << 20))\n"
         "a = ctypes.addressof(ctypes.c_char.from_buffer(m))\n"
         "print('%#x %d' % (a, 1 << 20), flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    addr, length = p.stdout.readline().split()
    return p, addr, length


def main():
    failed, counts = 0, {}
    with tempfile.TemporaryDirectory() as tmp:
        for where, page, code in blocks():
            k = kind(page, code)
            counts[k] = counts.get(k, 0) + 1
            ok, err = True, ""
            if k == "synopsis":
                ok, err = synopsis(where, code, tmp)
            elif k == "program":
                exe = os.path.join(tmp, "prog")
                ok, err = compile_c(code, exe)
                if ok and page in RUNS:
                    target, addr, length = live_target()
                    args = [a.format(pid=target.pid, addr=addr, len=length)
                            for a in RUNS[page]]
                    r = subprocess.run([exe] + args, capture_output=True,
                                       text=True, timeout=60)
                    target.kill()
                    target.wait()
                    ok = r.returncode == 0
                    err = "ran %s: exit %d\n%s%s" % (
                        " ".join(args), r.returncode, r.stdout, r.stderr)
                elif ok:
                    k = "program (compiled; no recipe to run it)"
            elif k == "fragment":
                exe = os.path.join(tmp, "frag")
                ok, err = compile_c(PRELUDE + FRAGMENT_MAIN % {
                    "where": where, "code": code}, exe)
                for mode in ("live", "gone") if ok else ():
                    r = subprocess.run([exe, mode], capture_output=True,
                                       text=True, timeout=60)
                    if r.returncode != 0:
                        ok = False
                        err += "ran against a %s target: exit %d\n%s%s" % (
                            mode, r.returncode, r.stdout, r.stderr)
            print("%s %s: %s" % ("ok  " if ok else "FAIL", where, k))
            if not ok:
                failed += 1
                print("    " + err.strip().replace("\n", "\n    "))
    print("%s; %d failed" % (", ".join("%d %s" % (v, k)
                                      for k, v in sorted(counts.items())),
                            failed))
    return 1 if failed else 0


sys.exit(main())
