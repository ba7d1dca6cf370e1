#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# DKMS, build and package only (the host cannot load modules): makes the
# source directory with src/kmod/dkms-source.sh, then `dkms add`, `dkms
# build` against an installed Debian kernel's headers, `dkms mktarball`,
# `dkms remove` and `dkms add procmadvise/VERSION` (by name),
# all in private DKMS trees (--dkmstree, --sourcetree) and with a private
# signing key under a temporary directory, so /usr/src and /var/lib/dkms
# stay untouched. Checks the built
# module's vermagic and parameters, `dkms status`, and the tarball's
# contents. Without dkms, root or headers it skips (77), or fails under
# CI=true. PMADV_DKMS_KVER picks the kernel (default: the newest
# /usr/src/linux-headers-*-amd64).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

unavailable() {
	echo "test-dkms: cannot run: $*" >&2
	if [ "${CI:-}" = true ]; then
		echo "test-dkms: CI=true, so this is a failure (run tests/install-deps.sh)" >&2
		exit 1
	fi
	exit 77
}
fail() {
	echo "test-dkms: FAIL: $*" >&2
	exit 1
}

command -v dkms >/dev/null 2>&1 || unavailable "dkms not found"
command -v modinfo >/dev/null 2>&1 || unavailable "modinfo not found (kmod)"
[ "$(id -u)" = 0 ] || unavailable "dkms add needs root"
. "$top/tests/common/kheaders.sh"
pick_kernel_headers "${PMADV_DKMS_KVER:-}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmadv-dkms.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trees="--dkmstree $tmp/var-lib-dkms --sourcetree $tmp/usr-src"
# dkms signs what it builds, with a key it makes on first use in
# /var/lib/dkms unless told otherwise (framework.conf, or these variables).
export mok_signing_key="$tmp/mok.key" mok_certificate="$tmp/mok.pub"
mkdir -p "$tmp/var-lib-dkms" "$tmp/usr-src"

src=$("$top/src/kmod/dkms-source.sh" "$tmp/made")
ver=${src##*/procmadvise-}
echo "test-dkms: procmadvise $ver against $kver"
for f in dkms.conf procmadvise.c Kbuild procmadvise-ioctl.h; do
	[ -f "$src/$f" ] || fail "dkms-source.sh left out $f"
done
grep -qx "PACKAGE_VERSION=\"$ver\"" "$src/dkms.conf" || fail "dkms.conf has no PACKAGE_VERSION=\"$ver\""

# shellcheck disable=SC2086
dkms add $trees "$src" > "$tmp/add.log" 2>&1 || { cat "$tmp/add.log" >&2; fail "dkms add"; }
[ -f "$tmp/usr-src/procmadvise-$ver/dkms.conf" ] || fail "dkms add did not copy the sources"
# shellcheck disable=SC2086
dkms build $trees -m procmadvise -v "$ver" -k "$kver" \
	--kernelsourcedir "$kdir" > "$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log" "$tmp/var-lib-dkms/procmadvise/$ver/build/make.log" >&2 2>/dev/null; fail "dkms build"; }
ko=$tmp/var-lib-dkms/procmadvise/$ver/$kver/x86_64/module/procmadvise.ko
[ -f "$ko" ] || ko=$ko.xz
[ -f "$ko" ] || { cat "$tmp/build.log" >&2; fail "no procmadvise.ko after dkms build"; }
vermagic=$(modinfo -F vermagic "$ko")
case $vermagic in
"$kver "*) ;;
*) fail "vermagic \"$vermagic\", want $kver" ;;
esac
params=$(modinfo -F parm "$ko")
for p in mode gid force_ibt_refusal pretend_missing; do
	printf '%s\n' "$params" | grep -q "^$p:" || fail "module parameter $p missing"
done
# Debian's dkms signs the module with its own key (3.0).
if [ -f "$tmp/mok.pub" ]; then
	[ "$(modinfo -F signer "$ko")" = "DKMS module signing key" ] ||
		fail "module not signed with the key made for the test"
fi
# shellcheck disable=SC2086
status=$(dkms status $trees -m procmadvise -v "$ver" -k "$kver")
case $status in
*": built"*) ;;
*) fail "dkms status: \"$status\", want built" ;;
esac

# shellcheck disable=SC2086
dkms mktarball $trees -m procmadvise -v "$ver" -k "$kver" \
	--archive "$tmp/procmadvise-dkms.tar.gz" > "$tmp/tar.log" 2>&1 ||
	{ cat "$tmp/tar.log" >&2; fail "dkms mktarball"; }
tar -tzf "$tmp/procmadvise-dkms.tar.gz" > "$tmp/tar.list"
for m in "dkms_main_tree/$kver/x86_64/module/procmadvise.ko" \
	dkms_source_tree/dkms.conf dkms_source_tree/procmadvise.c \
	dkms_source_tree/procmadvise-ioctl.h; do
	grep -q "^\(\./\)\?$m\(\.xz\)\?\$" "$tmp/tar.list" ||
		{ cat "$tmp/tar.list" >&2; fail "$m not in the tarball"; }
done

# shellcheck disable=SC2086
dkms remove $trees -m procmadvise -v "$ver" --all > "$tmp/remove.log" 2>&1 ||
	{ cat "$tmp/remove.log" >&2; fail "dkms remove"; }
[ ! -d "$tmp/var-lib-dkms/procmadvise/$ver" ] || fail "dkms remove left $tmp/var-lib-dkms/procmadvise/$ver"
# The sources stay in the source tree, as in /usr/src/procmadvise-VERSION:
# added again by name, as a package or an administrator would.
# shellcheck disable=SC2086
dkms add $trees "procmadvise/$ver" > "$tmp/add2.log" 2>&1 ||
	{ cat "$tmp/add2.log" >&2; fail "dkms add procmadvise/$ver"; }
# shellcheck disable=SC2086
status=$(dkms status $trees -m procmadvise -v "$ver")
case $status in
*": added"*) ;;
*) fail "dkms status after add by name: \"$status\", want added" ;;
esac
# shellcheck disable=SC2086
dkms remove $trees -m procmadvise -v "$ver" --all > "$tmp/remove.log" 2>&1 ||
	{ cat "$tmp/remove.log" >&2; fail "dkms remove"; }
echo "test-dkms: add (path and name), build ($vermagic), status, mktarball and remove passed"
