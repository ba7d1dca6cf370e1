#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the procmadvise module tests (and any extra test programs) in a
# Debian kernel under qemu with TCG, because the host kernel cannot load
# modules. The kernel is one of a matrix (--kernel): its image, the modules
# the guest needs and its headers come out of the Debian suite's .debs,
# unpacked into a cache and never installed on the host (fetch_kernel). The
# module is built against those headers with the host's (bookworm's)
# compiler; an initramfs with busybox-static boots, and the verdict comes
# from the console marker and qemu's exit status. tests/vm/README.md says
# how, and what each kernel's headers need.
#
# Usage: run-vm-tests.sh [-k] [--kernel=NAME] [[--env=NAME=VALUE]...
#                        [--file=PATH]... [--tool=NAME]... [--arg=ARG]...
#                        [--name=NAME] EXTRA_TEST[:TIMEOUT]]...
#        run-vm-tests.sh --fetch-only [--arch=ARCH] [--kernel=NAME]
#        run-vm-tests.sh --build-only [--arch=ARCH] [--kernel=NAME]
#   --kernel=NAME  the guest kernel: 5.10 (Debian 11 bullseye), 6.1
#               (Debian 12 bookworm, the default) or 6.12 (Debian 13
#               trixie); the newest linux-image-*-amd64 of that suite
#   EXTRA_TEST  a program run in the guest after the module tests (exit 0
#               pass, 77 skip, else fail); also taken from
#               $PMADV_VM_EXTRA_TESTS (space separated). A dynamically
#               linked one (e.g. a cmocka suite) is copied in with the
#               shared libraries and the loader that ldd names, each at its
#               host path, so its RUNPATH still finds build-tree libraries.
#   --env=NAME=VALUE  set for the next EXTRA_TEST only (CI=true is set for
#               every guest program)
#   --arg=ARG   an argument for the next EXTRA_TEST (e.g. the script an
#               interpreter runs)
#   --file=PATH  a file the next EXTRA_TEST needs, copied into the guest at
#               the same absolute path (with its libraries if it is a
#               dynamically linked program or library; a directory with all
#               its contents and their times, a Python compiled cache
#               included), so --env paths stay valid
#   --name=NAME  the name the next EXTRA_TEST runs and reports under
#               (default: its file name), so one program can run twice,
#               e.g. with different --env
#   --tool=NAME  a host program (found in PATH) copied into the guest the
#               same way; the guest's PATH puts it before busybox's applet
#               of that name (e.g. util-linux's swapon, which has -p)
#   -k          keep the work directory
#   --fetch-only  only fetch and unpack the kernel (without --kernel: every
#               kernel of the matrix) into the cache; needs the network
#   --build-only  fetch the kernel if the cache lacks it, build the module
#               against its headers and check the result (its machine and
#               vermagic); boot nothing
#   --arch=ARCH  the guest's Debian architecture: amd64 (the default), or
#               arm64 (only --kernel=6.1, Debian 12's arm64 kernel), whose
#               module is cross-built (aarch64-linux-gnu-gcc) with the host's
#               own kbuild tools of the same version, and whose guest boots
#               under qemu-system-aarch64 (-M virt,mte=on -cpu max, TCG) with
#               Debian's busybox-static:arm64 (fetched, never installed) and
#               the guest programs cross-built statically. Its EXTRA_TESTs
#               are aarch64 programs (a cross build's; 32-bit ARM ones run
#               through the kernel's compat layer): their libraries are
#               found with readelf (DT_NEEDED, RUNPATH) among the cross
#               glibc's and the arm64 multiarch ones, not with ldd; --tool
#               gets the arm64 build of the host tool's Debian package
#               (fetched, never installed) (issue 11)
# Environment:
#   CI=true              missing dependencies fail the run instead of skipping
#   PMADV_VM_WORKDIR     work directory (default: a fresh temporary one)
#   PMADV_VM_CACHE       where unpacked kernels are kept between runs
#   PMADV_VM_MIRROR      the Debian archive to fetch from (default: the one
#                        the host's apt uses for its own suite)
#   PMADV_VM_SECURITY_MIRROR  and its security updates (default: the host's;
#                        empty: none)
#   PMADV_VM_TIMEOUT     seconds for the whole VM run (default 2400; 3000
#                        for arm64, whose test timeouts are doubled)
#   PMADV_VM_MEM         guest memory in MiB (default 1024)
#   PMADV_VM_GUEST_CACHE  where the guest's programs, packed once for every
#                        kernel, are kept between runs (default: nowhere)
#   PMADV_VM_MODULE_TESTS=0  run only the extra tests (e.g. a benchmark)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
keep=0
fetch_only=0
build_only=0
arch=amd64
kernel=
while :; do
	case ${1:-} in
	-k) keep=1 ;;
	--fetch-only) fetch_only=1 ;;
	--build-only) build_only=1 ;;
	--arch=*) arch=${1#--arch=} ;;
	--kernel=*) kernel=${1#--kernel=} ;;
	*) break ;;
	esac
	shift
done

