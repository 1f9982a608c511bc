# SPDX-License-Identifier: GPL-2.0
#
# What the packaging tests share (test-packaging.sh, test-deb.sh): the
# kselftest-style result lines, check(), the lock that keeps them from
# running at once, and running commands in a suite's chroot. Sourced, not
# run. The sourcing script sets tmp (a scratch directory, for check()'s
# logs) and version (FB_VERSION) before using them.

# shellcheck shell=bash
# Variables set here are the sourcing script's to use.
# shellcheck disable=SC2034

readonly KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4
readonly NAME=fastballoon
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly SRC

tests=0
failed=0
tmp=
version=

ok() { tests=$((tests + 1)); echo "ok $tests - $*"; }
not_ok() { tests=$((tests + 1)); failed=$((failed + 1)); echo "not ok $tests - $*"; }
note() { echo "# $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit $KSFT_SKIP; }

# check DESCRIPTION COMMAND...: one test line for one command; its output
# goes to $tmp/last.log and, on failure, its tail to the "# " lines.
check() {
	local desc=$1
	shift
	if "$@" >"$tmp/last.log" 2>&1; then
		ok "$desc"
	else
		not_ok "$desc"
		tail -n 25 "$tmp/last.log" | sed 's/^/#   /'
	fi
	cat "$tmp/last.log" >>"$tmp/all.log"
}

# refuses WHAT COMMAND...: COMMAND fails and says WHAT on stderr.
refuses() {
	local what=$1 out

	shift
	if out=$("$@" 2>&1); then
		echo "$* succeeded:"; echo "$out"; return 1
	fi
	echo "$out"
	grep -qF "$what" <<<"$out" || { echo "no '$what' in its output"; return 1; }
}

# copy_list FROM "FILE..." TO: copy the files, keeping their relative paths.
copy_list() {
	local -a list

	read -r -a list <<<"$2"
	(cd "$1" && cp --parents "${list[@]}" "$3")
}

# One run at a time (make check-packaging and selftests/qemu/run_tests.py
# start both packaging tests, and both use the same chroot): a second run
# would find the first one's install, or worse, remove it under its feet.
# Wait for the other to finish; skip when it takes longer.
take_lock() {
	local lockdir=/run/lock

	[ -d "$lockdir" ] || lockdir=/tmp
	exec 9>"$lockdir/$NAME-packaging.lock"
	flock -w "${FB_PACKAGING_LOCK_WAIT:-600}" 9 ||
		skip_all "another packaging test still holds $lockdir/$NAME-packaging.lock"
}

# --- a newer suite's chroot ---------------------------------------------------

# suite_chroot SUITE: print "ROOT RELEASE" of SUITE's chroot, made by
# selftests/qemu/suites.py (in $FASTBALLOON_CACHE/suites, made if absent);
# on failure its log's tail is in $tmp/suite.log.
suite_chroot() {
	python3 "$SRC/selftests/qemu/suites.py" --print "$1" 2>"$tmp/suite.log"
}

# in_root ROOT CMD...: run CMD in the chroot with /proc mounted (objtool
# reads its limits there); unmounted again whatever happens.
in_root() {
	local root=$1 rc
	shift
	mount -t proc proc "$root/proc" || return 1
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LC_ALL=C.UTF-8 "$@"
	rc=$?
	umount -l "$root/proc"
	return $rc
}

# chroot_dkms_installed ROOT RELEASE: dkms put the module in updates/dkms
# for RELEASE, with that vermagic, and, where the kernel itself is installed
# in the chroot (modules.dep exists: trixie's dkms pulls in the image), depmod
# indexed it. dkms 3.2 skips depmod for a kernel that has only its headers
# installed (sid's chroot), and says so.
chroot_dkms_installed() {
	local root=$1 kver=$2 mod

	mod=$(in_root "$root" sh -c "find /lib/modules/$kver/updates -name '$NAME.ko*'" | head -n 1)
	echo "installed: ${mod:-nothing}"
	[ -n "$mod" ] && [ "${mod#/lib/modules/"$kver"/updates/dkms/}" != "$mod" ] || return 1
	in_root "$root" modinfo -F vermagic "$mod" | grep -q "^$kver " || return 1
	if [ ! -e "$root/lib/modules/$kver/modules.dep" ]; then
		echo "no modules.dep for $kver (headers only): no depmod to check"
		return 0
	fi
	[ "$(in_root "$root" modinfo -k "$kver" -F filename "$NAME")" = "$mod" ]
}

# chroot_clean ROOT RELEASE [LISTING]: no trace of this test in the chroot;
# with LISTING (/lib/modules/RELEASE before the test), what depmod added
# there goes too.
chroot_clean() {
	local root=$1 kver=$2 before=${3:-} f

	in_root "$root" dkms status -m "$NAME" | grep -q . &&
		in_root "$root" dkms remove "$NAME/$version" --all >/dev/null 2>&1
	rm -rf "$root/usr/src/$NAME-$version" "$root/var/lib/dkms/$NAME" "$root/tmp/$NAME-dkms"
	rm -rf "$root/lib/modules/$kver/updates"
	[ -n "$before" ] || return 0
	for f in "$root/lib/modules/$kver"/*; do
		grep -qxF "${f##*/}" <<<"$before" || rm -rf "$f"
	done
	return 0
}

chroot_as_found() {
	local root=$1 kver=$2 before=$3 now

	ls -d "$root/usr/src/$NAME-"* "$root/var/lib/dkms/$NAME" 2>/dev/null && return 1
	now=$(ls "$root/lib/modules/$kver")
	[ "$now" = "$before" ] || { echo "/lib/modules/$kver: $now"; return 1; }
}

# open_suite SUITE WHAT: SUITE's cached chroot, with dkms in it, as $root
# and $kver (selftests/qemu/suites.py makes it if absent). Without
# debootstrap or dkms: an "ok ... # SKIP" line for WHAT; without the
# chroot: a "not ok" line and the log's tail. Either way $root is empty
# and the status 1.
open_suite() {
	local out

	root=
	if ! command -v debootstrap >/dev/null; then
		ok "$1: $2 # SKIP debootstrap not installed"
		return 1
	fi
	if ! out=$(suite_chroot "$1"); then
		not_ok "$1: its chroot (selftests/qemu/suites.py $1)"
		tail -n 15 "$tmp/suite.log" | sed 's/^/#   /'
		return 1
	fi
	read -r root kver <<<"$out"
	if [ ! -x "$root/usr/sbin/dkms" ]; then
		ok "$1: $2 # SKIP no dkms in $root"
		root=
		return 1
	fi
}
