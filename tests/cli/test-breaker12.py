#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The breaker round on issue 12's parts 3 and 4, each case as found:

  via_symlink      --via memory.reclaim on a plain directory whose
                   memory.reclaim is a symbolic link: pmadvise wrote the
                   request into the link's target and reported success.
  via_fifo         the same with a FIFO: pmadvise blocked in open().
  cgroup_and_pid   --cgroup X PID with PID a member of X: advised twice.
  dup_columns      -J -o pid,PID: the key "pid" twice in each object;
                   -o 'pid,' accepted, -o ',pid' refused.
  bidi_name        a command name with U+202E printed raw in the table.
  v1_many          a v1 cgroup (tasks) of 1,100 processes: ENOBUFS after
                   1,016, nothing advised, exit 7.
  lenient          a second --cgroup replaced the first; --via took --anon,
                   -o and -r and ignored them.
  emfile           more members than RLIMIT_NOFILE: refused whole, exit 7.
  cgroupns         in a cgroup namespace with an inherited mount (root
                   "/.."): every member skipped, "no processes", exit 0
                   (then exit 5); now members checked by their list.
  hold_stopped     (F9) pmadvise --hold --rate 1M/s -t 2000 stopped by
                   SIGSTOP after taking the hold: the target stayed held
                   for as long as pmadvise stayed stopped.

The third round (the iterator in PID namespaces, demo --compare):

  pidns_zero       in a PID namespace, a member outside it is listed by the
                   kernel as 0 in cgroup.procs: the iterator answered EIO,
                   pmadvise "listing its processes failed after 0", nothing
                   advised, exit 7, even for the members it can see.
  foreign_proc     in a new PID namespace whose /proc is still the parent's
                   (unshare -p without --mount-proc), PIDs from the list
                   (and from the command line) named other processes in
                   /proc: in a cgroup namespace the iterator returned
                   kthreadd for the member whose namespace PID was 2, and
                   pmadvise read its maps. Now EXDEV, said in words.
  demo_name_taken  demo --compare where pmadvise-demo-PID exists (a demo of
                   the same PID in another PID namespace): "cannot create
                   the cgroup: File exists", exit 7. Now it takes another
                   name, and leaves the one that was there alone.

