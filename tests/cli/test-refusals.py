#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: every refusal names who or what refused, with its exit
class from pmadvise(8). A target another process traces (exit 8, the
tracer by PID and name, with --method ptrace and with --hold), one in a
frozen cgroup (8, the cgroup by name, its stray bytes as '?'; also
seen as "/" through the caller's cgroup namespace), a kernel thread (5, "kernel thread", not "exited"), a thread ID (2,
naming its process), and a
caller that is root only inside a user namespace (3, the namespace named,
no "run as root")."""

import ctypes
import os
import subprocess
import sys
import time

from clitest import (cgroup2_root, check, fail, need_root, on_sigterm_exit,
                     pmadvise_path, rmdir_cgroup, run, run_json, skip,
                     status_field)

# Seizes the PID given (PTRACE_SEIZE, invisible to it) under the name
# pmadv-tracer, prints "traced", and keeps it until stdin closes.
TRACER = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(15, b"pmadv-tracer", 0, 0, 0)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]
if libc.ptrace(0x4206, int(sys.argv[1]), None, None) < 0:
    sys.exit("PTRACE_SEIZE: errno %d" % ctypes.get_errno())
print("traced", flush=True)
sys.stdin.readline()
"""


def sleeper():
    return subprocess.Popen(["sleep", "120"])


def no_root_hint(p, what):
    check("Run pmadvise as root" not in p.stderr and
          "no permission" not in p.stderr,
          "%s: no 'run as root', no 'no permission'" % what)


