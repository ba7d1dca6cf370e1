#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the procmadvise module tests (and any extra static test programs) in
# a Debian 6.1 kernel under qemu with TCG, because the host kernel cannot
# load modules. Builds the module against the installed Debian headers,
# takes the kernel image and the zram modules out of the linux-image .deb
# without installing it, packs an initramfs with busybox-static, boots it
# and reads the verdict from the console marker and qemu's exit status.
#
# Usage: run-vm-tests.sh [-k] [[--env=NAME=VALUE]... [--file=PATH]...
#                               [--tool=NAME]... [--name=NAME]
#                               EXTRA_TEST[:TIMEOUT]]...
#        run-vm-tests.sh --fetch-only
#   EXTRA_TEST  a program run in the guest after the module tests (exit 0
#               pass, 77 skip, else fail); also taken from
#               $PMADV_VM_EXTRA_TESTS (space separated). A dynamically
#               linked one (e.g. a cmocka suite) is copied in with the
#               shared libraries and the loader that ldd names, each at its
#               host path, so its RUNPATH still finds build-tree libraries.
#   --env=NAME=VALUE  set for the next EXTRA_TEST only (CI=true is set for
#               every guest program)
#   --file=PATH  a file the next EXTRA_TEST needs, copied into the guest at
#               the same absolute path (with its libraries if it is a
#               dynamically linked program; a directory with its contents,
#               less __pycache__), so --env paths stay valid
#   --name=NAME  the name the next EXTRA_TEST runs and reports under
#               (default: its file name), so one program can run twice,
#               e.g. with different --env
#   --tool=NAME  a host program (found in PATH) copied into the guest the
#               same way; the guest's PATH puts it before busybox's applet
#               of that name (e.g. util-linux's swapon, which has -p)
#   -k          keep the work directory
#   --fetch-only  only fetch and unpack the kernel into the cache
# Environment:
#   CI=true              missing dependencies fail the run instead of skipping
#   PMADV_VM_KVER        kernel version (default: newest installed
#                        /usr/src/linux-headers-*-amd64)
#   PMADV_VM_WORKDIR     work directory (default: a fresh temporary one)
#   PMADV_VM_CACHE       where extracted kernels are kept between runs
#   PMADV_VM_TIMEOUT     seconds for the whole VM run (default 900)
#   PMADV_VM_MEM         guest memory in MiB (default 1024)
#   PMADV_VM_MODULE_TESTS=0  run only the extra tests (e.g. a benchmark)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
keep=0
fetch_only=0
case ${1:-} in
-k) keep=1; shift ;;
--fetch-only) fetch_only=1; shift ;;
esac

# Without the tools the suite cannot run: CI must hear about it as a
# failure; a developer's machine may skip (exit 77, Meson's SKIP).
unavailable() {
	echo "run-vm-tests: cannot run: $*" >&2
	if [ "${CI:-}" = true ]; then
		echo "run-vm-tests: CI=true, so this is a failure (run tests/vm/install-deps.sh)" >&2
		exit 1
	fi
	echo "run-vm-tests: skipping (install the dependencies with tests/vm/install-deps.sh)" >&2
	exit 77
}

for tool in qemu-system-x86_64 gcc make cpio gzip readelf strip tar dpkg-deb dpkg-query apt-get timeout; do
	command -v "$tool" >/dev/null 2>&1 || unavailable "$tool not found"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || unavailable "busybox not found (package busybox-static)"
# The dynamic busybox would need a libc in the initramfs.
if readelf -l "$busybox" | grep -q 'Requesting program interpreter'; then
	unavailable "$busybox is dynamically linked (install busybox-static)"
fi
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || unavailable "no static libc (libc6-dev)"
# One guest test is a 32-bit program, for the module's compat path, built
# by the i386 cross compiler (gcc-multilib cannot sit beside the others).
cc32=i686-linux-gnu-gcc
probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/pmadv-vm-probe.XXXXXX")
echo 'int main(void) { return 0; }' > "$probe_dir/m32.c"
if ! "$cc32" -static -o "$probe_dir/m32" "$probe_dir/m32.c" 2>/dev/null; then
	rm -rf "$probe_dir"
	unavailable "$cc32 cannot build static 32-bit programs (gcc-i686-linux-gnu, libc6-dev-i386-cross)"
