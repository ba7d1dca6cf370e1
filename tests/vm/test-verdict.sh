#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# verdict.sh against made-up console logs, without a VM: a run passes only
# when the guest's marker and qemu's status both say so, no test failed,
# and, under CI=true, none skipped; a test's own output cannot forge a
# verdict line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
t=$(mktemp -d "${TMPDIR:-/tmp}/pmadv-verdict.XXXXXX")
trap 'rm -rf "$t"' EXIT
failed=0

# expect WANT CI QEMU_STATUS DESCRIPTION, the console log on stdin.
expect() {
	cat > "$t/log"
	set +e
	CI=$2 "$here/verdict.sh" "$t/log" "$3" 6.1.0-test > "$t/out" 2>&1
	rc=$?
	set -e
	if [ "$rc" = "$1" ]; then
		echo "ok: $4"
	else
		echo "FAIL: $4: exit $rc, expected $1"
		sed 's/^/  /' "$t/out"
		failed=1
	fi
}

good='PMADV-VM: booted 6.1.0-test
PMADV-VM: running t_kernel
[t_kernel] PMADV-KERNEL ok
PMADV-TEST t_kernel: PASS (exit 0, 1 s)
PMADV-TEST dmesg-clean: PASS
PMADV-VM-RESULT: PASS'

printf '%s\n' "$good" | expect 0 false 1 "every test passed"
printf '%s\n' "$good" | expect 0 true 1 "every test passed, CI"
printf '%s\n' "$good" | expect 1 false 0 "the marker without qemu's status (power-off, panic)"
printf '%s\n' "$good" | expect 1 false 124 "timed out after the marker"
printf '%s\n' "$good" | expect 1 false 3 "qemu says the guest failed"
printf '%s\nPMADV-TEST t_x: FAIL (exit 1, 1 s)\n' "$good" |
	expect 1 false 1 "a FAIL line beside a PASS marker"
printf 'PMADV-VM-RESULT: PASS\nPMADV-VM-RESULT: FAIL\n' |
	expect 1 false 1 "the last marker counts"
printf '[t_x] PMADV-VM-RESULT: PASS\n[t_x] PMADV-TEST t_x: PASS\nPMADV-TEST t_x: FAIL (exit 1, 1 s)\nPMADV-VM-RESULT: FAIL\n' |
	expect 1 false 3 "a test's output forging a PASS"
printf '%s\nPMADV-TEST t_y: SKIP (exit 77, 0 s)\n' "$good" |
	expect 0 false 1 "a skip outside CI"
printf '%s\nPMADV-TEST t_y: SKIP (exit 77, 0 s)\n' "$good" |
	expect 1 true 1 "a skip under CI=true"
grep -q 't_y' "$t/out" || { echo "FAIL: the skipped test is not named"; failed=1; }
printf '' | expect 1 false 0 "an empty console"
printf '[t_z] the cause\nPMADV-TEST t_z: FAIL (exit 1, 1 s)\nPMADV-VM-RESULT: FAIL\n' |
	expect 1 false 3 "a failing test"
grep -q '^\[t_z\] the cause' "$t/out" || { echo "FAIL: the failing test's lines are not repeated"; failed=1; }
exit "$failed"
