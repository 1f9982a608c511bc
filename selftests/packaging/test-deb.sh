#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian packages, built and installed the way a user does it, on the
# host (not in a guest):
#   - "make deb" into a scratch DEB_OUT: fastballoon-dkms (all) and
#     balloonctl (this architecture), at FB_VERSION, with exactly the files
#     they should hold, and nothing written into the source tree;
#   - lintian (the host's) on the .changes: no error, warning or info tag,
#     and every override in debian/*.lintian-overrides under a comment;
#   - in the chroot of FB_DEB_SUITE (trixie by default; empty: no chroot
#     part), the one selftests/qemu/suites.py makes and test-packaging.sh
#     uses (its dkms, gcc and newest kernel's headers): the preinst refuses
#     while a "make install" module or a "make dkms-install" registration
#     is there; "apt install ./fastballoon-dkms_*.deb ./balloonctl_*.deb"
#     builds and installs the module for the chroot's kernel (dkms status,
#     updates/dkms, modinfo version), puts the modprobe file where kmod
#     reads it, and balloonctl with its man page; make's install methods
#     refuse while the package is in place; "apt remove fastballoon-dkms"
#     unregisters it from DKMS and removes the module and every file,
#     leaving dpkg nothing to purge; "apt purge balloonctl" and no trace of
#     either is left (dpkg -l, /usr/src, /var/lib/dkms, modprobe.d).
# One install, one remove, one purge: the one DKMS build (for one kernel)
# is most of the time this takes. The chroot is left as found.
#
# Needs root, make, dpkg-dev, debhelper, dh-dkms, lintian, and for the
# chroot debootstrap (selftests/deps.sh installs them). Exit status
# (kselftest's): 0 all passed, 1 something failed, 4 skipped (not root, a
# tool missing, another packaging test holding the lock too long).
# Output: "ok N - ..." / "not ok N - ..." lines, details on "# " lines.

# The helper functions run through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

set -u

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

readonly SUITE=${FB_DEB_SUITE-trixie}
readonly DKMS_PKG=$NAME-dkms TOOL_PKG=balloonctl
# where the package puts the modprobe file (make install: /etc/modprobe.d)
readonly DEB_MODPROBE=/usr/lib/modprobe.d/$NAME.conf
readonly INNER=/tmp/$NAME-deb		# the .debs and a source copy, in the chroot

root=
kver=
listing=
mok_made=			# DKMS's signing key, made by this run's build

# --- helpers -----------------------------------------------------------------

cleanup() {
	local rc=$?

	trap - EXIT
	[ -n "$root" ] && chroot_restore >/dev/null 2>&1
	[ -n "$tmp" ] && rm -rf "$tmp"
	exit "$rc"
}

# No file under the source tree (but .git) is newer than $tmp/stamp.
tree_untouched() {
	local new

	new=$(find "$SRC" -path "$SRC/.git" -prune -o -newer "$tmp/stamp" -print)
	[ -z "$new" ] || { echo "make deb wrote into the source tree:"; echo "$new"; return 1; }
}

# deb_out_ok: DEB_OUT holds the two packages, the .changes and .buildinfo
# (and balloonctl's dbgsym package), named for FB_VERSION, and nothing else.
deb_out_ok() {
	local expected actual

	expected=$(printf '%s\n' "${DKMS_PKG}_${version}_all.deb" \
		"${TOOL_PKG}_${version}_$arch.deb" "${TOOL_PKG}-dbgsym_${version}_$arch.deb" \
		"${NAME}_${version}_$arch.changes" "${NAME}_${version}_$arch.buildinfo" | sort)
	actual=$(ls "$tmp/deb")
	ls -l "$tmp/deb"
	[ "$actual" = "$expected" ] || { echo "expected:"; echo "$expected"; return 1; }
}