# The matrix: a name for each guest kernel and the Debian suite whose
# linux-image-amd64 it is. What a kernel can do is probed by the tests,
# never looked up here.
all_kernels="5.10:bullseye 6.1:bookworm 6.12:trixie"
suite_of() {
	for k in $all_kernels; do
		[ "${k%%:*}" != "$1" ] || { echo "${k#*:}"; return 0; }
	done
	echo "run-vm-tests: unknown kernel $1 (one of: $(echo "$all_kernels" | sed 's/:[a-z]*//g'))" >&2
	exit 2
}
[ -z "$kernel" ] || suite_of "$kernel" >/dev/null
# For each Debian architecture: the module's (and the guest programs')
# cross compiler and the kernel's name for the architecture (readelf's
# "Machine:"); the guest's qemu, machine and exit device, the CPUs to try
# in turn (the first qemu takes), its console, the compiler of the 32-bit
# guest program (the module's compat path), the static libc the guest
# programs link, and how much longer than the timeouts the tests give
# (written for an x86-64 guest under TCG) its tests may take, and the
# whole run's default timeout (below).
case $arch in
amd64)
	kcross='' kmachine='Advanced Micro Devices X86-64'
	qemu=qemu-system-x86_64 console=ttyS0
	qemu_machine='-device isa-debug-exit,iobase=0xf4,iosize=0x04'
	qemu_cpus=max tscale=1 vm_timeout=2400
	cc32=i686-linux-gnu-gcc cc32_pkgs='gcc-i686-linux-gnu, libc6-dev-i386-cross'
	libc_a=/usr/lib/x86_64-linux-gnu/libc.a
	;;
arm64)
	kcross=aarch64-linux-gnu- kmachine=AArch64
	qemu=qemu-system-aarch64 console=ttyAMA0
	# semihosting from EL0: vm-exit's SYS_EXIT (guest/vm-exit.c).
	qemu_machine='-M virt,mte=on -semihosting-config enable=on,target=native,userspace=on'
	# Pointer authentication with qemu's own hash instead of the
	# architected QARMA, which TCG computes slowly: the same features for
	# the guest (paca, pacg), and the module tests and test-engine took
	# 31 s instead of 75 s. Plain max where qemu lacks the property.
	qemu_cpus='max,pauth-impdef=on max'
	# With pauth-impdef the tests ran about as fast as in the x86-64
	# guest, 2.4 times slower without it: twice the time for each test
	# and for the whole run.
	tscale=2 vm_timeout=3000
	cc32=arm-linux-gnueabihf-gcc cc32_pkgs='gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross'
	libc_a=/usr/aarch64-linux-gnu/lib/libc.a
	;;
*)
	echo "run-vm-tests: unknown architecture $arch (amd64 or arm64)" >&2
	exit 2
	;;
esac
# Debian 12's is the one arm64 kernel fetched (and booted).
if [ "$arch" != amd64 ] && [ -n "$kernel" ] && [ "$kernel" != 6.1 ]; then
	echo "run-vm-tests: --arch=$arch takes only --kernel=6.1 (Debian 12's $arch kernel), not $kernel" >&2
	exit 2
fi

# Without the tools the suite cannot run: CI must hear about it as a
# failure; a developer's machine may skip (exit 77, Meson's SKIP). A fetch
# asked for (--fetch-only, install-deps.sh) fails.
unavailable() {
	echo "run-vm-tests: cannot run: $*" >&2
	if [ "${CI:-}" = true ]; then
		echo "run-vm-tests: CI=true, so this is a failure (run tests/vm/install-deps.sh)" >&2
		exit 1
	fi
	[ "$fetch_only" = 0 ] || exit 1
	echo "run-vm-tests: skipping (install the dependencies with tests/vm/install-deps.sh)" >&2
	exit 77
}

for tool in dpkg-deb apt-get apt-cache modinfo xz readelf flock; do
	command -v "$tool" >/dev/null 2>&1 || unavailable "$tool not found"
done
if [ "$fetch_only" = 0 ]; then
	for tool in "${kcross}gcc" make; do
		command -v "$tool" >/dev/null 2>&1 || unavailable "$tool not found"
	done
fi
# The rest only for a run.
if [ "$fetch_only" = 0 ] && [ "$build_only" = 0 ]; then
	for tool in "$qemu" cpio gzip "${kcross}strip" timeout; do
		command -v "$tool" >/dev/null 2>&1 || unavailable "$tool not found"
	done
	if [ "$arch" = amd64 ]; then
		busybox=$(command -v busybox || true)
		[ -n "$busybox" ] || unavailable "busybox not found (package busybox-static)"
		# The dynamic busybox would need a libc in the initramfs.
		if readelf -l "$busybox" | grep -q 'Requesting program interpreter'; then
			unavailable "$busybox is dynamically linked (install busybox-static)"
		fi
	fi
	[ -f "$libc_a" ] || unavailable "no static libc for ${kcross}gcc ($libc_a)"
	# One guest test is a 32-bit program, for the module's compat path, built
	# by the 32-bit cross compiler (gcc-multilib cannot sit beside the others).
	probe_dir=$(mktemp -d "${TMPDIR:-/tmp}/pmadv-vm-probe.XXXXXX")
	printf '#include <errno.h>\nint main(void) { return errno; }\n' > "$probe_dir/m32.c"
	if ! "$cc32" -static -o "$probe_dir/m32" "$probe_dir/m32.c" 2>/dev/null; then
		rm -rf "$probe_dir"
		unavailable "$cc32 cannot build static 32-bit programs ($cc32_pkgs)"
	fi
	# The machine, the exit device and the CPU, tried (qemu refuses an
	# option or a property it lacks at once, e.g. semihosting's userspace=
	# before 7.2, mte= without TCG): started stopped, told to quit.
	qemu_cpu=
	for c in $qemu_cpus; do
		# shellcheck disable=SC2086
		if echo quit | "$qemu" -accel tcg $qemu_machine -cpu "$c" -display none \
			-monitor stdio -S > "$probe_dir/qemu.log" 2>&1; then
			qemu_cpu=$c
			break
		fi
	done
	if [ -z "$qemu_cpu" ]; then
		grep -v '^(qemu)\|^QEMU .*monitor' "$probe_dir/qemu.log" >&2
		rm -rf "$probe_dir"
		unavailable "$qemu refuses the guest's machine ($qemu_machine -cpu $qemu_cpus)"
	fi
	rm -rf "$probe_dir"
