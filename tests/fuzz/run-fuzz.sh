#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds every libFuzzer target tests/fuzz/fuzz-*.c with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for a bounded time on
# its seed corpus (corpus-NAME/, dictionary NAME.dict), all targets side by
# side. Fails on any crash,
# leak, sanitizer report or broken invariant; the input that did it is left
# in the output directory and printed.
#
# Usage: tests/fuzz/run-fuzz.sh [SECONDS]   (default 60, or $FUZZ_SECONDS)
# Env:   CLANG (default clang), FUZZ_OUT (default: a new temporary directory)
# Exit:  0 clean, 1 crash or build failure, 77 no clang/libFuzzer (skip;
#        under CI=true that is a failure instead).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
clang=${CLANG:-clang}
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/pmadv-fuzz.XXXXXX")}
mkdir -p "$out"

unavailable() {
	echo "run-fuzz.sh: $1" >&2
	if [ "${CI:-}" = true ]; then
		echo "run-fuzz.sh: CI=true: not skipping" >&2
		exit 1
	fi
	exit 77
}

command -v "$clang" >/dev/null 2>&1 ||
	unavailable "$clang not found (Debian: apt-get install clang libclang-rt-14-dev)"
probe="$out/probe.c"
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
	>"$probe"
"$clang" -fsanitize=fuzzer,address "$probe" -o "$out/probe" 2>/dev/null ||
	unavailable "$clang cannot link -fsanitize=fuzzer (Debian: libclang-rt-14-dev)"

# The sources each target needs besides itself: the parser is pure.
sources_for() {
	case "$1" in
	maps) echo "$top/src/lib/vma_parse.c" ;;
	elf) echo "$top/src/lib/ptrace/elf.c" ;;
	cli) echo "$top/src/cli/parse.c" ;;
	*) echo "run-fuzz.sh: no sources listed for fuzz-$1" >&2; return 1 ;;
	esac
}

# The version header meson configures, made the same way from meson.build.
ver=$(sed -n "s/^  version: '\([0-9.]*\)',$/\1/p" "$top/meson.build")
mkdir -p "$out/include"
IFS=. read -r major minor patch <<EOF_VERSION
$ver
EOF_VERSION
sed -e "s/@MAJOR@/$major/" -e "s/@MINOR@/$minor/" -e "s/@PATCH@/$patch/" \
	-e "s/@VERSION@/$ver/" "$top/include/procmadvise-version.h.in" \
	>"$out/include/procmadvise-version.h"

status=0
names=
for src in "$here"/fuzz-*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz-}
	exe="$out/$name"
	echo "== $name: build"
	if ! "$clang" -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -Wall -Wextra \
		-I"$top/include" -I"$out/include" -I"$top/src/lib" -I"$top/src/cli" \
		"$src" $(sources_for "$short") -o "$exe"; then
		echo "== $name: BUILD FAILED"
		status=1
		continue
	fi
	names="$names $name"
done

# One target's run: its exit status in $out/NAME.rc.
fuzz_one() {
	name=$1
	short=${name#fuzz-}
	# Work on a copy: the seed corpus in git stays small and fixed.
	work="$out/corpus-$short"
	mkdir -p "$work"
	if [ -d "$here/corpus-$short" ]; then
		cp "$here/corpus-$short"/* "$work"/ 2>/dev/null || true
	fi
	dict=
	[ -f "$here/$short.dict" ] && dict="-dict=$here/$short.dict"
	rc=0
	# shellcheck disable=SC2086
	"$out/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-max_len=8192 -print_final_stats=1 $dict \
		-artifact_prefix="$out/$name-" "$work" >"$out/$name.log" 2>&1 ||
		rc=$?
	echo "$rc" >"$out/$name.rc"
}

# The targets side by side (each its own process, single-threaded), then
# their results in order: SECONDS of wall time in all, not SECONDS each.
echo "== fuzzing$names side by side for ${secs}s"
pids=
for name in $names; do
	fuzz_one "$name" &
	pids="$pids $!"
done
for pid in $pids; do
	wait "$pid" || true
done
for name in $names; do
	if [ "$(cat "$out/$name.rc" 2>/dev/null)" = 0 ]; then
		tail -n 12 "$out/$name.log" | grep -E '^(stat::number_of_executed_units|Done|#)' | tail -n 2
		echo "== $name: OK"
	else
		tail -n 40 "$out/$name.log"
		echo "== $name: FAILED; input(s):"
		ls "$out/$name-"* 2>/dev/null || true
		status=1
	fi
done
[ "$status" -eq 0 ] && [ -z "${FUZZ_OUT:-}" ] && rm -rf "$out"
exit "$status"