fi
rm -rf "$probe_dir"

. "$top/tests/common/kheaders.sh"
pick_kernel_headers "${PMADV_VM_KVER:-}"

if [ -n "${PMADV_VM_WORKDIR:-}" ]; then
	work=$PMADV_VM_WORKDIR
	# Only ever wipe a directory this script made.
	if [ -d "$work" ] && [ -n "$(ls -A "$work")" ] && [ ! -f "$work/.pmadv-vm" ]; then
		echo "run-vm-tests: $work is not empty and not a previous work directory" >&2
		exit 1
	fi
	rm -rf "$work"
	mkdir -p "$work"
	: > "$work/.pmadv-vm"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/pmadv-vm.XXXXXX")
fi
cleanup() {
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${PMADV_VM_CACHE:-}" ]; then
	cache=$PMADV_VM_CACHE
elif [ "$(id -u)" = 0 ]; then
	cache=/var/cache/procmadvise-vm
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/procmadvise-vm
fi
# The image must be the very build the headers describe (symbol CRCs), so
# the package version pins both the download and the cache entry.
kpkgver=$(dpkg-query -W -f '${Version}' "linux-headers-$kver" 2>/dev/null || true)
cache=$cache/$kver${kpkgver:+_$kpkgver}

# The kernel image and the swap modules come from the .deb, unpacked
# without installing it: installing would run update-initramfs and pull in
# udev, and the host has no use for that kernel.
fetch_kernel() {
	mods=lib/modules/$kver/kernel
	# zram for swap and spare block devices; ext4 (which also mounts ext2),
	# what it links against and the crc32c it asks the crypto API for at
	# mount time, for a /var/tmp whose page cache can be dropped and paged
	# out, unlike the initramfs's.
	modfiles="drivers/block/zram/zram.ko mm/zsmalloc.ko lib/crc16.ko
crypto/crc32c_generic.ko fs/mbcache.ko fs/jbd2/jbd2.ko fs/ext4/ext4.ko"
	have=1
	for f in vmlinuz $modfiles; do
		[ -f "$cache/${f##*/}" ] || have=0
	done
	[ "$have" = 0 ] || return 0
	mkdir -p "$cache/deb.$$"
	chmod 0755 "$cache/deb.$$"
	echo "run-vm-tests: fetching linux-image-$kver"
	(cd "$cache/deb.$$" && apt-get download "linux-image-$kver${kpkgver:+=$kpkgver}" >/dev/null 2>"$work/apt.log") ||
		{ cat "$work/apt.log" >&2; rm -rf "$cache/deb.$$"; unavailable "apt-get download linux-image-$kver failed"; }
	deb=$(ls "$cache/deb.$$/linux-image-${kver}_"*.deb | head -n 1)
	mkdir -p "$work/deb"
	members="./boot/vmlinuz-$kver"
	for f in $modfiles; do
		members="$members ./$mods/$f"
	done
	# shellcheck disable=SC2086
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/deb" $members
	# Renames, so a concurrent run never sees half a file.
	for f in "boot/vmlinuz-$kver:vmlinuz" $modfiles; do
		case $f in
		*:*) from=${f%%:*} to=${f#*:} ;;
		*) from=$mods/$f to=${f##*/} ;;
		esac
		cp "$work/deb/$from" "$cache/$to.$$"
		mv -f "$cache/$to.$$" "$cache/$to"
	done
	rm -rf "$cache/deb.$$" "$work/deb"
}
fetch_kernel
if [ "$fetch_only" = 1 ]; then
	echo "run-vm-tests: kernel $kver ready in $cache"
	exit 0
fi

echo "run-vm-tests: building the module against $kdir"
PMADV_KMOD_WERROR=1 "$top/src/kmod/build.sh" "$kdir" "$work/kmod" > "$work/kmod.log" 2>&1 ||
	{ cat "$work/kmod.log" >&2; echo "run-vm-tests: module build failed" >&2; exit 1; }

root=$work/root
mkdir -p "$root/bin" "$root/lib" "$root/tests" "$root/dev" "$root/proc" \
	"$root/sys" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
cp "$here/guest/init.sh" "$root/init"
chmod 0755 "$root/init"
strip --strip-debug -o "$root/lib/procmadvise.ko" "$work/kmod/procmadvise.ko"
for m in zram zsmalloc crc16 crc32c_generic mbcache jbd2 ext4; do
	cp "$cache/$m.ko" "$root/lib/"
done
if [ "$(id -u)" = 0 ]; then
	mknod -m 0600 "$root/dev/console" c 5 1
fi

cflags="-static -O2 -g0 -Wall -Wextra -Werror -pthread -I$top/include"
gcc $cflags -o "$root/bin/vm-exit" "$here/guest/vm-exit.c"
: > "$root/tests/list"
# name and timeout (s) of each module test, in run order.
module_tests="t_input:240 t_effects:240 t_perm:120 t_compat:60 t_unload:300 t_refuse:60"
[ "${PMADV_VM_MODULE_TESTS:-1}" != 0 ] || module_tests=
for t in $module_tests; do
	name=${t%%:*}
	tcc=gcc
	[ "$name" != t_compat ] || tcc=$cc32
	"$tcc" $cflags -o "$root/tests/$name" "$here/guest/$name.c" ||
		{ echo "run-vm-tests: cannot build $name" >&2; exit 1; }
	echo "$name ${t#*:}" >> "$root/tests/list"
done

# Copies a file into the guest at its absolute host path; for a dynamically
# linked program also every library ldd resolves and the loader.
guest_copy() {
	mkdir -p "$root${1%/*}"
	if [ -d "$1" ]; then
		# A directory (e.g. an interpreter's library): its files as
		# they are, without compiled caches; once.
		[ ! -e "$root$1" ] || return 0
		mkdir -p "$root$1"
		(cd "$1" && find . -name __pycache__ -prune -o -print |
			cpio -pdm --quiet "$root$1")
		return 0
	fi
	cp -L "$1" "$root$1"
	readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter' || return 0
	ldd "$1" > "$work/ldd.out" 2>&1 ||
		{ cat "$work/ldd.out" >&2; echo "run-vm-tests: ldd $1 failed" >&2; exit 1; }
	if grep -q 'not found' "$work/ldd.out"; then
		cat "$work/ldd.out" >&2
		echo "run-vm-tests: $1 needs a library that is not installed" >&2
		exit 1
	fi
	for lib in $(sed -n 's|^[^/]*\(/[^ ]*\) (0x.*|\1|p' "$work/ldd.out"); do
		# glibc dlopens libgcc_s for pthread_exit and cancellation;
		# ldd does not list it.
		case $lib in
		*/libc.so.6) set -- "$lib" "${lib%/*}/libgcc_s.so.1" ;;
		*) set -- "$lib" ;;
		esac
		for l in "$@"; do
			if [ -e "$l" ] && [ ! -e "$root$l" ]; then
				mkdir -p "$root${l%/*}"
				cp -L "$l" "$root$l"
			fi
		done
	done
}

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")" ;;
	esac
}