fi

if [ -n "${PMADV_VM_CACHE:-}" ]; then
	cache=$PMADV_VM_CACHE
elif [ "$(id -u)" = 0 ]; then
	cache=/var/cache/procmadvise-vm
else
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/procmadvise-vm
fi
mkdir -p "$cache"

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
# Also a kernel or a packed guest this run left half-written: nothing
# trusts them, but they are hundreds of MiB.
cleanup() {
	[ -z "${new:-}" ] || rm -rf "$new"
	[ -z "${gcache:-}" ] || rm -f "$gcache"/*.$$
	[ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
# meson ends a test (its timeout, Ctrl-C) with SIGTERM to its process
# group: exit through the EXIT trap, which a signal's default action skips.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# apt-get and apt-cache on a suite of their own, under $cache/apt/SUITE,
# so the host's apt configuration and its installed packages are never
# touched (tools/debian-apt.sh). amd64's lists where they always were;
# another architecture's apart, with amd64 beside it for the host's kbuild
# tools.
. "$top/tools/debian-apt.sh"
suite_apt() {
	if [ "$arch" = amd64 ]; then
		debian_apt "$cache/apt/$1" amd64
	else
		debian_apt "$cache/apt/$1-$arch" "$arch" amd64
	fi
}

# The file in $cache that names the kernel of matrix entry $1 (for --arch).
kernel_record() {
	if [ "$arch" = amd64 ]; then
		echo "kernel-$1"
	else
		echo "kernel-$1-$arch"
	fi
}

# Fetches the newest kernel of suite $2 for matrix entry $1: the image, the
# modules the guest loads (with what they depend on, uncompressed) and the
# headers with their kbuild tools, unpacked into $cache/KVER; then records
# KVER in $cache/$(kernel_record $1).
fetch_kernel() {
	name=$1 suite=$2 record=$(kernel_record "$1")
	suite_apt "$suite"
	# One run at a time fetches a suite: a second apt-get update of the
	# same lists fails at once on apt's lock (two build trees, or
	# install-deps.sh beside a test). The lock ends with this function.
	exec 9> "$adir/lock"
	flock 9
	mirror=${PMADV_VM_MIRROR:-$(debian_mirror '')}
	[ -n "$mirror" ] || unavailable "cannot tell which Debian archive the host uses (set PMADV_VM_MIRROR)"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	echo "deb [signed-by=$keyring] $mirror $suite main" > "$adir/sources.list"
	# The suite's newest kernel may be a security update.
	security=${PMADV_VM_SECURITY_MIRROR-$(debian_mirror -security)}
	[ -z "$security" ] ||
		echo "deb [signed-by=$keyring] $security $suite-security main" >> "$adir/sources.list"
	echo "run-vm-tests: reading $suite's package lists"
	# --error-on=any: without it an archive that cannot be reached (no
	# network) is a warning, and the lists are old ones or none.
	# shellcheck disable=SC2086
	apt-get $apt_opts -qq --error-on=any update > "$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; unavailable "apt-get update of $suite failed"; }
	# shellcheck disable=SC2086
	kver=$(apt-cache $apt_opts depends "linux-headers-$arch" |
		sed -n "s/^ *Depends: linux-headers-\(.*-$arch\)\$/\1/p" | head -n 1)
	[ -n "$kver" ] || unavailable "no linux-headers-$arch in $suite"
	if [ -f "$cache/$kver/ready" ]; then
		echo "$kver" > "$cache/$record.$$"
		mv -f "$cache/$record.$$" "$cache/$record"
		exec 9>&-
		return 0
	fi
	# The headers package names its common part and kbuild tools. The
	# tools are the host's (amd64) build of that version, whatever the
	# kernel's architecture: Kbuild runs them here. (The arm64 headers'
	# own are arm64 programs; their scripts link resolves to whichever
	# linux-kbuild is unpacked beside them.)
	# shellcheck disable=SC2086
	pkgs="linux-image-$kver linux-headers-$kver $(apt-cache $apt_opts depends \
		"linux-headers-$kver" | sed -n 's/^ *Depends: \(linux-headers-[^ <>]*\)$/\1/p;
			s/^ *Depends: \(linux-kbuild-[^ <>]*\)$/\1:amd64/p')"
	new=$cache/$kver.new.$$
	rm -rf "$new"
	mkdir -p "$new/debs" "$new/root" "$new/modules"
	echo "run-vm-tests: fetching $pkgs"
	# shellcheck disable=SC2086
	(cd "$new/debs" && apt-get $apt_opts -o APT::Sandbox::User=root download $pkgs) \
		> "$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; rm -rf "$new"; unavailable "apt-get download from $suite failed"; }
	for deb in "$new"/debs/*.deb; do
		dpkg-deb -x "$deb" "$new/root"
	done
	r=$new/root
	# /lib on bullseye, /usr/lib since trixie's merged /usr.
	mdir=$(ls -d "$r"/lib/modules/"$kver" "$r"/usr/lib/modules/"$kver" 2>/dev/null | head -n 1)
	cp "$r/boot/vmlinuz-$kver" "$new/vmlinuz"
	# zram for swap and spare block devices; ext4 (which also mounts
	# ext2) and the crc32c it asks the crypto API for at mount time, for a
	# /var/tmp whose page cache can be dropped and paged out, unlike the
	# initramfs's; each after what it depends on, as the guest loads them.
	: > "$new/modules.list"
	add_module() {
		grep -q "^$1\$" "$new/modules.done" 2>/dev/null && return 0
		echo "$1" >> "$new/modules.done"
		f=$(find "$mdir/kernel" -name "$1.ko" -o -name "$1.ko.xz" | head -n 1)
		if [ -z "$f" ]; then
			# Built in: nothing to load.
			grep -q "/$1.ko\$" "$mdir/modules.builtin" && return 0
			echo "run-vm-tests: $kver has no module $1" >&2
			exit 1
		fi
		case $f in
		*.xz) xz -dc "$f" > "$new/modules/$1.ko" ;;
		*) cp "$f" "$new/modules/$1.ko" ;;
		esac
		# (The recursion reuses f and d: only $1 is used after it.)
		for d in $(modinfo -F depends "$new/modules/$1.ko" | tr ',' ' '); do
			add_module "$d"
		done
		echo "$1" >> "$new/modules.list"
	}
	for m in zram crc32c_generic ext4; do
		add_module "$m"
	done
	# The headers include their common part by its installed path.
	sed -i "s|^include /usr/src/|include $cache/$kver/root/usr/src/|" \
		"$r/usr/src/linux-headers-$kver/Makefile"
	# kbuild tools built for a newer C library than the host's (trixie's
	# modpost and objtool want glibc 2.38, bookworm has 2.36) run with
	# that suite's own libc6 (unpacked too), through its loader.
	find "$r/usr/lib/" -path '*/linux-kbuild-*' -type f -perm -u+x > "$work/kbuild.list"
	while read -r b; do
		readelf -h "$b" >/dev/null 2>&1 || continue
		LC_ALL=C ldd "$b" 2>&1 | grep -q "version .GLIBC_[0-9.]*' not found" || continue
		if [ ! -d "$new/libc" ]; then
			# shellcheck disable=SC2086
			(cd "$new/debs" && apt-get $apt_opts -o APT::Sandbox::User=root download libc6) \
				> "$work/apt.log" 2>&1 ||
				{ cat "$work/apt.log" >&2; rm -rf "$new"; unavailable "apt-get download libc6 from $suite failed"; }
			dpkg-deb -x "$new"/debs/libc6_*.deb "$new/libc"
		fi
		libdir=$cache/$kver/libc/usr/lib/x86_64-linux-gnu
		mv "$b" "$b.bin"
		printf '#!/bin/sh\n# %s needs %s libc6: run it with that one.\nexec %s --library-path %s "$0.bin" "$@"\n' \
			"${b##*/}" "$suite" "$libdir/ld-linux-x86-64.so.2" "$libdir" > "$b"
		chmod 0755 "$b"
	done < "$work/kbuild.list"
	rm -rf "${new:?}/debs" "$new/modules.done"
	for d in boot lib usr/lib/modules usr/share etc; do
		rm -rf "${r:?}/$d"
	done
	: > "$new/ready"
	# Another run may have got there first: keep its copy.
	mv -T "$new" "$cache/$kver" 2>/dev/null || rm -rf "$new"
	# Neither: a directory of that name that is no kernel of ours (a copy
	# cut short, a ready file removed) would be used as it is, and fetched
	# again by every run.
	if [ ! -f "$cache/$kver/ready" ]; then
		echo "run-vm-tests: $cache/$kver is in the way and not a complete kernel (no ready file): remove it" >&2
		exit 1
	fi
	echo "$kver" > "$cache/$record.$$"
	mv -f "$cache/$record.$$" "$cache/$record"
	echo "run-vm-tests: kernel $name ($kver) ready in $cache/$kver"
	exec 9>&-
}

