#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Chaos through the CLI: `pmadvise -m ptrace` SIGKILLed at random moments
of a request on each path of the ptrace rung, every other time together
with its tracer (its children, as when a service's cgroup is killed).
After each kill the target must be untraced within seconds, with the signal
mask it had, running; at the end it checks its own memory, page by page.
PMADV_CLI_CHAOS_TRIALS sets the number of trials (default 30)."""

import os
import random
import signal
import subprocess
import sys
import time

from clitest import (check, fail, need_root, on_sigterm_exit, pmadvise_path,
                     start_mapper, status_field)

NMAPS = 1500


def children(pid):
    """The children of every thread of pid: its tracers."""
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def diagnose(pid):
    """What the target's threads and its tracer are doing, for a failure."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError as e:
            return "(%s)" % e.strerror

    out = []
    tracer = int(status_field(pid, "TracerPid") or 0)
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        base = "/proc/%d/task/%s" % (pid, tid)
        st = read(base + "/stat").rsplit(")", 1)[-1].split()
        out.append("thread %s state %s wchan %s syscall %s" %
                   (tid, st[0] if st else "?", read(base + "/wchan"),
                    read(base + "/syscall").split(" ")[0]))
    if tracer:
        st = read("/proc/%d/stat" % tracer).rsplit(")", 1)[-1].split()
        out.append("tracer %d state %s ppid %s wchan %s syscall %s" %
                   (tracer, st[0] if st else "?", st[1] if len(st) > 1
                    else "?", read("/proc/%d/wchan" % tracer),
                    read("/proc/%d/syscall" % tracer)))
    return "; ".join(out)


def main():
    need_root()
    on_sigterm_exit()
    trials = int(os.environ.get("PMADV_CLI_CHAOS_TRIALS", "30"))
    seed = int(time.time())
    random.seed(seed)
    print("seed %d, %d trials" % (seed, trials), flush=True)
    t, lo, hi = start_mapper(NMAPS)
    try:
        sigblk = status_field(t.pid, "SigBlk")
        paths = ["0", None, "loop"]
        died = {"alone": 0, "with its tracer": 0}
        tracers_killed = 0
        slowest = 0.0

        def request(path):
            env = dict(os.environ)
            env.pop("PMADV_PTRACE_FAST", None)
            if path:
                env["PMADV_PTRACE_FAST"] = path
            return subprocess.Popen(
                [pmadvise_path(), "-m", "ptrace", "-a", "cold", "--anon",
                 "-R", "%s-%s" % (lo, hi), str(t.pid)],
                env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)

        # how long a whole request takes on each path, so that the kills
        # land inside one
        took = {}
        for path in paths:
            start = time.time()
            c = request(path)
            check(c.wait() == 0, "a request on path %s succeeds" %
                  (path or "pm"))
            took[path] = time.time() - start
        print("requests take %s" % ", ".join(
            "%.0f ms (%s)" % (1000 * v, k or "pm") for k, v in took.items()),
            flush=True)
        for i in range(trials):
            path = paths[i % 3]
            group = i % 2 == 1
            c = request(path)
            if group:
                # a tracer to kill with it: once there is one
                end = time.time() + 2 * took[path]
                while not children(c.pid) and time.time() < end:
                    time.sleep(0.0005)
                time.sleep(random.uniform(0, 0.3) * took[path])
            else:
                time.sleep(random.uniform(0.05, 0.9) * took[path])
            if group:
                # the tracer left the group (setsid): the caller's
                # children go too, as in a cgroup kill
                for tracer in children(c.pid):
                    try:
                        os.kill(tracer, signal.SIGKILL)
                        tracers_killed += 1
                    except ProcessLookupError:
                        pass
                os.killpg(c.pid, signal.SIGKILL)
            else:
                c.kill()
            c.wait()
            if c.returncode == -signal.SIGKILL:
                died["with its tracer" if group else "alone"] += 1
            # The tracer finishes the call it is in before it lets go:
            # up to a whole request, which under emulation (tests/vm, two
            # guests at once) takes seconds.
            t0 = time.time()
            end = t0 + max(20, 4 * took[path])
            while time.time() < end:
                if (status_field(t.pid, "TracerPid") == "0" and
                        status_field(t.pid, "SigBlk") == sigblk):
                    break
                time.sleep(0.002)
            let_go = time.time() - t0
            slowest = max(slowest, let_go)
            what = "trial %d (path %s, %s)" % (
                i, paths[i % 3] or "pm", "group" if group else "caller")
            if status_field(t.pid, "TracerPid") != "0":
                fail(what + ": target still traced after %.1f s: %s" %
                     (let_go, diagnose(t.pid)))
            if status_field(t.pid, "SigBlk") != sigblk:
                fail(what + ": target's mask is %s, was %s" %
                     (status_field(t.pid, "SigBlk"), sigblk))
            if status_field(t.pid, "State") not in ("R", "S"):
                fail(what + ": target in state " + status_field(t.pid, "State"))
        print("killed mid-request: %d alone, %d with its tracer; the "
              "target let go after %.2f s at most" %
              (died["alone"], died["with its tracer"], slowest), flush=True)
        print("%d tracers killed with their callers" % tracers_killed,
              flush=True)
        check(tracers_killed >= trials // 4,
              "a tracer was killed in half of the group kills or more")
        check(died["alone"] + died["with its tracer"] >= trials // 3,
              "a third of the kills or more landed before the request "
              "ended")
        # The tracer alone killed (the OOM killer's pick), once it holds
        # the target: the caller lives, says what failed and why (EIO: its
        # tracer was killed, not an I/O error), exit 1 for the ranges
        # left, or 7 when none was advised yet; the target let go.
        env = dict(os.environ)
        env["PMADV_PTRACE_FAST"] = "0"
        # at once (while it attaches, here: 7) and 2 ms later (among the
        # ranges, here: 1)
        for delay in (0, 0.002):
            for attempt in range(10):
                # the last one's tracer may still be letting go
                end = time.time() + 20
                while (time.time() < end and
                       status_field(t.pid, "TracerPid") != "0"):
                    time.sleep(0.002)
                c = subprocess.Popen(
                    [pmadvise_path(), "-m", "ptrace", "-a", "cold", "--anon",
                     "-R", "%s-%s" % (lo, hi), str(t.pid)],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, start_new_session=True)
                end = time.time() + 2 * took["0"] + 5
                while (status_field(t.pid, "TracerPid") in ("0", None) and
                       c.poll() is None and time.time() < end):
                    time.sleep(0.0002)
                time.sleep(delay)
                for tracer in children(c.pid):
                    try:
                        os.kill(tracer, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                out, err = c.communicate(timeout=120)
                if c.returncode != 0:
                    break
            check(c.returncode in (1, 7), "killed tracer (%g s in): exit 1 "
                  "or 7 (got %d: %s)" % (delay, c.returncode, err.strip()))
            check("tracer was killed" in err and "I/O error" not in err,
                  "killed tracer: the reason says so: " + err.strip())
        end = time.time() + 20
        while time.time() < end and status_field(t.pid, "TracerPid") != "0":
            time.sleep(0.002)
        check(status_field(t.pid, "TracerPid") == "0" and
              status_field(t.pid, "SigBlk") == sigblk,
              "killed tracer: the target let go, its mask as it was")
        t.stdin.write("check\n")
        t.stdin.flush()
        answer = t.stdout.readline().strip()
        check(answer == "ok", "the target's pages are intact (%s)" % answer)
        check(t.poll() is None, "the target runs on")
    finally:
        t.kill()
        t.wait()


main()
