#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: --json is strict UTF-8 whatever the target is called. The
kernel keeps a command name as 15 bytes: a name set with PR_SET_NAME to
bytes that are not UTF-8, and a program whose Cyrillic name the kernel cut
in the middle of a character, both come out with U+FFFD for each stray
byte, and every document parses with json.loads on strictly decoded
bytes."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

from clitest import check, fail, on_sigterm_exit, run, run_json

# Sets its own name to the bytes given in hex, then waits on stdin.
RENAME = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0):
    sys.exit("PR_SET_NAME failed")
print("named", flush=True)
sys.stdin.readline()
"""


def comm_bytes(pid):
    with open("/proc/%d/comm" % pid, "rb") as f:
        return f.read().rstrip(b"\n")


def comm_of_json(pid, expect_rc=0):
    _, doc = run_json(["--anon", "--dry-run", pid], check_rc=expect_rc)
    procs = doc["processes"]
    if len(procs) != 1:
        fail("one process expected, got %d" % len(procs))
    return procs[0]["comm"]


def start_named(name):
    """A target that named itself with the bytes name (checked)."""
    p = subprocess.Popen([sys.executable, "-c", RENAME, name.hex()],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    if p.stdout.readline().strip() != b"named":
        p.kill()
        p.wait()
        fail("the renaming target did not start")
    check(comm_bytes(p.pid) == name, "the kernel kept the bytes %r" % name)
    return p


def test_pr_set_name():
    name = b"\xff\xfeodd\xc3\x28"  # two stray bytes, a bad 2-byte sequence
    p = start_named(name)
    try:
        comm = comm_of_json(p.pid)
        check(comm == "\ufffd\ufffdodd\ufffd(",
              "PR_SET_NAME bytes \\xff\\xfe: each stray byte is U+FFFD "
              "(%r)" % comm)
    finally:
        p.kill()
        p.wait()


def test_control_characters():
    """A name with a newline and a terminal escape: JSON carries it whole
    (escaped by JSON's rules); the table (libsmartcols) shows \\xNN for
    each control byte, so the name stays on its line (wider than COMM,
    the row's next cells go on the line below, under their columns), and
    --raw escapes the backslash too."""
    name = b"a\nb\x1b[31mc\\"
    p = start_named(name)
    try:
        comm = comm_of_json(p.pid)
        check(comm == name.decode(), "JSON keeps the whole name, newline "
              "included (%r)" % comm)
        out = run(["--anon", "--dry-run", p.pid], check_rc=0).stdout
        rows = out.splitlines()
        check(rows[1].split() == [str(p.pid), "a\\x0ab\\x1b[31mc\\"] and
              rows[2].split()[0] == "ok" and "\x1b" not in out,
              "the table escapes control bytes: %r" % out)
        out = run(["--anon", "--dry-run", "-n", "-o", "pid,comm", p.pid],
                  check_rc=0).stdout
        check(out.lstrip(" ") == "%d a\\x0ab\\x1b[31mc\\\n" % p.pid,
              "the table shows \\xNN for each control byte: %r" % out)
        out = run(["--anon", "--dry-run", "-r", "-o", "comm", p.pid],
                  check_rc=0).stdout
        check(out == "COMM\na\\x0ab\\x1b[31mc\\x5c\n",
              "--raw escapes the backslash too: %r" % out)
        out = run(["reap", p.pid], check_rc=0).stdout
        check(out.startswith("PID %d (a\\x0ab\\x1b[31mc\\x5c): " % p.pid)
              and "\x1b" not in out,
              "pmadvise reap escapes control bytes too: %r" % out)
    finally:
        p.kill()
        p.wait()


def test_cut_cyrillic():
    d = tempfile.mkdtemp(prefix="pmadv-json-")
    try:
        # Eight Cyrillic letters are 16 bytes; the kernel keeps 15.
        prog = os.path.join(d, "абвгдежз")
        # A sleep that works under any name: not a busybox applet (the VM
        # guests put coreutils' sleep first in PATH).
        shutil.copy(shutil.which("sleep"), prog)
        p = subprocess.Popen([prog, "120"])
        try:
            for _ in range(200):  # until the child has run execve
                if os.readlink("/proc/%d/exe" % p.pid) == prog:
                    break
                time.sleep(0.01)
            raw = comm_bytes(p.pid)
            check(raw == "абвгдежз".encode()[:15] and raw[-1] == 0xd0,
                  "the kernel cut the name inside a character (%r)" % raw)
            comm = comm_of_json(p.pid)
            check(comm == "абвгдеж\ufffd",
                  "the cut character is U+FFFD, the rest kept (%r)" % comm)
        finally:
            p.kill()
            p.wait()
    finally:
        shutil.rmtree(d)


def main():
    on_sigterm_exit()
    test_pr_set_name()
    test_control_characters()
    test_cut_cyrillic()
    print("PASS")


main()