# The busybox of another architecture's guest: suite $1's busybox-static
# for $arch, downloaded with the same private apt as its kernel (its lists
# read by fetch_kernel just before) and unpacked, never installed, into
# $cache/busybox-$arch-SUITE. Sets busybox.
fetch_busybox() {
	bdir=$cache/busybox-$arch-$1
	busybox=$bdir/busybox
	[ ! -f "$bdir/ready" ] || return 0
	suite_apt "$1"
	exec 9> "$adir/lock"
	flock 9
	[ -f "$adir/sources.list" ] ||
		unavailable "no package lists for $1-$arch yet (run run-vm-tests.sh --fetch-only --arch=$arch)"
	new=$bdir.new.$$
	rm -rf "$new"
	mkdir -p "$new/debs"
	echo "run-vm-tests: fetching busybox-static:$arch from $1"
	# shellcheck disable=SC2086
	(cd "$new/debs" && apt-get $apt_opts -o APT::Sandbox::User=root download "busybox-static:$arch") \
		> "$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log" >&2; rm -rf "$new"; unavailable "apt-get download busybox-static:$arch from $1 failed"; }
	dpkg-deb -x "$new"/debs/busybox-static_*.deb "$new/root"
	cp "$new/root/bin/busybox" "$new/busybox"
	rm -rf "$new/debs" "$new/root"
	# Static, and for the guest's machine: anything else cannot be its init.
	m=$(readelf -h "$new/busybox" | sed -n 's/^ *Machine: *//p')
	if [ "$m" != "$kmachine" ] || readelf -l "$new/busybox" | grep -q 'Requesting program interpreter'; then
		echo "run-vm-tests: busybox-static:$arch of $1 is for machine '$m' or not static; the guest needs a static $kmachine one" >&2
		rm -rf "$new"
		exit 1
	fi
	: > "$new/ready"
	rm -rf "$bdir"
	mv -T "$new" "$bdir" 2>/dev/null || rm -rf "$new"
	new=
	echo "run-vm-tests: busybox for the $arch guest ready in $bdir"
	exec 9>&-
}

if [ "$fetch_only" = 1 ]; then
	for k in $all_kernels; do
		[ -z "$kernel" ] || [ "$kernel" = "${k%%:*}" ] || continue
		fetch_kernel "${k%%:*}" "${k#*:}"
		[ "$arch" = amd64 ] || fetch_busybox "${k#*:}"
	done
	exit 0
