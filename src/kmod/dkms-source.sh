#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Makes the DKMS source directory of the procmadvise module:
# DIR/procmadvise-VERSION with dkms.conf, the source, Kbuild and the UAPI
# header (which lives in include/ in this tree, so the tree's src/kmod
# cannot be handed to `dkms add` as it is). VERSION is the project's, from
# meson.build. Prints the directory made.
# Usage: dkms-source.sh DIR      e.g. dkms-source.sh /usr/src
#   then: dkms add DIR/procmadvise-VERSION  (or, for DIR=/usr/src,
#         dkms install procmadvise/VERSION)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
version=$(sed -n "s/^  version: '\([^']*\)',\$/\1/p" "$top/meson.build" | head -n 1)
[ -n "$version" ] || { echo "dkms-source.sh: no version in $top/meson.build" >&2; exit 1; }
dest=$1/procmadvise-$version
mkdir -p "$dest"
cp "$here/procmadvise.c" "$here/Kbuild" "$top/include/procmadvise-ioctl.h" "$dest/"
sed "s/@VERSION@/$version/g" "$here/dkms.conf.in" > "$dest/dkms.conf"
echo "$dest"
