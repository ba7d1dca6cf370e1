#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: `pmadvise --cgroup DIR` covers every process of a cgroup v2
directory made for the test, and nothing else; in a threaded cgroup, whose
cgroup.procs cannot be read (EOPNOTSUPP), the processes of the threads in
cgroup.threads; a directory that is not a cgroup, or is missing, is an
error (exit 2, the directory named), never an empty cgroup."""

import errno
import os
import re
import subprocess
import sys
import tempfile
import time

from clitest import (cgroup2_root, check, fail, need_root, on_sigterm_exit,
                     rmdir_cgroup, run, run_json, skip)


def start_members(cg, n):
    """n python3 processes that move themselves into cg, then sleep."""
    code = ("import sys, time\n"
            "open(sys.argv[1] + '/cgroup.procs', 'w').write('0')\n"
            "buf = bytearray(8 << 20)\n"
            "for i in range(0, len(buf), 4096): buf[i] = 1\n"
            "print('in', flush=True)\n"
            "time.sleep(60)\n")
    procs = []
    for _ in range(n):
        p = subprocess.Popen([sys.executable, "-c", code, cg],
                             stdout=subprocess.PIPE, text=True)
        procs.append(p)
    for p in procs:
        if p.stdout.readline().strip() != "in":
            raise RuntimeError("a member did not join the cgroup")
    return procs


# Joins the domain cgroup argv[1] and maps 8 MiB, then starts two threads
# that move themselves into its threaded child argv[2], and sleeps.
THREADED = r"""
import sys, threading, time
open(sys.argv[1] + "/cgroup.procs", "w").write("0")
buf = bytearray(8 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
moved = threading.Barrier(3)
def member():
    open(sys.argv[2] + "/cgroup.threads", "w").write(
        str(threading.get_native_id()))
    moved.wait()
    time.sleep(60)
for _ in range(2):
    threading.Thread(target=member, daemon=True).start()
moved.wait()
print("in", flush=True)
time.sleep(60)
"""


def test_threaded(root):
    top = os.path.join(root, "pmadvise-threaded-%d" % os.getpid())
    leaf = os.path.join(top, "t")
    os.mkdir(top)
    p = None
    try:
        os.mkdir(leaf)
        try:
            with open(os.path.join(leaf, "cgroup.type"), "w") as f:
                f.write("threaded")
        except OSError as e:
            skip("cannot make a threaded cgroup under %s: %s" % (root, e))
        p = subprocess.Popen([sys.executable, "-c", THREADED, top, leaf],
                             stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "in":
            raise RuntimeError("the threads did not join the cgroup")
        try:
            open(os.path.join(leaf, "cgroup.procs")).read()
            fail("cgroup.procs of a threaded cgroup was readable")
        except OSError as e:
            check(e.errno == errno.EOPNOTSUPP,
                  "a threaded cgroup's cgroup.procs answers EOPNOTSUPP")
        with open(os.path.join(leaf, "cgroup.threads")) as f:
            check(len(f.read().split()) == 2, "two threads in it")
        r, doc = run_json(["--cgroup", leaf, "--anon"], check_rc=0)
        procs = doc["processes"]
        check([x["pid"] for x in procs] == [p.pid],
              "the threads' process, once: %s" % [x["pid"] for x in procs])
        check(procs[0]["status"] == "ok" and
              procs[0]["bytes_advised"] > 8 << 20,
              "its memory advised, 8 MiB buffer included")
        check("threaded cgroup" in r.stderr and "2 threads" in r.stderr,
              "stderr says the processes came from threads")
    finally:
        if p:
            p.kill()
            p.wait()
        rmdir_cgroup(leaf)
        rmdir_cgroup(top)


def test_read_error():
    # A directory that only looks like a cgroup (a cgroup.procs in tmpfs):
    # refused as not a cgroup, never "no processes" and exit 0.
    d = tempfile.mkdtemp(prefix="pmadv-cg-")
    try:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write("%d\n" % os.getpid())
        p = run(["--cgroup", d, "--anon", "--json"], check_rc=2)
        check(d in p.stderr and "EMEDIUMTYPE" in p.stderr and
              "not a cgroup directory" in p.stderr,
              "the directory and the error are named: %s" % p.stderr)
        check(p.stdout == "", "no JSON document claims an empty cgroup")
    finally:
        os.unlink(os.path.join(d, "cgroup.procs"))
        os.rmdir(d)


def main():
    on_sigterm_exit()
    need_root()
    root = cgroup2_root()
    if not root:
        skip("no cgroup v2 hierarchy mounted")
    test_read_error()
    test_threaded(root)
    cg = os.path.join(root, "pmadvise-test-%d" % os.getpid())
    os.mkdir(cg)
    procs = []
    try:
        procs = start_members(cg, 4)
        with open(cg + "/cgroup.procs") as f:
            members = sorted(int(x) for x in f.read().split())
        check(len(members) == 4, "four processes in the cgroup")
        p, doc = run_json(["--cgroup", cg, "--anon", "--advice", "cold"],
                          check_rc=0)
        seen = sorted(x["pid"] for x in doc["processes"])
        check(seen == members, "--cgroup advised exactly the cgroup's "
              "processes %s (got %s)" % (members, seen))
        check(all(x["status"] == "ok" and x["bytes_advised"] > 8 << 20
                  for x in doc["processes"]),
              "each member had its 8 MiB buffer advised")
        check(doc["summary"]["processes"] == 4 and
              doc["summary"]["ok"] == 4, "summary counts four")
        p = run(["--cgroup", cg, "--anon", "--dry-run", "--advice", "cold"],
                check_rc=0)
        for pid in members:
            check(re.search(r"^ *%d python3 " % pid, p.stdout, re.M),
                  "human summary lists PID %d" % pid)
        check("4 processes: 4 listed" in p.stdout, "human total line")
        p = run(["--cgroup", cg + "-missing", "--anon"], check_rc=2)
        check((cg + "-missing") in p.stderr and "ENOENT" in p.stderr,
              "a missing cgroup is named")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        rmdir_cgroup(cg)
    print("PASS")


main()