fi

[ -n "$kernel" ] || kernel=6.1
# The run itself needs no network: the kernel is fetched once (by
# tests/vm/install-deps.sh), here only where the cache lacks it.
record=$(kernel_record "$kernel")
if [ ! -f "$cache/$record" ] || [ ! -f "$cache/$(cat "$cache/$record")/ready" ]; then
	fetch_kernel "$kernel" "$(suite_of "$kernel")"
fi
kver=$(cat "$cache/$record")
kcache=$cache/$kver
if [ "$arch" != amd64 ] && [ "$build_only" = 0 ]; then
	fetch_busybox "$(suite_of "$kernel")"
fi
kdir=$kcache/root/usr/src/linux-headers-$kver

# Bookworm's compiler, whichever the headers name (gcc-10 for 5.10, gcc-14
# for 6.12), with two settings of the headers' configuration overridden:
# - an option the configuring compiler had and this one lacks:
#   -fmin-function-alignment (gcc 14), for which the kernel's Makefile falls
#   back to -falign-functions;
# - no BTF for the module: pahole would have to match the kernel's, and
#   nothing here reads the module's BTF.
# Another architecture's: its cross compiler, ARCH and CROSS_COMPILE.
kmake="CC=${kcross}gcc CONFIG_DEBUG_INFO_BTF_MODULES="
[ -z "$kcross" ] || kmake="$kmake ARCH=$arch CROSS_COMPILE=$kcross"
if grep -q '^CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=y' "$kdir/include/config/auto.conf" &&
	! echo 'int x;' | "${kcross}gcc" -fmin-function-alignment=16 -x c -c -o /dev/null - 2>/dev/null; then
	kmake="$kmake CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT="
fi
echo "run-vm-tests: building the module against $kdir"
PMADV_KMOD_WERROR=1 PMADV_KMOD_MAKE_ARGS=$kmake \
	"$top/src/kmod/build.sh" "$kdir" "$work/kmod" > "$work/kmod.log" 2>&1 ||
	{ cat "$work/kmod.log" >&2; echo "run-vm-tests: module build failed" >&2; exit 1; }
# What was built is a module of that kernel, for its machine.
ko=$work/kmod/procmadvise.ko
machine=$(readelf -h "$ko" | sed -n 's/^ *Machine: *//p')
vermagic=$(modinfo -F vermagic "$ko")
if [ "$machine" != "$kmachine" ] || [ "${vermagic%% *}" != "$kver" ]; then
	echo "run-vm-tests: $ko is for machine '$machine', vermagic '$vermagic'; wanted '$kmachine', $kver" >&2
	exit 1
fi
if [ "$build_only" = 1 ]; then
	echo "run-vm-tests: procmadvise.ko built with -Werror for $kver ($machine; vermagic $vermagic)"
	exit 0
fi

