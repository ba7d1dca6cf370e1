#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Builds procmadvise.ko against a kernel build tree without writing into the
# source tree: Kbuild before 6.13 puts its objects next to the sources, so
# the sources are copied into WORKDIR first. Used by Meson (-Dkmod=enabled)
# and by the VM tests.
# Usage: build.sh KERNEL_DIR WORKDIR [KO_OUT]
#   KERNEL_DIR  kernel build tree; empty: /lib/modules/$(uname -r)/build
#   KO_OUT      where to copy the finished module (default WORKDIR/procmadvise.ko)
# PMADV_KMOD_WERROR=1 turns compiler warnings into errors (the tests do).
# PMADV_KMOD_MAKE_ARGS: more make variables (space separated), e.g. the
# compiler, for headers made with another one (tests/vm/run-vm-tests.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kdir=${1:-/lib/modules/$(uname -r)/build}
work=$2
if [ ! -f "$kdir/Makefile" ]; then
	echo "build.sh: no kernel build tree at $kdir (install the kernel headers, or pass -Dkernel_dir=)" >&2
	exit 1
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
cp "$here/procmadvise.c" "$here/Kbuild" "$here/../../include/procmadvise-ioctl.h" "$work/"
# shellcheck disable=SC2086
if [ "${PMADV_KMOD_WERROR:-0}" = 1 ]; then
	make -s -C "$kdir" M="$work" ${PMADV_KMOD_MAKE_ARGS:-} KCFLAGS=-Werror modules
else
	make -s -C "$kdir" M="$work" ${PMADV_KMOD_MAKE_ARGS:-} modules
fi
if [ $# -ge 3 ] && [ "$3" != "$work/procmadvise.ko" ]; then
	cp "$work/procmadvise.ko" "$3"
fi
