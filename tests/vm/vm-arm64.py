#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The vm-arm64 test (unless meson -Dvm_arm64=disabled): sets up and compiles the
aarch64 cross build of this tree in BUILD_DIR (with cross/aarch64-linux-gnu.ini),
then runs its unit, integration, vma and ptrace suites' guest programs and the
module's ioctl-rung test in Debian 12's arm64 kernel under qemu
(run-vm-tests.sh --arch=arm64 --kernel=6.1).

Which programs go into the guest is the cross build's own list for the
amd64 guests (vm_guest_tests, the arguments of its vm-6.1 test, read with
`meson introspect --tests`); each one left out is named with the reason.
Exit status: run-vm-tests.sh's (0 pass, 1 fail, 77 skip); a cross build
that cannot be set up (no cross compiler, no arm64 libraries) skips (77),
or fails under CI=true, as run-vm-tests.sh does for its own dependencies.

Usage: vm-arm64.py SOURCE_DIR BUILD_DIR RUNNER"""

import json
import os
import shutil
import subprocess
import sys

SUITES = ("unit", "integration", "vma", "ptrace")
# e_machine of an ELF file the arm64 guest runs: its own and 32-bit ARM.
GUEST_MACHINES = {183: "AArch64", 40: "ARM"}
OTHER_MACHINES = {62: "x86-64", 3: "i386"}


def say(msg):
    print("vm-arm64: " + msg, flush=True)


def unavailable(msg):
    """A missing dependency: skip, or fail under CI (as run-vm-tests.sh)."""
    say("cannot run: " + msg)
    if os.environ.get("CI") == "true":
        say("CI=true, so this is a failure (run tests/install-deps.sh and "
            "tests/vm/install-deps.sh)")
        sys.exit(1)
    sys.exit(77)


def machine(path):
    """The ELF machine of a file, or None for a file that is no ELF."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")


def groups(args):
    """Splits run-vm-tests.sh's arguments into one list a guest program:
    its options (--env, --file, ...) and last the program itself."""
    out, cur = [], []
    for a in args:
        cur.append(a)
        if not a.startswith("-"):
            out.append(cur)
            cur = []
    return out


def program_path(token):
    """PATH of PATH[:TIMEOUT], as run-vm-tests.sh splits it."""
    head, sep, tail = token.rpartition(":")
    return head if sep and tail.isdigit() else token


def why_not(group, suite_of, build):
    """None if the group can run in the arm64 guest, else why not."""
    prog = program_path(group[-1])
    opts = group[:-1]
    # (--tool is no reason: run-vm-tests.sh fetches the tool's arm64 build.)
    for path in [prog] + [o[len("--file="):] for o in opts
                          if o.startswith("--file=")]:
        m = machine(path)
        if m is not None and m not in GUEST_MACHINES:
            return (f"needs {path}, a program for "
                    f"{OTHER_MACHINES.get(m, 'machine %d' % m)}, which the "
                    f"arm64 guest cannot run")
    suites = suite_of.get(prog)
    if suites is None:
        # A guest program of tests/vm itself (the module's ioctl rung).
        if os.path.dirname(prog) == os.path.join(build, "tests", "vm"):
            return None
        return "no test of the cross build runs it, so its suite is unknown"
    if not set(suites) & set(SUITES):
        return (f"suite {'/'.join(suites)}: vm-arm64 runs the "
                f"{', '.join(SUITES)} suites and the module's tests")
    return None


def name_of(group):
    for o in group[:-1]:
        if o.startswith("--name="):
            return o[len("--name="):]
    return os.path.basename(program_path(group[-1]))


def main():
    src, build, runner = sys.argv[1:4]
    cross = os.path.join(src, "cross", "aarch64-linux-gnu.ini")
    meson = shutil.which("meson")
    if meson is None:
        unavailable("meson not found in PATH")
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        unavailable("aarch64-linux-gnu-gcc not found (gcc-aarch64-linux-gnu)")
    if not os.path.exists(os.path.join(build, "meson-private",
                                       "coredata.dat")):
        say(f"setting up the aarch64 cross build in {build}")
        r = subprocess.run([meson, "setup", build, src, "--cross-file",
                            cross, "-Dwerror=true"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, check=False)
        if r.returncode != 0:
            print(r.stdout)
            shutil.rmtree(build, ignore_errors=True)
            unavailable(f"meson setup with {cross} failed (the arm64 "
                        "libcmocka, libcap and libsmartcols: "
                        "tests/install-deps.sh)")
    say(f"compiling the aarch64 cross build in {build}")
    r = subprocess.run([meson, "compile", "-C", build],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, check=False)
    if r.returncode != 0:
        print(r.stdout)
        say("the aarch64 cross build failed")
        return 1
    tests = json.loads(subprocess.run(
        [meson, "introspect", "--tests", build], stdout=subprocess.PIPE,
        text=True, check=True).stdout)
    suite_of = {}
    for t in tests:
        suites = [s.split(":", 1)[-1] for s in t["suite"]]
        suite_of.setdefault(t["cmd"][0], suites)
    vm = [t for t in tests if t["name"] == "vm-6.1"]
    if not vm:
        say(f"the cross build in {build} has no vm-6.1 test, whose "
            "arguments list the guest programs")
        return 1
    args = [a for a in vm[0]["cmd"][1:] if not a.startswith("--kernel=")]
    run, left_out = [], []
    guest_progs = set()
    for g in groups(args):
        reason = why_not(g, suite_of, build)
        guest_progs.add(program_path(g[-1]))
        if reason is None:
            run += g
        else:
            left_out.append(f"{name_of(g)}: {reason}")
    # The suites' tests that no guest runs on amd64 either.
    host_only = sorted(t["name"] for t in tests
                       if set(s.split(":", 1)[-1] for s in t["suite"])
                       & set(SUITES) and t["cmd"][0] not in guest_progs)
    for line in left_out:
        say("not run in the arm64 guest: " + line)
    if host_only:
        say("host-only tests of the " + ", ".join(SUITES) + " suites (no "
            "VM guest runs them on amd64 either): " + " ".join(host_only))
    cmd = [runner, "--arch=arm64", "--kernel=6.1"] + run
    say("running " + " ".join(os.path.basename(program_path(g[-1]))
                              for g in groups(run)))
    sys.stdout.flush()
    rc = subprocess.run(cmd, check=False).returncode
    # Again at the end, where meson's log tail shows it.
    for line in left_out:
        say("not run in the arm64 guest: " + line)
    return rc


if __name__ == "__main__":
    sys.exit(main())