# The initramfs is two archives, one after the other (the kernel unpacks
# each): this kernel's modules, and the rest, which is the same for every
# kernel of the matrix. The rest is packed once and kept in
# $PMADV_VM_GUEST_CACHE (the build tree's, under meson) for the next
# kernel's run, as long as none of what went into it is newer.
kroot=$work/kroot
mkdir -p "$kroot/lib"
"${kcross}strip" --strip-debug -o "$kroot/lib/procmadvise.ko" "$work/kmod/procmadvise.ko"
cp "$kcache"/modules/*.ko "$kcache/modules.list" "$kroot/lib/"
(cd "$kroot" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$work/kernel.cpio.gz"

gcache=${PMADV_VM_GUEST_CACHE:-}
# What the packed guest depends on besides its files: this script, the
# guest's sources, the arguments and PATH (--tool's programs).
# shellcheck disable=SC2086
gkey=$({ cat "$0" "$here"/guest/*; printf '%s\n' "$arch" "$@" ${PMADV_VM_EXTRA_TESTS:-} \
	"${PMADV_VM_MODULE_TESTS:-1}" "$PATH"; } | sha256sum | cut -c1-16)
common=
# The pack and its list are taken into the work directory first (a link,
# or a copy with its time): another run may replace them meanwhile.
if [ -n "$gcache" ] && [ -f "$gcache/$gkey.cpio.gz" ] &&
	{ ln -f "$gcache/$gkey.cpio.gz" "$work/common.cpio.gz" 2>/dev/null ||
		cp -p "$gcache/$gkey.cpio.gz" "$work/common.cpio.gz" 2>/dev/null; } &&
	cp "$gcache/$gkey.files" "$work/common.files" 2>/dev/null; then
	common=$work/common.cpio.gz
	# Every file copied in (a directory: all below it), and the host's
	# packages (a library or tool upgraded in place). The change time, not
	# the modification time: cp -p, tar and dpkg give a file an older
	# mtime than the pack's, never an older ctime.
	while read -r f; do
		if [ ! -e "$f" ] || [ -n "$(find "$f" -cnewer "$common" -print -quit)" ]; then
			common=
			break
		fi
	done < "$work/common.files"
fi
if [ -n "$common" ]; then
	echo "run-vm-tests: the guest's programs as packed for an earlier kernel ($gcache/$gkey.cpio.gz)"
else
	root=$work/root
	# Not written through: it may be a link to the cached pack.
	rm -f "$work/common.cpio.gz" "$work/common.files"
	# The pack's time is the time its files were read: one changed while
	# they are copied is newer than the pack.
	: > "$work/pack.start"
	: > "$work/guest.files"
	mkdir -p "$root/bin" "$root/lib" "$root/tests" "$root/dev" "$root/proc" \
		"$root/sys" "$root/tmp"
	cp "$busybox" "$root/bin/busybox"
	echo "$busybox" >> "$work/guest.files"
	echo /var/lib/dpkg/status >> "$work/guest.files"
	echo "$top/include" >> "$work/guest.files"
	cp "$here/guest/init.sh" "$root/init"
	chmod 0755 "$root/init"
	if [ "$(id -u)" = 0 ]; then
		mknod -m 0600 "$root/dev/console" c 5 1
	fi

	cflags="-static -O2 -g0 -Wall -Wextra -Werror -pthread -I$top/include"
	"${kcross}gcc" $cflags -o "$root/bin/vm-exit" "$here/guest/vm-exit.c"
	: > "$root/tests/list"
	# name and timeout (s) of each module test, in run order.
	module_tests="t_kernel:60 t_input:240 t_effects:240 t_perm:120 t_compat:60 t_unload:300 t_refuse:60"
	[ "${PMADV_VM_MODULE_TESTS:-1}" != 0 ] || module_tests=
	for t in $module_tests; do
		name=${t%%:*}
		tcc=${kcross}gcc
		[ "$name" != t_compat ] || tcc=$cc32
		"$tcc" $cflags -o "$root/tests/$name" "$here/guest/$name.c" ||
			{ echo "run-vm-tests: cannot build $name" >&2; exit 1; }
		echo "$name $((${t#*:} * tscale))" >> "$root/tests/list"
	done

	# The Debian multiarch triplet of an ELF file's machine, for the guest's
	# programs of another architecture (its own, or 32-bit ARM under arm64's
	# compat layer); empty for any other machine.
	elf_triplet() {
		case $(readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p') in
		AArch64) echo aarch64-linux-gnu ;;
		ARM) echo arm-linux-gnueabihf ;;
		esac
	}

	# The shared libraries of a program or library of another architecture
	# (ldd cannot run it here), and its loader: each DT_NEEDED looked up,
	# for that object and then for each library found, in the object's
	# RUNPATH or RPATH ($ORIGIN expanded), then in the cross glibc's
	# directory (/usr/TRIPLET/lib, what the cross compiler linked against)
	# and the multiarch one (/usr/lib/TRIPLET, e.g. libcap:arm64). One found
	# through a RUNPATH goes in at its host path, where that RUNPATH (a
	# build tree's, e.g. $ORIGIN/../../src/lib) finds it in the guest too;
	# the others and the loader (PT_INTERP) in /lib/TRIPLET and at the
	# interpreter's path, where the guest's loader looks by default.
	foreign_libs() {
		echo "$1" > "$work/libs.todo"
		while [ -s "$work/libs.todo" ]; do
			obj=$(head -n 1 "$work/libs.todo")
			sed -i 1d "$work/libs.todo"
			triplet=$(elf_triplet "$obj")
			sysdirs="/usr/$triplet/lib /usr/lib/$triplet /lib/$triplet $troot/usr/lib/$triplet $troot/lib/$triplet"
			interp=$(readelf -l "$obj" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p')
			if [ -n "$interp" ] && [ ! -e "$root$interp" ]; then
				for d in $sysdirs; do
					[ ! -f "$d/${interp##*/}" ] || break
				done
				[ -f "$d/${interp##*/}" ] || {
					echo "run-vm-tests: $obj asks for the loader $interp, which is in none of $sysdirs" >&2
					exit 1
				}
				mkdir -p "$root${interp%/*}"
				cp -L "$d/${interp##*/}" "$root$interp"
				echo "$d/${interp##*/}" >> "$work/guest.files"
			fi
			rdirs=$(readelf -d "$obj" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p' |
				tr ':' '\n' | sed "s|\\\$ORIGIN|${obj%/*}|; s|\\\${ORIGIN}|${obj%/*}|")
			needed=$(readelf -d "$obj" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | tr '\n' ' ')
			# glibc dlopens libgcc_s for pthread_exit and cancellation.
			case " $needed " in
			*" libc.so.6 "*) needed="$needed libgcc_s.so.1" ;;
			esac
			for lib in $needed; do
				grep -qxF "$triplet/$lib" "$work/libs.done" 2>/dev/null && continue
				echo "$triplet/$lib" >> "$work/libs.done"
				found='' dest=''
				for d in $rdirs; do
					if [ -f "$d/$lib" ] && [ "$(elf_triplet "$d/$lib")" = "$triplet" ]; then
						found=$d/$lib dest=$d/$lib
						break
					fi
				done
				[ -n "$found" ] || for d in $sysdirs; do
					if [ -f "$d/$lib" ] && [ "$(elf_triplet "$d/$lib")" = "$triplet" ]; then
						found=$d/$lib dest=/lib/$triplet/$lib
						break
					fi
				done
				# One the host has for amd64 only (a tool's): its package's
				# $arch build.
				if [ -z "$found" ] && [ "$triplet" = "$(elf_triplet "$root/bin/busybox")" ]; then
					for h in "/usr/lib/x86_64-linux-gnu/$lib" "/lib/x86_64-linux-gnu/$lib"; do
						[ -e "$h" ] || continue
						hpkg=$(dpkg -S "$h" 2>/dev/null | sed -n '1s/[:,].*//p')
						[ -n "$hpkg" ] || continue
						foreign_fetch "$hpkg" || exit 1
						break
					done
					for d in "$troot/usr/lib/$triplet" "$troot/lib/$triplet"; do
						if [ -f "$d/$lib" ]; then
							found=$d/$lib dest=/lib/$triplet/$lib
							break
						fi
					done
				fi
				if [ -z "$found" ]; then
					# shellcheck disable=SC2086
					echo "run-vm-tests: $obj needs $lib ($triplet), which is in none of: $(printf '%s ' $rdirs)$sysdirs" >&2
					exit 1
				fi
				[ ! -e "$root$dest" ] || continue
				mkdir -p "$root${dest%/*}"
				cp -L "$found" "$root$dest"
				echo "$found" >> "$work/guest.files"
				echo "$found" >> "$work/libs.todo"
			done
		done
	}

	# The $arch build of a host file ($1, e.g. /usr/sbin/swapon) of a Debian
	# package: the package dpkg -S names for the host's copy, downloaded
	# for $arch from the kernel's suite with the private apt and unpacked,
	# never installed, into $troot, once for every run (the packages
	# fetched are listed in $tdir/pkgs). Prints its path in $troot.
	# (A merged /usr: dpkg may know the file by the other of its two
	# paths.)
	tdir=$cache/tools-$arch-$(suite_of "$kernel")
	troot=$tdir/root
	foreign_file() {
		for p in "$1" "${1#/usr}" "/usr$1"; do
			[ ! -f "$troot$p" ] || { echo "$troot$p"; return 0; }
		done
		pkg=
		for p in "$1" "${1#/usr}" "/usr$1"; do
			pkg=$(dpkg -S "$p" 2>/dev/null | sed -n '1s/[:,].*//p')
			[ -z "$pkg" ] || break
		done
		if [ -z "$pkg" ]; then
			echo "run-vm-tests: no package of the host's has $1 (dpkg -S), so no $arch build of it can be fetched" >&2
			return 1
		fi
		foreign_fetch "$pkg" || return 1
		for p in "$1" "${1#/usr}" "/usr$1"; do
			[ ! -f "$troot$p" ] || { echo "$troot$p"; return 0; }
		done
		echo "run-vm-tests: $pkg:$arch has no $1, which the host's $pkg has" >&2
		return 1
	}
	foreign_fetch() {
		grep -qxF "$1" "$tdir/pkgs" 2>/dev/null && return 0
		suite_apt "$(suite_of "$kernel")"
		exec 8> "$adir/lock"
		flock 8
		mkdir -p "$tdir/debs" "$troot"
		echo "run-vm-tests: fetching $1:$arch for the guest" >&2
		# shellcheck disable=SC2086
		if ! (cd "$tdir/debs" && apt-get $apt_opts -o APT::Sandbox::User=root download "$1:$arch") \
			> "$work/apt.log" 2>&1; then
			# The lists may name a version the archive no longer has.
			# shellcheck disable=SC2086
			if ! { apt-get $apt_opts -qq --error-on=any update &&
				(cd "$tdir/debs" && apt-get $apt_opts -o APT::Sandbox::User=root download "$1:$arch"); } \
				>> "$work/apt.log" 2>&1; then
				cat "$work/apt.log" >&2
				exec 8>&-
				echo "run-vm-tests: apt-get download $1:$arch from $(suite_of "$kernel") failed" >&2
				return 1
			fi
		fi
		for deb in "$tdir"/debs/*.deb; do
			dpkg-deb -x "$deb" "$troot"
		done
		rm -f "$tdir"/debs/*.deb
		echo "$1" >> "$tdir/pkgs"
		exec 8>&-
	}
	# A host tool ($1) in the guest at $2: its $arch build, with its
	# libraries (foreign_libs, which fetches the packages of those the
	# host lacks for $arch).
	foreign_tool() {
		src=$(foreign_file "$1") || exit 1
		mkdir -p "$root${2%/*}"
		cp -pL "$src" "$root$2"
		echo "$src" >> "$work/guest.files"
		if readelf -d "$src" 2>/dev/null | grep -q '(NEEDED)'; then
			foreign_libs "$src"
		fi
	}

	# Copies a file into the guest at its absolute host path; for a dynamically
	# linked program also every library ldd resolves and the loader.
	guest_copy() {
		mkdir -p "$root${1%/*}"
		echo "$1" >> "$work/guest.files"
		if [ -d "$1" ]; then
			# A directory (e.g. an interpreter's library): its files as
			# they are, with their times (a Python compiled cache is
			# valid while its source keeps its mtime); once.
			[ ! -e "$root$1" ] || return 0
			mkdir -p "$root$1"
			(cd "$1" && find . -print | cpio -pdm --quiet "$root$1")
			return 0
		fi
		# Each test names the files it needs: copy each once.
		[ ! -e "$root$1" ] || return 0
		# -p: the times too (the initramfs keeps them), for a Python
		# compiled cache, which is valid while its source's mtime holds
		cp -pL "$1" "$root$1"
		# Another architecture's guest runs its own programs (and 32-bit
		# ARM ones): a host (amd64) one there is a mistake.
		if [ "$arch" != amd64 ] && readelf -h "$1" >/dev/null 2>&1 &&
			[ -z "$(elf_triplet "$1")" ]; then
			echo "run-vm-tests: $1 is a program for $(readelf -h "$1" | sed -n 's/^ *Machine: *//p'), which the $arch guest cannot run (give the $arch build's)" >&2
			exit 1
		fi
		# A dynamically linked program or library (e.g. a Python extension).
		readelf -d "$1" 2>/dev/null | grep -q '(NEEDED)' || return 0
		if [ "$arch" != amd64 ]; then
			foreign_libs "$1"
			return 0
		fi
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
					echo "$l" >> "$work/guest.files"
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

	# One word for the guest's shell.
	shquote() {
		printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
	}

	# Each extra test runs through a wrapper, /tests/NAME, that sets its
	# environment and execs it at its host path with its arguments.
	: > "$work/env.next"
	: > "$work/args.next"
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
			printf "export %s=%s\n" "$var" "$(shquote "$value")" >> "$work/env.next"
			continue ;;
		--arg=*)
			printf ' %s' "$(shquote "${x#--arg=}")" >> "$work/args.next"
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
			/*) ;;
			*) unavailable "${x#--tool=} not found (a guest test needs it)" ;;
			esac
			if [ "$arch" = amd64 ]; then
				guest_copy "$f"
			else
				foreign_tool "$f" "$f"
			fi
			# busybox's shell runs its own applets whatever PATH says: the
			# host's /bin/sh becomes the guest's, so that system() and
			# popen() find the tool (init.sh itself runs busybox sh).
			if [ ! -e "$root/bin/sh" ]; then
				if [ "$arch" = amd64 ]; then
					guest_copy "$(readlink -f /bin/sh)"
					cp -L /bin/sh "$root/bin/sh"
				else
					foreign_tool "$(readlink -f /bin/sh)" /bin/sh
				fi
			fi
			continue ;;
		-*)
			echo "run-vm-tests: unknown option $x" >&2
			exit 1 ;;
		esac
		# PATH:TIMEOUT, in whole seconds, split at the last colon; one
		# followed by anything but digits is part of the path. The guest's
		# `timeout` would refuse another timeout only once it is booted,
		# and a name with a space would split its line of /tests/list.
		path=$x
		tmo=300
		case ${x##*:} in
		"$x" | '' | *[!0-9]*) ;;
		*) path=${x%:*} tmo=${x##*:} ;;
		esac
		case $tmo in
		*[!0]*) ;;
		*) echo "run-vm-tests: $x: a timeout of 0 s" >&2; exit 1 ;;
		esac
		# Decimal, not octal, in the shell's arithmetic (tscale).
		tmo=${tmo#"${tmo%%[!0]*}"}
		[ -x "$path" ] || { echo "run-vm-tests: extra test $path not found" >&2; exit 1; }
		path=$(abspath "$path")
		name=${next_name:-$(basename "$path")}
		next_name=
		case $name in
		'' | *[!A-Za-z0-9_.+-]*)
			echo "run-vm-tests: $path: a guest test's name is letters, digits and _.+- (give it one with --name)" >&2
			exit 1 ;;
		esac
		[ ! -e "$root/tests/$name" ] || { echo "run-vm-tests: two extra tests named $name" >&2; exit 1; }
		guest_copy "$path"
		{
			echo '#!/bin/sh'
			cat "$work/env.next"
			printf 'exec %s%s "$@"\n' "$(shquote "$path")" "$(cat "$work/args.next")"
		} > "$root/tests/$name"
		chmod 0755 "$root/tests/$name"
		: > "$work/env.next"
		: > "$work/args.next"
		echo "$name $((tmo * tscale))" >> "$root/tests/list"
	done
	[ ! -s "$work/env.next" ] || { echo "run-vm-tests: --env after the last test" >&2; exit 1; }
	[ ! -s "$work/args.next" ] || { echo "run-vm-tests: --arg after the last test" >&2; exit 1; }
	[ -z "$next_name" ] || { echo "run-vm-tests: --name after the last test" >&2; exit 1; }

	common=$work/common.cpio.gz
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 > "$common"
	if [ -n "$gcache" ]; then
		mkdir -p "$gcache"
		# One packed guest at a time; renames, so a concurrent run never
		# reads half a file.
		rm -f "$gcache"/*.cpio.gz "$gcache"/*.files
		cp "$common" "$gcache/$gkey.cpio.gz.$$"
	touch -r "$work/pack.start" "$gcache/$gkey.cpio.gz.$$"
		LC_ALL=C sort -u "$work/guest.files" > "$gcache/$gkey.files.$$"
		mv -f "$gcache/$gkey.files.$$" "$gcache/$gkey.files"
		mv -f "$gcache/$gkey.cpio.gz.$$" "$gcache/$gkey.cpio.gz"
	fi
fi
cat "$common" "$work/kernel.cpio.gz" > "$work/initramfs.cpio.gz"

echo "run-vm-tests: booting $kver (kernel $kernel) under qemu (TCG)"
set +e
# log_buf_len: with quiet a WARNING never reaches the console, only dmesg,
# which init.sh reads once at the end; the kernels' own 128 KiB ring
# (CONFIG_LOG_BUF_SHIFT=17 in all three) would let a chatty run push an
# early splat out before dmesg-clean looks.
# --foreground: timeout and qemu stay in the process group meson signals
# at its own timeout; without it timeout makes a group of its own and
# qemu outlives the test, on both cores, for up to PMADV_VM_TIMEOUT.
# The whole run's default: an x86-64 guest of the matrix took 700 to 830 s
# beside another guest on an idle 2-core host, 1,330 s with two busy loops
# on the host too, and more than 1,500 s (the default before) in a CI run;
# each guest test has its own timeout besides.
# shellcheck disable=SC2086
timeout --foreground "${PMADV_VM_TIMEOUT:-$vm_timeout}" "$qemu" \
	-accel tcg,thread=multi $qemu_machine -cpu "$qemu_cpu" -smp 2 -m "${PMADV_VM_MEM:-1024}" \
	-nic none -nographic -no-reboot \
	-kernel "$kcache/vmlinuz" -initrd "$work/initramfs.cpio.gz" \
	-append "console=$console quiet panic=-1 transparent_hugepage=madvise log_buf_len=16M" \
	</dev/null > "$work/console.raw" 2>&1
qemu_rc=$?
set -e
tr -d '\r' < "$work/console.raw" > "$work/console.log"
cat "$work/console.log"

# Both channels must agree: the console (what the guest said) and qemu's
# status (verdict.sh).
"$here/verdict.sh" "$work/console.log" "$qemu_rc" "$kver" || exit 1
