#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fetches the libraries the armhf cross build links (libcap, libsmartcols)
# from Debian 12's armhf packages and unpacks them into a sysroot of their
# own, /var/cache/procmadvise-cross/armhf (cross/arm-linux-gnueabihf.ini
# names it), without installing them: the host's apt configuration and its
# packages are never touched (tools/debian-apt.sh). Idempotent; needs root
# and the network. tests/install-deps.sh runs it.
#
# Why not multiarch, as for arm64: `dpkg --add-architecture armhf` makes
# the host's own `apt-get update` read the armhf indexes of every suite it
# uses, and the security archive's armhf index was refused here in an
# earlier session and again on 2026-12-01 ("File has unexpected size ...
# Mirror sync in progress?"), which would fail every install. A build check needs no security updates: only the
# suite's main archive is read here.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tools/debian-apt.sh"

arch=armhf
pkgs="libcap-dev libcap2 libsmartcols-dev libsmartcols1"
base=${PMADV_CROSS_CACHE:-/var/cache/procmadvise-cross}
sysroot=$base/$arch
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirror=${PMADV_VM_MIRROR:-$(debian_mirror '')}
if [ -z "$suite" ] || [ -z "$mirror" ]; then
	echo "fetch-sysroot.sh: cannot tell this host's Debian suite and archive" >&2
	exit 1
fi
debian_apt "$base/apt" "$arch"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
	> "$base/apt/sources.list"
# shellcheck disable=SC2086
apt-get $apt_opts -qq --error-on=any update
new=$sysroot.new.$$
trap 'rm -rf "$new"' EXIT
rm -rf "$new"
mkdir -p "$new/debs"
# shellcheck disable=SC2086
(cd "$new/debs" && apt-get $apt_opts -o APT::Sandbox::User=root -qq download $pkgs)
for deb in "$new"/debs/*.deb; do
	dpkg-deb -x "$deb" "$new"
done
rm -rf "${new:?}/debs" "${new:?}/usr/share"
# Links to absolute paths (libcap.so -> /lib/...) point into the sysroot.
find "$new" -type l | while read -r link; do
	target=$(readlink "$link")
	case $target in
	/*) ln -sfn "$sysroot$target" "$link" ;;
	esac
done
rm -rf "$sysroot"
mv "$new" "$sysroot"
echo "fetch-sysroot.sh: $pkgs ($arch) in $sysroot"
