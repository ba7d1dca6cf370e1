#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Faults a breaker round on issue 13 found (at f210d35), each kept as a
case:
pmadvise reap on a zombie, on itself, on a vfork child whose memory its
parent keeps, and on a victim whose /proc/PID/status is longer than 4 KiB."""

import os
import subprocess
import sys
import time

from clitest import check, fail, need_root, on_sigterm_exit, pmadvise_path, run, run_json


def test_zombie():
    # 'true' exits and stays a zombie: its parent (exec'd sleep) never waits
    par = subprocess.Popen(["sh", "-c", "true & exec sleep 30"])
    try:
        time.sleep(0.5)
        kids = open("/proc/%d/task/%d/children" % (par.pid, par.pid)).read().split()
        check(len(kids) == 1, "one zombie child")
        z = int(kids[0])
        check(open("/proc/%d/stat" % z).read().split(")")[1].split()[0] == "Z",
              "it is a zombie")
        r, doc = run_json(["reap", z])
        p = doc["processes"][0]
        # pmadv_kill_reap(3): ESRCH "The process had exited before the
        # signal. Nothing was sent." -- exit status 4 (target gone)
        check(r.returncode == 4, "a zombie is a target gone (exit 4), not "
              "'freed' (got %d)" % r.returncode)
        check(not p["signalled"], "nothing is signalled to a zombie")
    finally:
        par.kill()
        par.wait()


def test_self():
    # pmadvise reap given its own PID: it kills itself, with no report
    r = subprocess.run(["sh", "-c", 'exec "$0" reap --json $$', pmadvise_path()],
                       capture_output=True, timeout=30)
    print("self: rc", r.returncode, r.stdout, r.stderr)
    check(r.returncode >= 0, "pmadvise does not SIGKILL itself (rc %d)"
          % r.returncode)
    check(r.stderr, "the refusal is named on stderr")




def build_vfork():
    """helpers/vfork-mm.c, built by meson (the VM guests have no
    compiler)."""
    return os.path.join(os.environ["PMADV_CLI_HELPERS"], "cli-helper-vfork-mm")


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_vfork_child_shares_mm():
    par = subprocess.Popen([build_vfork()], stdout=subprocess.PIPE, text=True)
    try:
        par.stdout.readline()
        time.sleep(0.5)
        kids = open("/proc/%d/task/%d/children" % (par.pid, par.pid)).read().split()
        check(len(kids) == 1, "the vfork child is there")
        c = int(kids[0])
        r, doc = run_json(["reap", c])
        time.sleep(0.3)
        left = rss_kb(par.pid)
        p = doc["processes"][0]
        print("parent still holds %d kB; reported released %d bytes, freed_by %s"
              % (left, p["bytes_released"], p["freed_by"]))
        check(left >= 60000, "the shared memory stays with the parent")
        # the memory was freed by neither process_mrelease nor the exit
        # (pmadv_kill_reap(3) NOTES): it must not be reported freed
        check(p["bytes_released"] < (8 << 20) and p["freed_by"] is None,
              "a shared mm is not reported as released by the exit")
    finally:
        par.kill()
        par.wait()


def test_many_groups():
    groups = ",".join(str(g) for g in range(10000, 10701))
    v = subprocess.Popen(["setpriv", "--groups", groups, sys.executable, "-c",
                          "b=bytearray(32<<20)\nfor i in range(0,len(b),4096): b[i]=1\n"
                          "print('ready',flush=True)\nimport time; time.sleep(60)"],
                         stdout=subprocess.PIPE, text=True)
    try:
        v.stdout.readline()
        check(len(open("/proc/%d/status" % v.pid).read()) > 4096,
              "the victim's status is longer than 4 KiB")
        r, doc = run_json(["reap", v.pid])
        p = doc["processes"][0]
        check(p["rss_kb_before"] >= 32768, "VmRSS is found past the Groups "
              "line (got %d kB)" % p["rss_kb_before"])
    finally:
        v.kill()
        v.wait()


def main():
    on_sigterm_exit()
    need_root()
    failed = []
    for t in (test_zombie, test_self, test_vfork_child_shares_mm, test_many_groups):
        pid = os.fork()
        if pid == 0:
            t()
            os._exit(0)
        _, st = os.waitpid(pid, 0)
        if st:
            failed.append(t.__name__)
    if failed:
        fail("failed: " + ", ".join(failed))
    print("PASS")


main()