# Each extra test runs through a wrapper, /tests/NAME, that sets its
# environment and execs it at its host path.
: > "$work/env.next"
next_name=
for x in "$@" ${PMADV_VM_EXTRA_TESTS:-}; do
	case $x in
	--env=*=*)
		var=${x#--env=}
		value=${var#*=}
		var=${var%%=*}
		case $var in
		'' | [0-9]* | *[!A-Za-z0-9_]*)
			echo "run-vm-tests: bad variable name in $x" >&2
			exit 1 ;;
		esac
		printf "export %s='%s'\n" "$var" \
			"$(printf '%s' "$value" | sed "s/'/'\\\\''/g")" >> "$work/env.next"
		continue ;;
	--name=*)
		next_name=${x#--name=}
		case $next_name in
		'' | *[!A-Za-z0-9_.+-]*)
			echo "run-vm-tests: bad test name in $x" >&2
			exit 1 ;;
		esac
		continue ;;
	--file=*)
		f=${x#--file=}
		[ -e "$f" ] || { echo "run-vm-tests: file $f not found" >&2; exit 1; }
		guest_copy "$(abspath "$f")"
		continue ;;
	--tool=*)
		f=$(command -v "${x#--tool=}" || true)
		case $f in
		/*) guest_copy "$f" ;;
		*) unavailable "${x#--tool=} not found (a guest test needs it)" ;;
		esac
		# busybox's shell runs its own applets whatever PATH says: the
		# host's /bin/sh becomes the guest's, so that system() and
		# popen() find the tool (init.sh itself runs busybox sh).
		if [ ! -e "$root/bin/sh" ]; then
			guest_copy "$(readlink -f /bin/sh)"
			cp -L /bin/sh "$root/bin/sh"
		fi
		continue ;;
	-*)
		echo "run-vm-tests: unknown option $x" >&2
		exit 1 ;;
	esac
	path=${x%%:*}
	tmo=300
	[ "$path" = "$x" ] || tmo=${x#*:}
	[ -x "$path" ] || { echo "run-vm-tests: extra test $path not found" >&2; exit 1; }
	path=$(abspath "$path")
	name=${next_name:-$(basename "$path")}
	next_name=
	[ ! -e "$root/tests/$name" ] || { echo "run-vm-tests: two extra tests named $name" >&2; exit 1; }
	guest_copy "$path"
	{
		echo '#!/bin/sh'
		cat "$work/env.next"
		printf "exec '%s' \"\$@\"\n" "$path"
	} > "$root/tests/$name"
	chmod 0755 "$root/tests/$name"
	: > "$work/env.next"
	echo "$name $tmo" >> "$root/tests/list"
done
[ ! -s "$work/env.next" ] || { echo "run-vm-tests: --env after the last test" >&2; exit 1; }
[ -z "$next_name" ] || { echo "run-vm-tests: --name after the last test" >&2; exit 1; }

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$work/initramfs.cpio.gz"

echo "run-vm-tests: booting $kver under qemu (TCG)"
set +e
timeout "${PMADV_VM_TIMEOUT:-900}" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp 2 -m "${PMADV_VM_MEM:-1024}" \
	-nic none -nographic -no-reboot \
	-kernel "$cache/vmlinuz" -initrd "$work/initramfs.cpio.gz" \
	-append "console=ttyS0 quiet panic=-1 transparent_hugepage=madvise" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	</dev/null > "$work/console.raw" 2>&1
qemu_rc=$?
set -e
tr -d '\r' < "$work/console.raw" > "$work/console.log"
cat "$work/console.log"

# Both channels must agree: the marker (what the guest said) and qemu's
# status, (byte << 1) | 1 from isa-debug-exit: 1 for a guest that wrote 0.
# qemu exits 0 on power-off or panic, 124 is timeout's.
grep -a '^PMADV-TEST ' "$work/console.log" > "$work/verdicts" || true
npass=$(grep -c ': PASS' "$work/verdicts" || true)
nfail=$(grep -c ': FAIL' "$work/verdicts" || true)
nskip=$(grep -c ': SKIP' "$work/verdicts" || true)
marker=$(grep -a '^PMADV-VM-RESULT: ' "$work/console.log" | tail -n 1 || true)
echo "run-vm-tests: qemu exit status $qemu_rc, ${marker:-no verdict marker}"
if [ "$qemu_rc" = 1 ] && [ "$marker" = "PMADV-VM-RESULT: PASS" ] && [ "$nfail" = 0 ]; then
	echo "vm: $npass passed, $nfail failed, $nskip skipped"
	exit 0
fi
case $qemu_rc in
1 | 3) ;;
124) echo "run-vm-tests: the VM timed out" >&2 ;;
*) echo "run-vm-tests: the guest ended without a verdict (crash or panic?)" >&2 ;;
esac
# meson shows only a long log's tail: repeat what each failing test printed
# there, so the cause is on screen and not a hundred lines up.
grep -a ': FAIL' "$work/verdicts" | sed -n 's/^PMADV-TEST \([^:]*\): FAIL.*/\1/p' |
	while read -r t; do
		echo "run-vm-tests: $t failed; its last lines:"
		grep -aF "[$t] " "$work/console.log" | tail -n 40
	done
[ "$nfail" != 0 ] || nfail=1
echo "vm: $npass passed, $nfail failed, $nskip skipped"
exit 1
