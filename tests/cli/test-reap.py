#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: pmadvise reap kills through a pidfd and frees the memory
with process_mrelease; the report, the JSON document and the exit status
say what happened, and a process that was not signalled still runs. On a
kernel without process_mrelease (before 5.15: asked of the kernel) the
exit frees the memory and the report says ENOSYS."""

import os
import subprocess
import sys

from clitest import (NOBODY, check, fail, kernel_has_mrelease, mem_kb,
                     need_root, on_sigterm_exit, pmadvise_path, run,
                     run_json)

MRELEASE = kernel_has_mrelease()
ENOSYS_MSG = "not in this kernel (Linux 5.15+) or hidden by seccomp"

# 64 MiB of its own memory; TERM is caught (HANDLE), ignored (IGNORE) or
# left to its default action; a second thread when asked (THREAD).
VICTIM = r"""
import signal, sys, threading, time
mode = sys.argv[1]
if mode == "handle":
    signal.signal(signal.SIGTERM, lambda *a: None)
elif mode == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
b = bytearray(64 << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
t = threading.Thread(target=time.sleep, args=(600,), daemon=True)
t.start()
print("ready", t.native_id, flush=True)
sys.stdin.read()
"""


def victim(mode="default"):
    p = subprocess.Popen([sys.executable, "-c", VICTIM, mode],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    words = p.stdout.readline().split()
    if not words or words[0] != "ready":
        fail("the victim did not start")
    p.tid = int(words[1])
    return p


def alive(p):
    return p.poll() is None


def test_reap_human():
    p = victim()
    rss, _ = mem_kb(p.pid)
    check(rss >= 65536, "the victim holds 64 MiB (%d kB)" % rss)
    r = run(["reap", p.pid], check_rc=0)
    # the exit can win the race to the memory (process_mrelease: ESRCH)
    if MRELEASE:
        check("SIGKILL sent" in r.stdout and ("freed by process_mrelease"
              in r.stdout or "already gone (ESRCH)" in r.stdout),
              "the report says who freed the memory")
    else:
        check("SIGKILL sent" in r.stdout and "freed by its exit" in r.stdout
              and ENOSYS_MSG + " (ENOSYS)" in r.stdout,
              "without process_mrelease: the report says the exit freed "
              "the memory, and why")
    check(p.wait(timeout=30) == -9, "the victim died of SIGKILL")


def test_reap_json():
    p = victim()
    _, doc = run_json(["reap", "--signal", "TERM", p.pid], check_rc=0)
    proc = doc["processes"][0]
    check(doc["command"] == "reap" and doc["signal"] == "TERM",
          "the document names the command and the signal")
    check(proc["status"] == "freed" and
          (proc["freed_by"], proc["mrelease_error"], proc["mrelease_errno"],
           proc["mrelease_message"]) in
          ([("process_mrelease", None, None, None),
            ("exit", "ESRCH", 3, "its memory was already gone")] if MRELEASE
           else [("exit", "ENOSYS", 38, ENOSYS_MSG)]),
          "freed by process_mrelease, or by the exit that won the race "
          "(without process_mrelease: by the exit, ENOSYS)")
    check(proc["rss_kb_before"] >= 65536 and proc["bytes_released"] >=
          64 << 20, "64 MiB released (%d)" % proc["bytes_released"])
    check(doc["summary"]["exit_status"] == 0, "summary exit status 0")
    check(p.wait(timeout=30) == -15, "the victim died of SIGTERM")


def test_not_dying():
    p = victim("handle")
    try:
        _, doc = run_json(["reap", "-s", "SIGTERM", "--no-wait", p.pid],
                          check_rc=0)
        proc = doc["processes"][0]
        check(proc["status"] == "signalled" and
              proc["mrelease_error"] == ("EINVAL" if MRELEASE else "ENOSYS"),
              "a caught signal: process_mrelease refused, EINVAL (ENOSYS "
              "without it)")
        check(alive(p) and mem_kb(p.pid)[0] >= 65536,
              "the victim runs with its memory")
    finally:
        p.kill()
        p.wait()
    # without --no-wait, a process that ignores the signal: 6 after 5 s
    p = victim("ignore")
    try:
        r = run(["reap", "-s", "15", p.pid], check_rc=6)
        check("not freed within 5 s" in r.stdout, "the report says why")
        check(alive(p), "the victim runs")
    finally:
        p.kill()
        p.wait()


def test_gone_and_denied():
    p = victim()
    p.kill()
    p.wait()
    run(["reap", p.pid], check_rc=4)
    q = victim()
    try:
        r = subprocess.run(NOBODY + [pmadvise_path(), "reap", str(q.pid)],
                           capture_output=True, text=True, timeout=60)
        print(r.stdout + r.stderr)
        check(r.returncode == 3, "no permission: exit 3 (%d)" % r.returncode)
        check(alive(q), "the victim was not killed")
        # a mix of kinds: 1
        r = subprocess.run(NOBODY + [pmadvise_path(), "reap", str(p.pid),
                                     str(q.pid)],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1, "gone and denied: exit 1 (%d)" %
              r.returncode)
    finally:
        q.kill()
        q.wait()


def kthread():
    for d in os.listdir("/proc"):
        if d.isdigit():
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD, field 9
                return int(d)
    return None


def test_kernel_thread():
    k = kthread()
    if k is None:  # a PID namespace shows none
        if os.environ.get("CI") == "true":
            fail("no kernel thread visible under CI")
        print("no kernel thread visible here; not tried")
        return
    r = run(["reap", k], check_rc=5)
    check("kernel thread" in r.stdout, "a kernel thread: exit 5, at once")


def test_usage():
    p = victim()
    try:
        run(["reap"], check_rc=2)
        run(["reap", "-s", "NOSUCH", p.pid], check_rc=2)
        run(["reap", "-s", "0", p.pid], check_rc=2)
        r = run(["reap", p.pid, p.tid], check_rc=2)
        check("thread of PID %d" % p.pid in r.stderr, "a TID is named")
        check(alive(p), "a usage error kills nothing, not even the "
              "PIDs before it")
    finally:
        p.kill()
        p.wait()


def main():
    on_sigterm_exit()
    need_root()
    test_reap_human()
    test_reap_json()
    test_not_dying()
    test_gone_and_denied()
    test_kernel_thread()
    test_usage()
    print("PASS")


main()
