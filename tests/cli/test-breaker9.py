#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Faults a breaker round on issue 9's changes found (at b86b68f), each
kept as a case:

  sigkill_sigstop_hold  pmadvise --hold as a plain user holds with SIGSTOP;
                        SIGKILL of pmadvise leaves the target stopped.
  sigkill_root_leaderless  the same as root on a leaderless process (the
                        syscall rung answers ESRCH there, so SIGSTOP).
  leaderless_relay      main thread gone, a new thread every 10 ms (1 ms, 20 us;
                        PMADV_RELAY_US sets others): the
                        VMA source is bound to one thread's lifetime; ESRCH
                        on a live process, called "a kernel thread" (exit 5).
  leaderless_no_ptrace  -m syscall on a process whose main thread has exited
                        said "try again" (exit 8), or "has exited" (exit 4)
                        on a relay: only ptrace reaches it (exit 5).
  all_zombie            leader and only thread both zombies (the thread is
                        traced, unreaped): "a kernel thread", exit 5, not
                        "has exited", exit 4.
  collapse_merged       -a collapse with a filter: adjacent VMAs are merged
                        before collapse_interiors, so a listed "whole huge
                        page" straddles VMAs and the kernel fails the lot.
  emfile_named          EMFILE in the ptrace rung: "EUNKNOWN", and the
                        library's words ("cannot read the state...") lost.
  cgroup_name_raw       --cgroup paths are written raw to stderr (ESC,
                        newline).
  c1_raw_in_message     a tracer's comm with a lone 0x9b byte (8-bit CSI)
                        reaches stderr raw in "already traced by".

Usage: test-breaker9.py PATH_TO_PMADVISE [test ...]. Needs root and cc
(it builds its small C targets).
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from clitest import NOBODY, fail, need_root, pmadvise_path, ranges_of

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TMP = tempfile.mkdtemp(prefix="pmadv-breaker9-")
os.chmod(TMP, 0o755)



def build(name):
    """A copy in TMP (which anyone may enter) of helper program NAME
    (helpers/NAME.c, built by meson: the VM guests have no compiler)."""
    exe = os.path.join(TMP, name)
    shutil.copy(os.path.join(os.environ["PMADV_CLI_HELPERS"],
                             "cli-helper-" + name), exe)
    return exe


def pm(args, **kw):
    return subprocess.run([pmadvise_path()] + [str(a) for a in args],
                          capture_output=True, timeout=60, **kw)


def state(pid, tid=None):
    s = open("/proc/%d/task/%d/stat" % (pid, tid or pid)).read()
    return s[s.rindex(")") + 2]


def start(cmd, **kw):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, **kw)
    line = p.stdout.readline()
    return p, line


def leaderless(pid):
    """Waits (5 s at most) for the main thread of PID, which prints its
    PID and then calls pthread_exit, to be gone: asked before, the
    process still has it (process_madvise then reaches it: exit 0 where
    the test wants 5, once in a CI run in the 5.10 guest)."""
    for _ in range(5000):
        if state(pid) == "Z":
            return
        time.sleep(0.001)
    raise RuntimeError("PID %d: its main thread did not exit" % pid)