Usage: test-breaker12.py PATH_TO_PMADVISE [test ...]. Needs root."""

import json
import mmap
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from clitest import (cgroup2_root, check, fail, need_root, pmadvise_path,
                     rmdir_cgroup, run, run_json, status_field)


def t_via_symlink():
    d = tempfile.mkdtemp(prefix="pmadv-b12-")
    victim = d + "-victim"
    with open(victim, "w") as f:
        f.write("precious data line\n")
    os.symlink(victim, d + "/memory.reclaim")
    try:
        p = run(["--cgroup", d, "--via", "memory.reclaim", "--max-bytes",
                 "1M", "--swappiness", "10"], timeout=20)
        with open(victim) as f:
            kept = f.read() == "precious data line\n"
        check(kept, "--via on a plain directory wrote nothing through its "
              "symbolic link")
        check(p.returncode == 2 and "not a cgroup directory" in p.stderr,
              "--via on a plain directory: a usage error saying so (%d)" %
              p.returncode)
    finally:
        os.unlink(d + "/memory.reclaim")
        os.rmdir(d)
        os.unlink(victim)


def t_via_fifo():
    d = tempfile.mkdtemp(prefix="pmadv-b12-")
    os.mkfifo(d + "/memory.reclaim")
    try:
        for how in (["--via", "memory.reclaim", "--max-bytes", "1M"],
                    ["--compare", "--anon"]):
            try:
                p = run(["--cgroup", d] + how, timeout=20)
            except subprocess.TimeoutExpired:
                fail("%s on a FIFO named memory.reclaim: pmadvise hung" %
                     how[0])
            check(p.returncode == 2, "%s with a FIFO: refused, exit %d" %
                  (how[0], p.returncode))
    finally:
        os.unlink(d + "/memory.reclaim")
        os.rmdir(d)


def t_cgroup_and_pid():
    root = cgroup2_root()
    if not root:
        print("no cgroup2 mount: cgroup_and_pid not applicable")
        return
    cg = "%s/pmadv-b12-%d" % (root, os.getpid())
    os.mkdir(cg)
    kid = subprocess.Popen(["sleep", "300"])
    try:
        with open(cg + "/cgroup.procs", "w") as f:
            f.write(str(kid.pid))
        p, doc = run_json(["--cgroup", cg, "--anon", "-a", "cold",
                           str(kid.pid)], check_rc=0)
        pids = [x["pid"] for x in doc["processes"]]
        check(pids == [kid.pid], "a member also given as a PID is advised "
              "once (%r)" % pids)
        check(doc["summary"]["bytes_advised"] ==
              doc["processes"][0]["bytes_advised"],
              "and its bytes are counted once")
    finally:
        kid.kill()
        kid.wait()
        rmdir_cgroup(cg)


def t_dup_columns():
    kid = subprocess.Popen(["sleep", "300"])
    try:
        p = run(["-J", "-o", "pid,PID,comm", "--anon", "--dry-run",
                 str(kid.pid)], check_rc=0)
        obj = p.stdout.split('"processes": [', 1)[1].split("}", 1)[0]
        check(obj.count('"pid"') == 1, "-o pid,PID: one \"pid\" key")
        check(list(json.loads(p.stdout)["processes"][0]) == ["pid", "comm"],
              "-o pid,PID,comm: the columns pid and comm")
        for bad in ("pid,", ",pid", "pid,,comm"):
            p = run(["-o", bad, "--anon", "--dry-run", str(kid.pid)])
            check(p.returncode == 2 and "empty column" in p.stderr,
                  "-o '%s': a usage error naming the empty column" % bad)
    finally:
        kid.kill()
        kid.wait()


def t_bidi_name():
    code = ("import ctypes, sys, time\n"
            "ctypes.CDLL(None).prctl(15, '\\u202eevil'.encode(), 0, 0, 0)\n"
            "print('ready', flush=True)\n"
            "time.sleep(300)\n")
    kid = subprocess.Popen([sys.executable, "-c", code],
                           stdout=subprocess.PIPE, text=True)
    try:
        kid.stdout.readline()
        env = dict(os.environ, LC_ALL="C.UTF-8")
        p = run(["-o", "pid,comm", "--anon", "--dry-run", str(kid.pid)],
                env=env, check_rc=0)
        check("\u202e" not in p.stdout and "\ufffdevil" in p.stdout,
              "U+202E in a name is shown as U+FFFD in the table")
    finally:
        kid.kill()
        kid.wait()


def sleepers(cg, n, kids):
    """n sleep processes in cgroup cg, appended to kids."""
    for _ in range(n):
        k = subprocess.Popen(["sleep", "300"])
        kids.append(k)
        with open(cg + "/cgroup.procs", "w") as f:
            f.write(str(k.pid))


def t_v1_many():
    base = "/sys/fs/cgroup/memory"
    if not os.path.exists(base + "/tasks"):
        print("no cgroup v1 memory hierarchy: v1_many not applicable")
        return
    cg = "%s/pmadv-b12-%d" % (base, os.getpid())
    os.mkdir(cg)
    kids = []
    try:
        sleepers(cg, 1100, kids)
        p = run(["--cgroup", cg, "--anon", "--dry-run", "-o", "pid", "-n"],
                timeout=240)
        lines = p.stdout.split()
        check(p.returncode == 0 and len(lines) == 1100,
              "a v1 cgroup of 1,100 processes: all listed (%d, exit %d)" %
              (len(lines), p.returncode))
    finally:
        for k in kids:
            k.kill()
        for k in kids:
            k.wait()
        time.sleep(0.2)
        rmdir_cgroup(cg)


def t_cgroupns():
    """Inside a cgroup namespace whose cgroup2 mount was inherited from
    outside (its mountinfo root is "/.."): members were all skipped, "has
    no processes", exit 0; then refused with exit 5. Now each member is
    checked by reading the cgroup's list again: the member is advised, a
    process outside the cgroup is not."""
    root = cgroup2_root()
    if not root or not shutil.which("unshare"):
        print("no cgroup2 mount or unshare: cgroupns not applicable")
        return
    top = "%s/pmadv-b12ns-%d" % (root, os.getpid())
    os.makedirs(top + "/child")
    kid = subprocess.Popen(["sleep", "300"])
    try:
        with open(top + "/child/cgroup.procs", "w") as f:
            f.write(str(kid.pid))
        inner = ("echo $$ > %s/cgroup.procs && exec unshare -C %s "
                 "--cgroup %s/child --anon --dry-run -J" %
                 (top, pmadvise_path(), top))
        p = subprocess.run(["sh", "-c", inner], capture_output=True,
                           text=True, timeout=60)
        print(p.stdout + p.stderr)
        pids = []
        if p.returncode == 0:
            pids = [e.get("pid") for e in
                    json.loads(p.stdout).get("processes", [])]
        check(p.returncode == 0 and pids == [kid.pid],
              "in a cgroup namespace below the mount's root: the one "
              "member listed, nothing else (exit %d, %s)" %
              (p.returncode, pids))
    finally:
        kid.kill()
        kid.wait()
        rmdir_cgroup(top + "/child")
        rmdir_cgroup(top)


def t_emfile():
    """More members than the open-file limit: the whole cgroup was refused
    (EMFILE, nothing advised, exit 7); now those opened are advised, the
    rest named as not reached, exit 1."""
    root = cgroup2_root()
    if not root:
        print("no cgroup2 mount: emfile not applicable")
        return
    cg = "%s/pmadv-b12fd-%d" % (root, os.getpid())
    os.mkdir(cg)
    kids = []
    try:
        sleepers(cg, 300, kids)

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
        p = run(["--cgroup", cg, "--anon", "--dry-run", "-o", "pid", "-n"],
                timeout=120, preexec_fn=limit)
        listed = len(p.stdout.split())
        check(p.returncode == 1 and "out of file descriptors" in p.stderr
              and 50 < listed < 300,
              "over the open-file limit: %d of 300 advised, the rest "
              "named, exit %d" % (listed, p.returncode))
    finally:
        for k in kids:
            k.kill()
        for k in kids:
            k.wait()
        rmdir_cgroup(cg)


def t_lenient():
    """Options that were taken and ignored: a second --cgroup replaced the
    first; --via took --anon and -o/-r and ignored them. Usage errors."""
    root = cgroup2_root() or "/sys/fs/cgroup"
    for args, words in (
            (["-g", root, "-g", root, "--anon", "--dry-run"], "twice"),
            (["-g", root, "--via", "memory.reclaim", "--max-bytes", "1M",
              "--anon"], "no VMA selection"),
            (["-g", root, "--via", "memory.reclaim", "--max-bytes", "1M",
              "-r"], "do not apply")):
        p = run(args)
        check(p.returncode == 2 and words in p.stderr,
              "%s: a usage error (%d)" % (" ".join(args[2:]), p.returncode))


def in_ns(flags, script, timeout=60):
    """script run by sh in new namespaces (unshare FLAGS -f)."""
    return subprocess.run(["unshare"] + flags + ["-f", "sh", "-c", script],
                          capture_output=True, text=True, timeout=timeout)


def t_pidns_zero():
    root = cgroup2_root()
    if not root or not shutil.which("unshare"):
        print("no cgroup2 mount or unshare: pidns_zero not applicable")
        return
    cg = "%s/pmadv-b12c-pz-%d" % (root, os.getpid())
    os.mkdir(cg)
    outside = subprocess.Popen(["sleep", "300"])
    try:
        with open(cg + "/cgroup.procs", "w") as f:
            f.write(str(outside.pid))
        script = ("sleep 300 & echo $! > %s/cgroup.procs; "
                  "cat %s/cgroup.procs >&2; "
                  "%s --cgroup %s --anon --dry-run -J; echo rc=$? >&2; "
                  "kill $!" % (cg, cg, pmadvise_path(), cg))
        p = in_ns(["-p", "--mount-proc"], script)
        print(p.stdout + p.stderr)
        pids = []
        if "rc=0" in p.stderr:
            pids = [e.get("pid") for e in
                    json.loads(p.stdout).get("processes", [])]
        check("0\n" in p.stderr and "rc=0" in p.stderr and len(pids) == 1,
              "a member outside the PID namespace (listed as 0) is "
              "skipped, the one inside advised (%s)" % pids)
    finally:
        outside.kill()
        outside.wait()
        rmdir_cgroup(cg)


def t_foreign_proc():
    root = cgroup2_root()
    if not root or not shutil.which("unshare"):
        print("no cgroup2 mount or unshare: foreign_proc not applicable")
        return
    top = "%s/pmadv-b12c-fp-%d" % (root, os.getpid())
    os.makedirs(top + "/child")
    try:
        # in a new PID and cgroup namespace, /proc still the parent's:
        # the member's PID there is 2, which /proc calls kthreadd
        script = ("echo $$ > %s/cgroup.procs; sleep 300 & "
                  "echo $! > %s/child/cgroup.procs; "
                  "%s --cgroup %s/child --anon --dry-run -o pid,comm; "
                  "echo rc=$?; %s $! --anon --dry-run -o pid,status; "
                  "echo rc=$?; kill $!" %
                  (top, top, pmadvise_path(), top, pmadvise_path()))
        p = in_ns(["-p", "-C"], script)
        print(p.stdout + p.stderr)
        check("kthreadd" not in p.stdout,
              "no process of the parent namespace's /proc is taken for "
              "a member")
        check(p.stdout.count("rc=7") == 2 and
              p.stderr.count("another PID namespace") == 2,
              "the cgroup and the PID are refused, saying why")
    finally:
        rmdir_cgroup(top + "/child")
        rmdir_cgroup(top)


def t_demo_name_taken():
    root = cgroup2_root()
    if not root or not shutil.which("unshare"):
        print("no cgroup2 mount or unshare: demo_name_taken not applicable")
        return
    # pmadvise is PID 1 in its own PID namespace: its name is known
    taken = root + "/pmadvise-demo-1"
    os.mkdir(taken)
    try:
        p = subprocess.run(["unshare", "-p", "-f", "--mount-proc",
                            pmadvise_path(), "demo", "--compare", "--size",
                            "16M"], capture_output=True, text=True,
                           timeout=120)
        print(p.stdout + p.stderr)
        check(p.returncode in (0, 1, 5) and "File exists" not in p.stderr,
              "the name taken, the demo takes another (exit %d)" %
              p.returncode)
        check(os.path.isdir(taken), "the cgroup that was there is left")
        left = [d for d in os.listdir(root)
                if d.startswith("pmadvise-demo-") and d != "pmadvise-demo-1"]
        check(not left, "none of its own left (%s)" % left)
    finally:
        rmdir_cgroup(taken)


# 64 MiB of its own data, checked on each line of stdin ("ok" or "bad"),
# and a main thread that counts in the first 8 bytes of the file argv[1].
COUNTER = r"""
import hashlib, mmap, os, sys, threading
data = bytearray(os.urandom(1 << 20)) * 64
want = hashlib.sha256(data).digest()
f = open(sys.argv[1], "r+b")
shm = mmap.mmap(f.fileno(), 8)
def answer():
    for line in sys.stdin:
        print("ok" if hashlib.sha256(data).digest() == want else "bad",
              flush=True)