# DEB_OUT may be a directory of the user's: make deb removed the stale
# package put there before it ran, kept the user's file (removed here, for
# deb_out_ok), and wrote the new packages beside it.
own_files_kept() {
	[ ! -e "$tmp/deb/${DKMS_PKG}_0.0.0_all.deb" ] ||
		{ echo "make deb left its stale output"; return 1; }
	[ "$(cat "$tmp/deb/keep.txt" 2>/dev/null)" = mine ] ||
		{ echo "make deb removed a file of the user's in DEB_OUT"; return 1; }
	rm "$tmp/deb/keep.txt"
}

# deb_file PACKAGE: the .deb of PACKAGE in DEB_OUT, whatever its version.
deb_file() { find "$tmp/deb" -maxdepth 1 -name "$1_*.deb" | head -n 1; }

# deb_member DEB PATH: PATH's contents in DEB.
deb_member() { dpkg-deb --fsys-tarfile "$1" | tar -xO "./$2"; }

# Both packages' Version, and the packaged dkms.conf's PACKAGE_VERSION
# (which names the DKMS tree), are FB_VERSION.
deb_versions_match() {
	local p deb v dkmsver

	for p in "$DKMS_PKG" "$TOOL_PKG"; do
		deb=$(deb_file "$p")
		[ -n "$deb" ] || { echo "no $p .deb"; return 1; }
		v=$(dpkg-deb -f "$deb" Version)
		echo "$p: Version $v, FB_VERSION $version"
		[ -n "$version" ] && [ "$v" = "$version" ] || return 1
	done
	dkmsver=$(deb_member "$(deb_file "$DKMS_PKG")" "usr/src/$NAME-$version/dkms.conf" |
		sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
	echo "packaged dkms.conf: PACKAGE_VERSION $dkmsver"
	[ "$dkmsver" = "$version" ]
}

# contents_are DEB EXPECTED: the regular files and links DEB holds are
# exactly EXPECTED (newline-separated paths without the leading "./").
contents_are() {
	local actual expected

	expected=$(sort <<<"$2")
	actual=$(dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $6 }' | sed 's|^\./||' | sort)
	[ "$actual" = "$expected" ] && return 0
	echo "$1: expected and got:"
	diff <(echo "$expected") <(echo "$actual")
	return 1
}

# fastballoon-dkms: the DKMS tree is make dkms-install's file list, the
# modprobe file the repository's; balloonctl: the tool and its man page,
# with the version filled in.
deb_contents_ok() {
	local deb files f expected

	deb=$(deb_file "$DKMS_PKG")
	files=$(make -s -C "$SRC" dkms-files)
	expected="${DEB_MODPROBE#/}"
	for f in $files; do
		expected+=$'\n'"usr/src/$NAME-$version/$f"
	done
	expected+=$'\n'"usr/share/doc/$DKMS_PKG/changelog.gz"$'\n'"usr/share/doc/$DKMS_PKG/copyright"
	contents_are "$deb" "$expected" || return 1
	deb_member "$deb" "${DEB_MODPROBE#/}" | cmp - "$SRC/$NAME.conf" || return 1

	deb=$(deb_file "$TOOL_PKG")
	contents_are "$deb" "usr/sbin/balloonctl
usr/share/man/man8/balloonctl.8.gz
usr/share/doc/$TOOL_PKG/changelog.gz
usr/share/doc/$TOOL_PKG/copyright" || return 1
	deb_member "$deb" usr/share/man/man8/balloonctl.8.gz | gzip -dc |
		grep -q "fastballoon $version" || { echo "man page does not say $version"; return 1; }
}

lintian_clean() {
	[ -n "$changes" ] || { echo "no .changes in DEB_OUT"; return 1; }
	lintian --version
	lintian -I --pedantic --fail-on error,warning,info "$changes" 2>&1 |
		grep -v '^running with root privileges'
	return "${PIPESTATUS[0]}"
}

# Every override sits in a block of lines headed by a comment (a blank
# line ends a block): each one says why it is there.
overrides_commented() {
	local f n=0

	for f in "$SRC"/debian/*.lintian-overrides; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		awk -v f="${f#"$SRC"/}" '
			/^[[:space:]]*#/ { why = 1; next }
			/^[[:space:]]*$/ { why = 0; next }
			!why { print f ":" NR ": override without a comment: " $0; bad = 1 }
			END { exit bad }' "$f" || return 1
	done
	echo "$n override file(s)"
}

# apt_in ARGS...: apt-get in the chroot, non-interactive.
apt_in() { in_root "$root" DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"; }

# pkg_absent STATES PACKAGE...: dpkg -l shows each PACKAGE in one of the
# dpkg -l STATES (a pattern: "un" unknown/not installed), or not at all.
pkg_absent() {
	local states=$1 p st rc=0

	shift
	for p in "$@"; do
		# shellcheck disable=SC2016 # dpkg-query's ${field}, not the shell's
		st=$(in_root "$root" dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)
		# shellcheck disable=SC2254 # STATES is a pattern
		case ${st:0:2} in
		"" | $states) ;;
		*) echo "dpkg -l $p: $st"; rc=1 ;;
		esac
	done
	return "$rc"
}

# chroot_no_trace [STATES]: the chroot has nothing of fastballoon's: dpkg
# lists neither package (or only in STATES), no DKMS tree or registration,
# no modprobe file, no tool; /lib/modules/<kver> as found.
chroot_no_trace() {
	local f rc=0

	pkg_absent "${1:-un}" "$DKMS_PKG" "$TOOL_PKG" || rc=1
	chroot_as_found "$root" "$kver" "$listing" || rc=1
	for f in "$DEB_MODPROBE" /etc/modprobe.d/$NAME.conf /usr/sbin/balloonctl \
		/usr/share/man/man8/balloonctl.8.gz "/usr/share/doc/$DKMS_PKG"; do
		[ ! -e "$root$f" ] || { echo "$f left"; rc=1; }
	done
	return "$rc"
}

# What apt install ./... must have left in the chroot.
dkms_status_ok() {
	local st

	st=$(in_root "$root" dkms status -m "$NAME")
	echo "$st"
	grep -F "$NAME/$version, $kver," <<<"$st" | grep -q ': installed'
}

module_version_ok() {
	local mod v

	chroot_dkms_installed "$root" "$kver" || return 1
	mod=$(in_root "$root" modinfo -k "$kver" -F filename "$NAME")
	v=$(in_root "$root" modinfo -F version "$mod")
	echo "$mod: version $v"
	[ "$v" = "$version" ]
}

# The modprobe file is the repository's, and kmod reads it there.
modprobe_ok() {
	cmp "$SRC/$NAME.conf" "$root$DEB_MODPROBE" || return 1
	in_root "$root" modprobe -S "$kver" -c | grep -qx 'blacklist virtio_balloon' ||
		{ echo "modprobe -c has no 'blacklist virtio_balloon'"; return 1; }
}

tool_ok() {
	local out

	out=$(in_root "$root" balloonctl --help) || { echo "balloonctl --help failed"; return 1; }
	head -n 3 <<<"$out"
	[ -f "$root/usr/share/man/man8/balloonctl.8.gz" ] ||
		{ echo "no /usr/share/man/man8/balloonctl.8.gz"; return 1; }
}

# The package's files are as dpkg unpacked them, and DKMS still has it.
package_whole() {
	in_root "$root" dpkg --verify "$DKMS_PKG" "$TOOL_PKG" || return 1
	dkms_status_ok
}

# After apt remove: DKMS has no fastballoon, no module for the kernel, no
# DKMS tree, no modprobe file.
removed_ok() {
	local mod f rc=0

	in_root "$root" dkms status -m "$NAME" | grep . && { echo "dkms still has it"; rc=1; }
	[ ! -e "$root/var/lib/dkms/$NAME" ] || { echo "/var/lib/dkms/$NAME left"; rc=1; }
	mod=$(find "$root/lib/modules/$kver" -name "$NAME.ko*")
	[ -z "$mod" ] || { echo "module left: $mod"; rc=1; }
	! in_root "$root" modinfo -k "$kver" "$NAME" >/dev/null 2>&1 ||
		{ echo "modinfo -k $kver still finds $NAME"; rc=1; }
	for f in "/usr/src/$NAME-$version" "$DEB_MODPROBE"; do
		[ ! -e "$root$f" ] || { echo "$f left"; rc=1; }
	done
	return "$rc"
}

# Put the chroot back as found: purge the packages (dpkg, not the prerm, if
# a run died half-way), then what DKMS leaves (lib.sh's chroot_clean).
chroot_restore() {
	in_root "$root" dpkg --purge --force-all "$DKMS_PKG" "$TOOL_PKG"
	chroot_clean "$root" "$kver" "$listing"
	rm -rf "$root$INNER"
	[ -z "$mok_made" ] || rm -f "$root"/var/lib/dkms/mok.key "$root"/var/lib/dkms/mok.pub
}

# --- preconditions: skip, having changed nothing ---------------------------

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for cmd in make dpkg-buildpackage dpkg-deb dh dh_dkms lintian flock; do
	command -v "$cmd" >/dev/null || skip_all "$cmd not installed (selftests/deps.sh)"
done
take_lock
version=$(make -s -C "$SRC" version KDIR=/nonexistent)
arch=$(dpkg --print-architecture)
tmp=$(mktemp -d /tmp/fastballoon-deb.XXXXXX)
trap cleanup EXIT
trap 'exit $KSFT_FAIL' INT TERM HUP
: >"$tmp/all.log"
note "source: $SRC, version $version, suite: ${SUITE:-none}"

# --- build and lint on the host ------------------------------------------------

t0=$SECONDS
mkdir "$tmp/deb"
echo mine >"$tmp/deb/keep.txt"
: >"$tmp/deb/${DKMS_PKG}_0.0.0_all.deb"
touch "$tmp/stamp"
check "make deb DEB_OUT=<tmp>" make -C "$SRC" deb DEB_OUT="$tmp/deb"
check "make deb replaced its own old output in DEB_OUT and kept the rest" own_files_kept
check "make deb wrote nothing into the source tree" tree_untouched
check "DEB_OUT has the packages, named for FB_VERSION $version, and nothing else" deb_out_ok
check "both packages' Version and the packaged dkms.conf are FB_VERSION" deb_versions_match
check "the packages hold exactly their files (DKMS list, modprobe file, tool, man page)" \
	deb_contents_ok
# whatever its name: a wrong version is check 3's and 4's to report
changes=$(find "$tmp/deb" -maxdepth 1 -name "${NAME}_*.changes" | head -n 1)
check "lintian: no error, warning or info tag" lintian_clean
check "every lintian override has a comment" overrides_commented
note "build and lintian: $((SECONDS - t0)) s"

# --- install, remove, purge in the suite's chroot ----------------------------

chroot_part() {
	local dkms_deb tool_deb t

	open_suite "$SUITE" "the packages in its chroot" || return
	note "$SUITE: $root, kernel $kver, $(in_root "$root" dkms --version)"
	listing=
	chroot_restore >/dev/null 2>&1
	listing=$(ls "$root/lib/modules/$kver")
	[ -e "$root/var/lib/dkms/mok.key" ] || mok_made=1
	mkdir -p "$root$INNER"
	dkms_deb=$(deb_file "$DKMS_PKG")
	tool_deb=$(deb_file "$TOOL_PKG")
	if [ -z "$dkms_deb" ] || [ -z "$tool_deb" ]; then
		not_ok "$SUITE: no .debs to install"
		return
	fi
	cp "$dkms_deb" "$tool_deb" "$root$INNER/"
	dkms_deb=$INNER/${dkms_deb##*/}
	tool_deb=$INNER/${tool_deb##*/}

	# The preinst refuses the other install methods' leftovers. dpkg then
	# lists the package as "in" (selected for install, not installed: no
	# file unpacked), as after any install that failed in its preinst.
	mkdir "$root/lib/modules/$kver/updates"
	touch "$root/lib/modules/$kver/updates/$NAME.ko"
	check "$SUITE: apt install refuses while make install's module is in updates/" \
		refuses "installed by 'make install'" apt_in install "$dkms_deb"
	rm -r "$root/lib/modules/$kver/updates"
	mkdir "$root/var/lib/dkms/$NAME"
	check "$SUITE: apt install refuses while DKMS has fastballoon (make dkms-install)" \
		refuses "already registered with DKMS" apt_in install "$dkms_deb"
	rmdir "$root/var/lib/dkms/$NAME"
	check "$SUITE: and the refusals unpacked nothing (dpkg -l: not installed)" \
		chroot_no_trace "[uin]n"

	t=$SECONDS
	check "$SUITE: apt install ./${dkms_deb##*/} ./${tool_deb##*/}" \
		apt_in install "$dkms_deb" "$tool_deb"
	note "$SUITE: apt install (dkms build for $kver): $((SECONDS - t)) s"
	check "$SUITE: dkms status: $NAME/$version installed for $kver" dkms_status_ok
	check "$SUITE: module in updates/dkms, depmod knows it, modinfo version $version" \
		module_version_ok
	check "$SUITE: modprobe file in $DEB_MODPROBE, read by modprobe" modprobe_ok
	check "$SUITE: balloonctl --help runs, its man page is installed" tool_ok

	# make's install methods refuse while the package is installed.
	mkdir -p "$root$INNER/src"
	tar -C "$SRC" --exclude=./.git --exclude=./build -cf - . | tar -C "$root$INNER/src" -xf -
	in_root "$root" make -s -C "$INNER/src" clean KDIR=/nonexistent >/dev/null 2>&1
	check "$SUITE: then make dkms-install refuses, naming the package" \
		refuses "installed by the $DKMS_PKG package" \
		in_root "$root" make -C "$INNER/src" dkms-install KVER="$kver"
	check "$SUITE: and make dkms-uninstall refuses" \
		refuses "installed by the $DKMS_PKG package" \
		in_root "$root" make -C "$INNER/src" dkms-uninstall
	check "$SUITE: and make uninstall refuses" \
		refuses "installed by the $DKMS_PKG package" \
		in_root "$root" make -C "$INNER/src" uninstall KVER="$kver"
	check "$SUITE: and changed nothing: dpkg --verify passes, DKMS has it" package_whole

	# One cycle: apt remove the module's package, apt purge the tool's.
	# Neither has a conffile or a purge step, so after apt remove dpkg has
	# nothing left of fastballoon-dkms to purge (and apt, not knowing local
	# packages that are gone, says "Unable to locate package").
	t=$SECONDS
	check "$SUITE: apt remove $DKMS_PKG" apt_in remove "$DKMS_PKG"
	check "$SUITE: after remove: unregistered from DKMS, module and files gone" removed_ok
	check "$SUITE: and dpkg has nothing of $DKMS_PKG left to purge" pkg_absent un "$DKMS_PKG"
	check "$SUITE: apt purge $TOOL_PKG" apt_in purge "$TOOL_PKG"
	rm -rf "$root$INNER"
	check "$SUITE: after purge: no trace (dpkg -l, /usr/src, /var/lib/dkms, modprobe.d, tool)" \
		chroot_no_trace
	note "$SUITE: remove and purge: $((SECONDS - t)) s"
}

if [ -n "$SUITE" ]; then
	t0=$SECONDS
	chroot_part
	note "chroot part: $((SECONDS - t0)) s"
fi

echo "1..$tests"
[ $failed -eq 0 ] && exit $KSFT_PASS
log=${TMPDIR:-/tmp}/fastballoon-deb.log
cp "$tmp/all.log" "$log" && note "$failed of $tests failed; full log in $log"
exit $KSFT_FAIL