def t_sigkill_sigstop_hold():
    tgt, _ = start(NOBODY + [PY, "-c",
                   "import time\nx=bytearray(64<<20)\nprint('ok',flush=True)\n"
                   "time.sleep(120)"])
    try:
        for _ in range(30):
            p = subprocess.Popen(NOBODY + [pmadvise_path(), "--hold", "-a",
                                           "cold", "--anon", str(tgt.pid)],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            caught = False
            while p.poll() is None:
                if state(tgt.pid) == "T":
                    p.kill()
                    caught = True
                    break
            p.wait()
            if not caught:
                continue
            time.sleep(0.5)
            if state(tgt.pid) == "T":
                return "target left in state T after SIGKILL of pmadvise " \
                       "during a SIGSTOP --hold"
            return None
        return None  # never caught it mid-hold: inconclusive
    finally:
        tgt.kill()
        tgt.wait()


def t_sigkill_root_leaderless():
    """root: the syscall rung cannot serve a leaderless process (ESRCH), so
    hold_flags picks SIGSTOP there too; SIGKILL then leaves it stopped."""
    exe = build("relay")
    tgt, line = start([exe, "100000000"])
    pid = int(line)

    def states():
        return [state(pid, int(t)) for t in os.listdir("/proc/%d/task" % pid)]
    try:
        time.sleep(0.3)
        for _ in range(30):
            p = subprocess.Popen([pmadvise_path(), "--hold", "-a", "cold",
                                  "--anon", str(pid)],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            caught = False
            while p.poll() is None:
                if "T" in states():
                    p.kill()
                    caught = True
                    break
            p.wait()
            if caught:
                time.sleep(1)
                if "T" in states():
                    return "leaderless target left stopped (%s) after " \
                           "SIGKILL of a root pmadvise --hold" % states()
                return None
        return None
    finally:
        os.kill(pid, signal.SIGKILL)
        tgt.wait()


def t_leaderless_relay():
    exe = build("relay")
    # A thread every 10 ms, then every 1 ms, then every 20 us: the thread
    # a /proc file is read through may exit, or let go of the address
    # space, between being chosen and being read (its open then fails with
    # ESRCH, not ENOENT: 3 to 5 runs in 200 failed at 20 us before that was
    # taken for a thread gone); the library chooses again. 100 runs at
    # relays under 1 ms. (PMADV_RELAY_US: other periods, e.g. in a VM
    # guest under TCG.)
    for us in os.environ.get("PMADV_RELAY_US", "10000,1000,20").split(","):
        tgt, line = start([exe, us])
        pid = int(line)
        runs = 100 if int(us) < 1000 else 10
        try:
            leaderless(pid)
            bad, vanished, busy = [], 0, 0
            for _ in range(runs):
                r = pm(["-a", "cold", "--anon", pid])
                # Its threads come and go, and glibc unmaps the heaps of
                # their arenas: a VMA listed may be gone when advised
                # (ENOMEM, the rest advised), the target's doing (seen
                # once in 10 runs at 1 ms on a loaded machine)
                if r.returncode != 0 and b"ENOMEM: not mapped" in r.stderr:
                    vanished += 1
                elif (r.returncode == 8 and int(us) < 1000 and
                      b"exited meanwhile; try again" in r.stderr):
                    # Every thread it reached the process through exited
                    # before it was read: the honest "try again" (exit 8),
                    # which a relay of threads living 20 us each gives
                    # now and then here (3 of 100 runs in a CI run, and
                    # in 2 of 3 runs of 100 with the library of the
                    # landed 0.2 work, on this 2-vCPU machine)
                    busy += 1
                elif r.returncode != 0:
                    bad.append((r.returncode, r.stderr[:160]))
            if vanished * 2 > runs:
                bad.append("%d runs found a VMA gone" % vanished)
            if busy * 10 > runs:
                bad.append("%d runs of %d said try again" % (busy, runs))
            if bad:
                return ("%d of %d runs failed on a live leaderless process "
                        "(a thread every %s us): %r" % (len(bad), runs, us,
                                                        bad[0]))
        finally:
            os.kill(pid, signal.SIGKILL)
            tgt.wait()
    return None


def t_leaderless_no_ptrace():
    # process_madvise and the module reach a process through its main
    # thread's memory: with ptrace left out by --method, a process whose
    # main thread has exited cannot be advised, which is said as such
    # (exit 5), not "try again" (exit 8) nor "has exited" (exit 4), also
    # on a relay of threads with no pause between them.
    last = build("lastthread")
    relay = build("relay")
    for cmd, runs in (([last, "60"], 3), ([relay, "0"], 30)):
        tgt, line = start(cmd)
        pid = int(line)
        try:
            leaderless(pid)
            for _ in range(runs):
                r = pm(["-m", "syscall", "-a", "cold", "--anon", pid])
                err = r.stderr.decode(errors="replace")
                if (r.returncode != 5 or "main thread has exited" not in err
                        or "only the ptrace method" not in err):
                    return ("%s: -m syscall on a process whose main thread "
                            "has exited: exit %d, %r" %
                            (os.path.basename(cmd[0]), r.returncode,
                             err[:200]))
            # the default methods reach it (not asked on the relay, where
            # a thread's stack can go between the VMA list and the
            # advice: "partial ENOMEM", honestly)
            if cmd[0] == last:
                r = pm(["-a", "cold", "--anon", pid])
                if r.returncode != 0:
                    return ("lastthread: the default methods: exit %d, %r"
                            % (r.returncode, r.stderr[:200]))
        finally:
            os.kill(pid, signal.SIGKILL)
            tgt.wait()
    return None


def t_all_zombie():
    last = build("lastthread")
    tracer = build("tracer")
    tgt, line = start([last, "1"])
    pid = int(line)
    time.sleep(0.2)
    tid = [int(t) for t in os.listdir("/proc/%d/task" % pid) if int(t) != pid][0]
    tr, _ = start([tracer, str(tid), "tracer"])
    try:
        time.sleep(1.5)
        if state(pid) != "Z" or state(pid, tid) != "Z":
            return None  # setup did not happen
        r = pm(["-a", "cold", "--anon", pid])
        if r.returncode != 4:
            return "all threads zombies: exit %d, %r (expected 4, exited)" % (
                r.returncode, r.stderr[:200])
        return None
    finally:
        tr.kill()
        tr.wait()
        tgt.wait()


COLLAPSE_PY = r"""
import ctypes, os, time
libc = ctypes.CDLL(None)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
M = 1 << 20
a = libc.mmap(None, 12 * M, 3, 0x22, -1, 0)
x = (a + 2 * M - 1) & ~(2 * M - 1)
ctypes.memset(a, 1, 12 * M)
libc.mprotect(x + M, 2 * M, 1)
print(x, flush=True)
time.sleep(120)
"""


def t_collapse_merged():
    tgt, line = start([PY, "-c", COLLAPSE_PY])
    x = int(line)
    try:
        vmas = []
        for ln in open("/proc/%d/maps" % tgt.pid):
            s, e = ln.split()[0].split("-")
            vmas.append((int(s, 16), int(e, 16)))
        r = pm(["--dry-run", "--json", "-v", "-a", "collapse", "--anon",
                "-R", "0x%x+8M" % (x - (2 << 20)), tgt.pid])
        doc = json.loads(r.stdout.decode())
        for rg in ranges_of(doc, doc["processes"][0]):
            s, e = int(rg["start"], 16), int(rg["end"], 16)
            if not any(vs <= s and e <= ve for vs, ve in vmas):
                return "collapse lists 0x%x-0x%x, which spans several " \
                       "VMAs (no huge page can straddle them)" % (s, e)
        return None
    finally:
        tgt.kill()
        tgt.wait()


def t_emfile_named():
    tgt = subprocess.Popen(["sleep", "60"])
    try:
        r = pm(["--json", "--method", "ptrace", "-a", "cold", "--anon",
                tgt.pid],
               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                     (5, 5)))
        err = json.loads(r.stdout.decode())["processes"][0]["error"]
        if err == "EUNKNOWN":
            return "EMFILE reported as %r" % err
        return None
    finally:
        tgt.kill()
        tgt.wait()


def t_cgroup_name_raw():
    d = os.path.join(TMP.encode(), b"cg\x1b[31m\nINJECTED")
    os.mkdir(d)
    open(os.path.join(d, b"cgroup.procs"), "w").close()
    r = pm(["--cgroup", d.decode("utf-8", "surrogateescape"), "-a", "cold",
            "--anon"])
    if b"\x1b" in r.stderr or b"\nINJECTED" in r.stderr:
        return "cgroup name written raw: %r" % r.stderr[:120]
    return None


def t_c1_raw_in_message():
    tracer = build("tracer")
    tgt = subprocess.Popen(["sleep", "60"])
    tr, _ = start([tracer, str(tgt.pid), b"t\x9b31mX"])
    try:
        r = pm(["--method", "ptrace", "-a", "cold", "--anon", tgt.pid])
        if b"\x9b" in r.stderr:
            return "raw 0x9b (8-bit CSI) from a tracer's name on stderr: %r" \
                % r.stderr[:200]
        return None
    finally:
        tr.kill()
        tr.wait()
        tgt.kill()
        tgt.wait()


TESTS = [t_sigkill_sigstop_hold, t_sigkill_root_leaderless, t_leaderless_relay,
         t_leaderless_no_ptrace, t_all_zombie,
         t_collapse_merged, t_emfile_named, t_cgroup_name_raw,
         t_c1_raw_in_message]


def main():
    need_root()
    pick = sys.argv[2:]
    failed = 0
    for t in TESTS:
        if pick and t.__name__[2:] not in pick:
            continue
        why = t()
        print(("FAIL: %s: %s" % (t.__name__[2:], why)) if why
              else "ok: " + t.__name__[2:], flush=True)
        failed += bool(why)
    subprocess.run(["rm", "-rf", TMP])
    if failed:
        fail("%d test(s) failed" % failed)


if __name__ == "__main__":
    main()
