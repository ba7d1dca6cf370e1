#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: `pmadvise --cgroup DIR` covers every process of a cgroup v2
directory made for the test, and nothing else."""

import os
import subprocess
import sys
import time

from clitest import (cgroup2_root, check, need_root, on_sigterm_exit,
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


def main():
    on_sigterm_exit()
    need_root()
    root = cgroup2_root()
    if not root:
        skip("no cgroup v2 hierarchy mounted")
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
            check(("PID %d (python3)" % pid) in p.stdout,
                  "human summary lists PID %d" % pid)
        check("4 processes: 4 listed" in p.stdout, "human total line")
        p = run(["--cgroup", cg + "-missing", "--anon"], check_rc=2)
        check("cgroup.procs" in p.stderr, "a missing cgroup is named")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        rmdir_cgroup(cg)
    print("PASS")


main()