threading.Thread(target=answer, daemon=True).start()
print("ready", flush=True)
n = 0
while True:
    n += 1
    shm[0:8] = n.to_bytes(8, "little")
"""


def proc_state(pid):
    """Each thread's state letter and TracerPid, from /proc."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        out.append((st["State"].split()[0], int(st["TracerPid"])))
    return out


def t_hold_stopped():
    """pmadvise stopped (SIGSTOP to it alone, then to its whole process
    group, as a shell's kill %1 does) while its --hold keeps a target: the
    target ran again only when pmadvise did. Now --timeout (2 s) bounds
    the hold: the target runs again by then, pmadvise still stopped, and
    pmadvise, continued, says the hold expired, exit 6 (timeout)."""
    slack = 0.5
    with tempfile.NamedTemporaryFile(prefix="pmadv-b12c-") as cf:
        cf.write(b"\0" * 8)
        cf.flush()
        counter = mmap.mmap(cf.fileno(), 8)

        def count():
            return int.from_bytes(counter[0:8], "little")

        kid = subprocess.Popen([sys.executable, "-c", COUNTER, cf.name],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
        try:
            check(kid.stdout.readline().strip() == "ready",
                  "the counting target started")
            for group in (False, True):
                hold_stopped_once(kid, count, group, slack)
            # Not stopped, the run times out as before: the lease ends
            # with --timeout's own alarm, and the advice a moment later.
            # (-t 1500, not 500: under TCG, holding the target took the
            # whole 500 ms and the lease ended before the advice began)
            for _ in range(3):
                p = run(["--hold", "--rate", "1M/s", "-t", "1500", "--anon",
                         "-a", "cold", str(kid.pid)], check_rc=6)
                check("timed out (--timeout)" in p.stderr and
                      "expired" not in p.stderr,
                      "a --hold run that is not stopped times out as "
                      "before (exit 6, \"timed out\")")
        finally:
            kid.kill()
            kid.wait()
            counter.close()


def advances(count, within):
    """Whether the counter moves within `within` seconds: a running target
    counts, but under TCG with another guest beside it a 50 ms look saw
    it still waiting for a CPU (vm-5.10, once)."""
    c0, end = count(), time.monotonic() + within
    while time.monotonic() < end:
        time.sleep(0.01)
        if count() > c0:
            return True
    return False


def hold_stopped_once(kid, count, group, slack):
    how = "its process group" if group else "pmadvise alone"
    t0 = time.monotonic()
    p = subprocess.Popen([pmadvise_path(), "--hold", "--rate", "1M/s",
                          "-t", "2000", "--anon", "-a", "cold",
                          str(kid.pid)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        while not all(s == "t" and tr for s, tr in proc_state(kid.pid)):
            if time.monotonic() - t0 > 1.9 or p.poll() is not None:
                fail("pmadvise --hold did not hold PID %d within 1.9 s" %
                     kid.pid)
            time.sleep(0.001)
        # The lease began before this (when pmadvise took the hold), and
        # after t0: the target must run again by seen + 2 s (+ slack),
        # however long pmadvise took to start (seconds under TCG).
        seen = time.monotonic() - t0
        # half a second of paced calls (about 512 KiB) before the stop
        time.sleep(0.5)
        held = time.monotonic() - t0
        if group:
            os.killpg(p.pid, signal.SIGSTOP)
        else:
            os.kill(p.pid, signal.SIGSTOP)
        while True:
            states = proc_state(kid.pid)
            ran = time.monotonic() - t0
            if all(s in "RSD" and not tr for s, tr in states):
                break
            if ran > seen + 2.0 + slack:
                fail("SIGSTOP to %s: PID %d still held %.2f s after "
                     "pmadvise started, the hold seen at %.2f s "
                     "(-t 2000): %s" % (how, kid.pid, ran, seen, states))
            time.sleep(0.005)
        runs = advances(count, slack)
        pm_state = status_field(p.pid, "State")
        check(runs and pm_state == "T" and ran >= 2.0 - 0.01,
              "SIGSTOP to %s %.2f s after it started, the hold taken "
              "and some calls made: the target runs again (counter "
              "advancing) %.3f s after pmadvise started (-t 2000), while "
              "pmadvise is still stopped (state %s)" %
              (how, held, ran, pm_state))
        # and goes on running while pmadvise stays stopped
        time.sleep(0.5)
        c0 = count()
        still = advances(count, slack)
        c1, pm_state, states = count(), status_field(p.pid, "State"), \
            proc_state(kid.pid)
        check(still and pm_state == "T" and
              all(s in "RSD" and not tr for s, tr in states),
              "half a second later the target still runs (counter %d -> "
              "%d), untraced (%s), and pmadvise is still stopped (%s)" %
              (c0, c1, states, pm_state))
        if group:
            os.killpg(p.pid, signal.SIGCONT)
        else:
            os.kill(p.pid, signal.SIGCONT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(out + err)
    want = ("the hold of PID %d expired after 2000 ms (--timeout); the "
            "target ran again before the advice ended" % kid.pid)
    check(p.returncode == 6 and want in err,
          "continued, pmadvise says the hold expired (%r), exit %d "
          "(6: timeout)" % (want, p.returncode))
    kid.stdin.write("check\n")
    kid.stdin.flush()
    check(kid.stdout.readline().strip() == "ok" and
          all(s in "RSD" and not tr for s, tr in proc_state(kid.pid)),
          "the target is untraced, not stopped, its data intact")


TESTS = {
    "via_symlink": t_via_symlink,
    "via_fifo": t_via_fifo,
    "cgroup_and_pid": t_cgroup_and_pid,
    "dup_columns": t_dup_columns,
    "bidi_name": t_bidi_name,
    "v1_many": t_v1_many,
    "cgroupns": t_cgroupns,
    "emfile": t_emfile,
    "lenient": t_lenient,
    "pidns_zero": t_pidns_zero,
    "foreign_proc": t_foreign_proc,
    "demo_name_taken": t_demo_name_taken,
    "hold_stopped": t_hold_stopped,
}


def main():
    need_root()
    names = sys.argv[2:] or list(TESTS)
    for n in names:
        print("== " + n, flush=True)
        TESTS[n]()
    print("PASS")


main()