def test_traced():
    s = sleeper()
    tr = subprocess.Popen([sys.executable, "-c", TRACER, str(s.pid)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True)
    try:
        if tr.stdout.readline().strip() != "traced":
            fail("the tracer did not seize PID %d" % s.pid)
        who = "already traced by PID %d (pmadv-tracer)" % tr.pid
        p = run(["-m", "ptrace", "--anon", s.pid, "-r", "-n", "-o",
                 "status,exit_class"], check_rc=8)
        check(who in p.stderr, "--method ptrace names the tracer")
        check(p.stdout == "failed 8\n", "the table says failed, busy (8)")
        no_root_hint(p, "--method ptrace")
        p = run(["--hold", "--anon", s.pid], check_rc=8)
        check(who in p.stderr and "--hold" in p.stderr,
              "--hold names the tracer and itself")
        no_root_hint(p, "--hold")
        p, doc = run_json(["--hold", "--anon", s.pid], check_rc=8)
        proc = doc["processes"][0]
        check(proc["exit_class"] == 8 and who in proc["message"],
              "JSON: exit_class 8 and the tracer in the message")
    finally:
        tr.kill()
        tr.wait()
        s.kill()
        s.wait()


def tracer_of(pid):
    return int(status_field(pid, "TracerPid"))


def freeze(cg, on):
    """Freezes (waiting until the kernel says it is frozen) or thaws the
    cgroup v2 directory cg."""
    with open(os.path.join(cg, b"cgroup.freeze"), "w") as f:
        f.write("1" if on else "0")
    for _ in range(100 if on else 0):
        with open(os.path.join(cg, b"cgroup.events")) as f:
            if "frozen 1" in f.read():
                return
        time.sleep(0.02)
    if on:
        fail("the cgroup did not freeze")


def test_frozen():
    root = cgroup2_root()
    if not root:
        skip("no cgroup v2 hierarchy mounted")
    # A name that is not UTF-8: the message carries it into JSON.
    name = b"pmadv-frozen-\xff\xfe-%d" % os.getpid()
    cg = os.path.join(root.encode(), name)
    os.mkdir(cg)
    s = None
    try:
        s = sleeper()
        with open(os.path.join(cg, b"cgroup.procs"), "w") as f:
            f.write(str(s.pid))
        freeze(cg, True)
        p, doc = run_json(["-m", "ptrace", "--anon", s.pid], check_rc=8)
        msg = doc["processes"][0]["message"]
        # the library's messages turn bytes outside UTF-8 into '?'
        shown = "/pmadv-frozen-??-%d" % os.getpid()
        check("frozen cgroup" in msg and shown in msg,
              "JSON names the frozen cgroup, its stray bytes as '?' "
              "(%r)" % msg)
        check(doc["processes"][0]["exit_class"] == 8, "exit class 8")
        no_root_hint(p, "frozen")
        # --hold with --method ptrace alone holds with SIGSTOP, which a
        # frozen target never obeys: the hold times out, and says why.
        p = run(["--hold", "-m", "ptrace", "-t", "1000", "--anon", s.pid],
                check_rc=8)
        check("frozen cgroup" in p.stderr and "--hold" in p.stderr and
              "timed out" not in p.stderr,
              "a SIGSTOP hold of a frozen target names the cgroup")
        # Holding works on a frozen target, and lets it go as it was.
        run(["--hold", "--anon", s.pid], check_rc=0)
        with open(os.path.join(cg, b"cgroup.events")) as f:
            check("frozen 1" in f.read() and tracer_of(s.pid) == 0,
                  "--hold left the target frozen and untraced")
        freeze(cg, False)
        time.sleep(0.2)
        check(status_field(s.pid, "State") in ("S", "R"),
              "thawed, the target runs: no SIGSTOP left behind (%s)" %
              status_field(s.pid, "State"))
    finally:
        if s:
            s.kill()
            freeze(cg, False)
            s.wait()
        rmdir_cgroup(cg)


def namespaced_caller(cg, root, args):
    """Starts pmadvise in a cgroup namespace rooted at cg, in a mount
    namespace where cgroup2 is mounted again at root (so that it shows
    cg's own files): as a manager inside a container, or one run with
    nsenter -C -m, sees its processes, each at "0::/". The caller is moved
    out of cg again (its namespace stays rooted there) and waits: cg can
    be frozen now, which a process inside it could not outlive. Returns
    (pid, go: write a byte to run it, out: its stdout and stderr)."""
    libc = ctypes.CDLL(None, use_errno=True)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            with open(os.path.join(cg, b"cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            # CLONE_NEWCGROUP | CLONE_NEWNS; MS_REC | MS_PRIVATE;
            # MNT_DETACH
            if (libc.unshare(0x02000000 | 0x00020000) < 0 or
                    libc.mount(b"none", b"/", None, 0x4000 | 0x40000,
                               None) < 0 or
                    libc.umount2(root.encode(), 2) < 0 or
                    libc.mount(b"none", root.encode(), b"cgroup2", 0,
                               None) < 0):
                os._exit(90)
            os.write(ready_w, b"r")
            os.read(go_r, 1)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            os.execv(pmadvise_path(),
                     [pmadvise_path()] + [str(a) for a in args])
        finally:
            os._exit(91)
    for fd in (ready_w, go_r, out_w):
        os.close(fd)
    ok = os.read(ready_r, 1) == b"r"
    os.close(ready_r)
    if not ok:
        os.waitpid(pid, 0)
        fail("could not make a cgroup and mount namespace")
    with open(os.path.join(root.encode(), b"cgroup.procs"), "w") as f:
        f.write(str(pid))
    return pid, go_w, out_r


def test_frozen_in_cgroup_ns():
    """The frozen cgroup seen as "/" through the caller's cgroup
    namespace is frozen all the same: refused at once (8), not seized
    and timed out."""
    root = cgroup2_root()
    if not root:
        skip("no cgroup v2 hierarchy mounted")
    cg = os.path.join(root.encode(), b"pmadv-frozen-ns-%d" % os.getpid())
    os.mkdir(cg)
    s = None
    try:
        s = sleeper()
        with open(os.path.join(cg, b"cgroup.procs"), "w") as f:
            f.write(str(s.pid))
        pid, go, out = namespaced_caller(
            cg, root, ["-m", "ptrace", "-t", "3000", "--anon", s.pid])
        freeze(cg, True)
        t0 = time.time()
        os.write(go, b"g")
        os.close(go)
        text = b""
        while True:
            chunk = os.read(out, 65536)
            if not chunk:
                break
            text += chunk
        os.close(out)
        _, st = os.waitpid(pid, 0)
        took = time.time() - t0
        text = text.decode("utf-8", "backslashreplace")
        print("$ (in a cgroup namespace rooted at the frozen cgroup) "
              "pmadvise -m ptrace -t 3000 --anon %d -> %d in %.2f s\n%s" %
              (s.pid, os.waitstatus_to_exitcode(st), took, text))
        check(os.waitstatus_to_exitcode(st) == 8 and
              "frozen cgroup" in text,
              "refused as frozen through the caller's cgroup namespace")
        check(took < 2.5, "at once, not after the 3 s timeout")
        check(tracer_of(s.pid) == 0, "never seized")
    finally:
        if s:
            s.kill()
            freeze(cg, False)
            s.wait()
        rmdir_cgroup(cg)


def test_kernel_thread():
    # PID 2 is kthreadd wherever a PID namespace is not in the way.
    with open("/proc/2/stat") as f:
        if int(f.read().rsplit(")", 1)[1].split()[6]) & 0x200000 == 0:
            skip("PID 2 is not a kernel thread here")
    for args in (["--anon"], ["-R", "1000+4K"], ["--hold", "--anon"],
                 ["-m", "ptrace", "--anon"]):
        p = run(args + [2], check_rc=5)
        check("kernel thread" in p.stderr and "exited" not in p.stderr,
              "%s on a kernel thread: exit 5, says kernel thread" %
              " ".join(args))


# A process with a second thread that prints its TID, then waits.
THREADED = r"""
import sys, threading
ready = threading.Event()
def worker():
    print(threading.get_native_id(), flush=True)
    ready.wait()
t = threading.Thread(target=worker)
t.start()
sys.stdin.readline()
ready.set()
"""


def test_thread_id():
    p = subprocess.Popen([sys.executable, "-c", THREADED],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        tid = int(p.stdout.readline())
        q = run(["--anon", "-a", "cold", tid], check_rc=2)
        check("TID %d is a thread of PID %d" % (tid, p.pid) in q.stderr,
              "a thread ID: exit 2, naming its process")
    finally:
        p.kill()
        p.wait()


def test_hold_ptrace_by_env():
    # PMADV_METHODS=ptrace narrows to the ptrace method as -m ptrace does:
    # the hold must be one it can work under (SIGSTOP), not EBUSY from
    # its own ptrace hold
    s = sleeper()
    try:
        env = dict(os.environ, PMADV_METHODS="ptrace")
        run(["--hold", "--anon", "-a", "cold", s.pid], check_rc=0, env=env)
        check(s.poll() is None and status_field(s.pid, "State")[0] in "RS",
              "PMADV_METHODS=ptrace --hold: exit 0, target left running")
    finally:
        s.kill()
        s.wait()


def test_hold_uninterruptible():
    # a vfork parent waits for its child in state D: no signal stops it,
    # so --hold times out; the message names the thread and the state,
    # not a bare "timed out"
    p = subprocess.Popen([os.environ["PMADV_TEST_VFORK"]],
                         stdout=subprocess.PIPE, text=True)
    child = None
    try:
        pid = int(p.stdout.readline().split()[1])
        for _ in range(500):
            kids = open("/proc/%d/task/%d/children" % (pid, pid)).read()
            if kids.split() and status_field(pid, "State")[0] == "D":
                child = int(kids.split()[0])
                break
            time.sleep(0.01)
        else:
            fail("the vfork parent never reached state D")
        q = run(["--hold", "-t", "500", "--anon", "-a", "cold", pid],
                check_rc=6)
        check("thread %d is in uninterruptible sleep" % pid in q.stderr and
              "nothing was advised" in q.stderr,
              "a --hold timeout on a D-state target names the thread and "
              "why: %r" % q.stderr)
        check(status_field(pid, "TracerPid") == "0",
              "the target is left untraced")
        # pmadvise killed while its hold waits for the D-state thread:
        # the hold's tracer sees its caller gone within 100 ms and lets
        # go (it waited out the whole -t 8000 before)
        q = subprocess.Popen([sys.argv[1], "--hold", "-t", "8000", "--anon",
                              "-a", "cold", str(pid)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        for _ in range(300):
            if status_field(pid, "TracerPid") != "0":
                break
            time.sleep(0.01)
        traced = status_field(pid, "TracerPid") != "0"
        q.kill()
        q.wait()
        t0 = time.monotonic()
        while (status_field(pid, "TracerPid") != "0" and
               time.monotonic() - t0 < 10):
            time.sleep(0.01)
        took = time.monotonic() - t0
        check(traced and took < 1.5,
              "pmadvise --hold -t 8000 killed while it waits for a D-state "
              "thread: the target untraced %.2f s later" % took)
    finally:
        if child:
            os.kill(child, 9)
        p.kill()
        p.wait()


def as_uid1000(caps, args):
    """pmadvise as uid 1000 with only the capabilities caps (setpriv)."""
    cmd = ["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups",
           "--inh-caps", "-all," + caps, "--ambient-caps", caps,
           os.path.abspath(sys.argv[1])] + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       cwd="/")
    print("$ %s -> %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                p.stderr))
    return p


def test_capabilities():
    # A uid-1000 caller with CAP_SYS_PTRACE, toward a uid-1001 target:
    # - alone, the ptrace rung cannot open /proc/PID/mem (its mode): the
    #   message names CAP_DAC_OVERRIDE;
    # - with CAP_DAC_OVERRIDE it advises, but --hold must stop the target
    #   with SIGSTOP (the rung traces it itself), which needs CAP_KILL:
    #   named, exit 3, not EBUSY;
    # - with CAP_KILL too, --hold works and the target runs again.
    s = subprocess.Popen(["setpriv", "--reuid", "1001", "--regid", "1001",
                          "--clear-groups", "sleep", "120"])
    try:
        for _ in range(200):
            if status_field(s.pid, "Uid") == "1001" and \
                    os.readlink("/proc/%d/exe" % s.pid).endswith("sleep"):
                break
            time.sleep(0.01)
        p = as_uid1000("+sys_ptrace", ["--anon", s.pid])
        check(p.returncode == 3 and "CAP_DAC_OVERRIDE" in p.stderr,
              "CAP_SYS_PTRACE alone: exit 3, CAP_DAC_OVERRIDE named")
        caps = "+sys_ptrace,+dac_override"
        p = as_uid1000(caps, ["--anon", s.pid])
        check(p.returncode == 0 and "ptrace" in p.stdout.split(),
              "with CAP_DAC_OVERRIDE the ptrace rung advises")
        p = as_uid1000(caps, ["--hold", "--anon", s.pid])
        check(p.returncode == 3 and "CAP_KILL" in p.stderr and
              "busy" not in p.stderr,
              "--hold without CAP_KILL: exit 3, CAP_KILL named, not busy")
        p = as_uid1000(caps + ",+kill", ["--hold", "--anon", s.pid])
        check(p.returncode == 0 and "ptrace" in p.stdout.split(),
              "with CAP_KILL, --hold and the ptrace rung advise")
        for _ in range(200):
            if status_field(s.pid, "State") in ("S", "R"):
                break
            time.sleep(0.01)
        check(status_field(s.pid, "State") in ("S", "R") and
              status_field(s.pid, "TracerPid") == "0",
              "the target runs again, untraced")
    finally:
        s.kill()
        s.wait()


def test_user_namespace():
    s = sleeper()
    try:
        cmd = ["unshare", "--user", "--map-root-user", sys.argv[1],
               "--anon", str(s.pid)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        print("$ %s -> %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                    p.stderr))
        if p.returncode != 3 and "unshare:" in p.stderr:
            skip("no user namespaces here: " + p.stderr.strip())
        check(p.returncode == 3, "root in a user namespace: exit 3")
        check("user namespace" in p.stderr and "uid_map" in p.stderr,
              "the user namespace is named as the cause")
        check("Run pmadvise as root" not in p.stderr and
              "Run pmadvise in the initial user namespace" in p.stderr,
              "the hint is the initial namespace, not 'run as root'")
    finally:
        s.kill()
        s.wait()


def main():
    on_sigterm_exit()
    need_root()
    test_traced()
    test_kernel_thread()
    test_thread_id()
    test_hold_ptrace_by_env()
    test_hold_uninterruptible()
    test_capabilities()
    test_user_namespace()
    test_frozen()
    test_frozen_in_cgroup_ns()
    print("PASS")


main()
