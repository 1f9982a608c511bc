#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Packaging test for fastballoon, run on the host (not in a guest).
#
# For every installed kernel headers tree of a supported series (6.1, 6.12),
# it builds and installs the module four ways and checks where the files
# land (and, for the newer kernels, DKMS inside their suite's chroot, below):
#   - DKMS directly: "dkms add" of a copy of exactly the files "make
#     dkms-install" ships, then "dkms build/install -k <release>";
#   - "make install DESTDIR=<tmp>" and "make uninstall" (staged, no system
#     change), including a W=1 build that must be warning-free;
#   - "make install" and "make uninstall" on the live system (depmod);
#   - "make dkms-install KVER=<release>" and "make dkms-uninstall".
# Afterwards the system must be as it was found: no source tree in /usr/src,
# nothing registered with DKMS, no module under /lib/modules, no modprobe
# file, no depmod output that was not there before.
#
# Kernels newer than the host's (Debian 13's 6.12, sid's 7.x) need their own
# suite's gcc and dkms: for each suite in FB_PACKAGING_SUITES ("trixie sid"
# by default; empty: none) the same dkms add/build/install/remove runs inside
# the chroot selftests/qemu/suites.py makes and caches (under
# $FASTBALLOON_CACHE/suites: made here if absent, which takes a few
# minutes), against that suite's newest kernel, with that suite's dkms. The
# chroot is left as found too.
#
# Needs root, dkms, make and the headers. Exit status (kselftest's): 0 all
# passed, 1 something failed, 4 skipped (not root, no dkms, no headers, a
# fastballoon installation already present that this test must not touch, or
# another run of this test holding the lock for FB_PACKAGING_LOCK_WAIT
# seconds, 600 by default).
# Output: "ok N - ..." / "not ok N - ..." lines, details on "# " lines.

# The helper functions run through check(), which shellcheck cannot see.
# shellcheck disable=SC2317

set -u

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

readonly MODPROBE_FILE=/etc/modprobe.d/$NAME.conf
readonly MOK_FILES=(/var/lib/dkms/mok.key /var/lib/dkms/mok.pub)
# what "make install" puts outside /lib/modules with the default PREFIX
readonly TOOL_FILES=(/usr/local/sbin/balloonctl /usr/local/share/man/man8/balloonctl.8)

declare -A hdr_of=()		# release -> headers directory
declare -A snapshot=()		# release -> /lib/modules/<release> before, or "absent"
declare -A mok_was=()		# key file -> "present" or "absent"
kvers=()

# Everything under /lib/modules/<release> except the distribution's kernel/.
modules_listing() {
	local d=/lib/modules/$1

	[ -d "$d" ] || { echo absent; return; }
	find "$d" -path "$d/kernel" -prune -o -print | sort
}

# Put /lib/modules/<release> back as the snapshot has it: remove our module,
# then what depmod or DKMS created (modules.* files, empty directories).
restore_modules_dir() {
	local kver=$1 d=/lib/modules/$1 before path

	[ -d "$d" ] || return 0
	find "$d" -path "$d/kernel" -prune -o -name "$NAME.ko*" -print0 |
		xargs -0r rm -f
	before=${snapshot[$kver]}
	if [ "$before" != absent ] && grep -qx "$d/modules.dep" <<<"$before"; then
		depmod -a "$kver" 2>/dev/null
	fi
	modules_listing "$kver" | sort -r | while read -r path; do
		grep -qxF "$path" <<<"$before" && continue
		case $path in
		"$d"/modules.*) rm -f "$path" ;;
		*) [ -d "$path" ] && rmdir "$path" 2>/dev/null ;;
		esac
	done
}

# Undo whatever this run did to the system; safe to call more than once.
restore_system() {
	local kver f

	if [ -n "$version" ] && dkms status -m "$NAME" 2>/dev/null | grep -q .; then
		dkms remove "$NAME/$version" --all >/dev/null 2>&1
	fi
	[ -n "$version" ] && rm -rf "/usr/src/$NAME-$version"
	rm -rf "/var/lib/dkms/$NAME"
	rm -f "$MODPROBE_FILE" "${TOOL_FILES[@]}"
	for kver in "${kvers[@]}"; do
		restore_modules_dir "$kver"
	done
	# DKMS makes itself a signing key on its first build; drop it if it
	# was this run that made it.
	for f in "${MOK_FILES[@]}"; do
		[ "${mok_was[$f]:-present}" = absent ] && rm -f "$f"
	done
}

cleanup() {
	local rc=$?

	trap - EXIT
	restore_system >/dev/null 2>&1
	[ -n "$tmp" ] && rm -rf "$tmp"
	exit "$rc"
}

# Files found under DIR, relative to it, sorted.
files_under() { (cd "$1" && find . -type f -o -type l | sed 's|^\./||' | sort); }

# The installed copy of the module for <release> under /lib/modules.
installed_module() {
	find "/lib/modules/$1" -path "/lib/modules/$1/kernel" -prune \
		-o -name "$NAME.ko*" -print | head -n 1
}

# modinfo_ok FILE RELEASE: the module is ours, built for RELEASE, and says
# the packaging's version if it states one.
modinfo_ok() {
	local file=$1 kver=$2 name magic modver

	name=$(modinfo -F name "$file") || return 1
	magic=$(modinfo -F vermagic "$file") || return 1
	modver=$(modinfo -F version "$file")
	echo "name=$name vermagic=$magic version=${modver:-none}"
	[ "$name" = "$NAME" ] || { echo "name is $name"; return 1; }
	[ "${magic%% *}" = "$kver" ] || { echo "vermagic is not $kver"; return 1; }
	[ -z "$modver" ] || [ "$modver" = "$version" ] ||
		{ echo "MODULE_VERSION $modver != $version"; return 1; }
}

dkms_module_installed() {
	local kver=$1 mod

	mod=$(installed_module "$kver")
	echo "installed: ${mod:-nothing}"
	case $mod in
	"/lib/modules/$kver/updates/dkms/$NAME.ko"*) ;;
	*) return 1 ;;
	esac
	modinfo_ok "$mod" "$kver" || return 1
	# depmod ran: modprobe would find it by name
	[ "$(modinfo -k "$kver" -F filename "$NAME")" = "$mod" ]
}

nothing_installed() {
	local mod

	mod=$(installed_module "$1")
	[ -z "$mod" ] || { echo "left behind: $mod"; return 1; }
	! modinfo -k "$1" "$NAME" >/dev/null 2>&1 ||
		{ echo "modinfo -k $1 still finds $NAME"; return 1; }
}

versions_match() {
	local pkgver

	pkgver=$(sed -n 's/^PACKAGE_VERSION="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$SRC/dkms.conf")
	echo "FB_VERSION (uapi header, make version)=$version dkms.conf PACKAGE_VERSION=$pkgver"
	[ -n "$version" ] && [ "$version" = "$pkgver" ]
}

# make install DESTDIR=... lays out exactly the expected files.
staged_install_ok() {
	local dest=$1 kver=$2 expected actual

	expected="etc/modprobe.d/$NAME.conf
lib/modules/$kver/updates/$NAME.ko"
	if [ -f "$tmp/tree/tools/Makefile" ]; then
		expected+="
usr/sbin/balloonctl
usr/share/man/man8/balloonctl.8"
		[ -x "$dest/usr/sbin/balloonctl" ] || { echo "balloonctl not executable"; return 1; }
	fi
	expected=$(sort <<<"$expected")
	actual=$(files_under "$dest")
	if [ "$actual" != "$expected" ]; then
		echo "expected:"; echo "$expected"; echo "got:"; echo "$actual"
		return 1
	fi
	cmp "$SRC/$NAME.conf" "$dest/etc/modprobe.d/$NAME.conf" &&
		modinfo_ok "$dest/lib/modules/$kver/updates/$NAME.ko" "$kver"
}

empty_tree() {
	local left

	left=$(files_under "$1")
	[ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}

build_warning_free() {
	local kdir=$1

	make -C "$tmp/tree" KDIR="$kdir" clean >/dev/null &&
		make -C "$tmp/tree" KDIR="$kdir" W=1 modules >"$tmp/w1.log" 2>&1
	local rc=$?
	cat "$tmp/w1.log"
	[ "$rc" -eq 0 ] && ! grep -qi 'warning:' "$tmp/w1.log"
}

# No file shipped to DKMS is one git ignores, i.e. something a build in the
# source tree generated (driver/*.mod.c would match driver/*.[ch]).
list_not_generated() {
	local -a list

	read -r -a list <<<"$files"
	! git -c safe.directory="$SRC" -C "$SRC" check-ignore -- "${list[@]}"
}

# make install without DESTDIR: files in place and depmod run.
live_install_ok() {
	local kver=$1 mod=/lib/modules/$1/updates/$NAME.ko f

	modinfo_ok "$mod" "$kver" || return 1
	[ "$(modinfo -k "$kver" -F filename "$NAME")" = "$mod" ] ||
		{ echo "depmod did not index $mod"; return 1; }
	cmp "$SRC/$NAME.conf" "$MODPROBE_FILE" || return 1
	tool_installed
}

# balloonctl and its man page, where "make install" puts them by default.
tool_installed() {
	local f

	[ -f "$tmp/tree/tools/Makefile" ] || return 0
	for f in "${TOOL_FILES[@]}"; do
		[ -f "$f" ] || { echo "no $f"; return 1; }
	done
	"${TOOL_FILES[0]}" --version || { echo "${TOOL_FILES[0]} --version failed"; return 1; }
}

# stripped FILE: no debug info in FILE; the build's module has it.
stripped() {
	readelf -S --wide "$1" >"$tmp/sections" || return 1
	! grep -q '\.debug_info' "$tmp/sections" ||
		{ echo "$1 has .debug_info"; return 1; }
	readelf -S --wide "$tmp/tree/driver/$NAME.ko" | grep -q '\.debug_info' ||
		{ echo "the built module has no .debug_info either"; return 1; }
	ls -l "$1" "$tmp/tree/driver/$NAME.ko"
}

# signed_by FILE SIGNER: modinfo names SIGNER and sha256.
signed_by() {
	local signer hash

	signer=$(modinfo -F signer "$1") && hash=$(modinfo -F sig_hashalgo "$1") ||
		return 1
	echo "signer=$signer sig_hashalgo=$hash"
	[ "$signer" = "$2" ] && [ "$hash" = sha256 ]
}

# What make install left, and nothing of DKMS's.
only_make_install() {
	dkms_unregistered || { echo "registered with DKMS"; return 1; }
	[ ! -e "/usr/src/$NAME-$version" ] || { echo "/usr/src/$NAME-$version made"; return 1; }
	live_install_ok "$1"
}

# What make dkms-install left, and nothing of make install's.
only_dkms() {
	[ ! -e "/lib/modules/$1/updates/$NAME.ko" ] || { echo "updates/$NAME.ko made"; return 1; }
	dkms_install_ok "$1"
}

live_uninstall_ok() {
	local f

	for f in "$MODPROBE_FILE" "${TOOL_FILES[@]}"; do
		[ ! -e "$f" ] || { echo "$f left"; return 1; }
	done
	nothing_installed "$1"
}

dkms_registered() { dkms status -m "$NAME" | grep -q .; }
dkms_unregistered() { ! dkms_registered && [ ! -e "/var/lib/dkms/$NAME" ]; }

dkms_install_ok() {
	local kver=$1

	[ -d "/usr/src/$NAME-$version" ] || { echo "no /usr/src/$NAME-$version"; return 1; }
	cmp "$SRC/$NAME.conf" "$MODPROBE_FILE" || return 1
	tool_installed || return 1
	dkms_module_installed "$kver"
}

dkms_uninstall_ok() {
	local kver=$1 f

	[ ! -e "/usr/src/$NAME-$version" ] || { echo "/usr/src/$NAME-$version left"; return 1; }
	[ ! -e "$MODPROBE_FILE" ] || { echo "$MODPROBE_FILE left"; return 1; }
	for f in "${TOOL_FILES[@]}"; do
		[ ! -e "$f" ] || { echo "$f left"; return 1; }
	done
	dkms_unregistered || { echo "still registered with dkms"; return 1; }
	nothing_installed "$kver"
}

system_as_found() {
	local kver rc=0 f

	ls -d "/usr/src/$NAME"-* 2>/dev/null && rc=1
	[ -e "/var/lib/dkms/$NAME" ] && { echo "/var/lib/dkms/$NAME left"; rc=1; }
	for f in "$MODPROBE_FILE" "${TOOL_FILES[@]}"; do
		[ -e "$f" ] && { echo "$f left"; rc=1; }
	done
	for kver in "${kvers[@]}"; do
		if [ "$(modules_listing "$kver")" != "${snapshot[$kver]}" ]; then
			echo "/lib/modules/$kver differs:"
			diff <(echo "${snapshot[$kver]}") <(modules_listing "$kver")
			rc=1
		fi
	done
	for f in "${MOK_FILES[@]}"; do
		[ "${mok_was[$f]}" = absent ] && [ -e "$f" ] && { echo "$f left"; rc=1; }
	done
	return "$rc"
}

# --- preconditions: skip, having changed nothing ---------------------------

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for cmd in dkms make modinfo depmod gcc flock; do
	command -v "$cmd" >/dev/null || skip_all "$cmd not installed"
done

take_lock

for hdr in /usr/src/linux-headers-6.1.*-amd64 /usr/src/linux-headers-6.12.*-amd64; do
	rel=$(sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
		"$hdr/include/generated/utsrelease.h" 2>/dev/null)
	[ -n "$rel" ] || continue
	hdr_of[$rel]=$hdr
	kvers+=("$rel")
done
[ ${#kvers[@]} -gt 0 ] || skip_all "no linux-headers for 6.1 or 6.12 in /usr/src"

existing=$(dkms status -m "$NAME" 2>/dev/null; ls -d /usr/src/$NAME-* "$MODPROBE_FILE" \
	/var/lib/dkms/$NAME "${TOOL_FILES[@]}" 2>/dev/null
	find /lib/modules -name "$NAME.ko*" 2>/dev/null)
[ -z "$existing" ] || skip_all "fastballoon is already installed here: ${existing//$'\n'/ }"

version=$(make -s -C "$SRC" version KDIR=/nonexistent)

# --- state to restore --------------------------------------------------------

for kver in "${kvers[@]}"; do
	snapshot[$kver]=$(modules_listing "$kver")
done
for f in "${MOK_FILES[@]}"; do
	[ -e "$f" ] && mok_was[$f]=present || mok_was[$f]=absent
done
tmp=$(mktemp -d /tmp/fastballoon-packaging.XXXXXX)
trap cleanup EXIT
trap 'exit $KSFT_FAIL' INT TERM HUP
: >"$tmp/all.log"

note "source: $SRC, version $version, kernels: ${kvers[*]}"

# --- static checks -----------------------------------------------------------

check "FB_VERSION matches dkms.conf PACKAGE_VERSION" versions_match

# A full copy for make install, and the DKMS file list copied the way
# "make dkms-install" copies it, so a file missing from that list fails here.
mkdir -p "$tmp/tree" "$tmp/dkms-src"
# tar, not rsync: a fresh Debian machine has no rsync.
copy_tree() { tar -C "$SRC" --exclude=.git -cf - . | tar -C "$tmp/tree" -xf -; }
check "copy source tree" copy_tree
make -s -C "$tmp/tree" clean KDIR=/nonexistent >/dev/null 2>&1
files=$(make -s -C "$SRC" dkms-files)
check "copy the DKMS source list ($(wc -w <<<"$files") files)" \
	copy_list "$SRC" "$files" "$tmp/dkms-src"

if [ -e "$SRC/.git" ] && command -v git >/dev/null; then
	check "the DKMS source list holds no generated (git-ignored) file" list_not_generated
else
	ok "the DKMS source list holds no generated file # SKIP not a git checkout"
fi

# --- DKMS: add once, build and install for each kernel -----------------------

check "dkms add $NAME/$version" dkms add "$tmp/dkms-src"
for kver in "${kvers[@]}"; do
	hdr=${hdr_of[$kver]}
	check "dkms build -k $kver" \
		dkms build -m "$NAME" -v "$version" -k "$kver" --kernelsourcedir "$hdr"
	check "dkms install -k $kver" \
		dkms install -m "$NAME" -v "$version" -k "$kver" --kernelsourcedir "$hdr"
	check "$kver: module in updates/dkms, right name and vermagic, depmod knows it" \
		dkms_module_installed "$kver"
done
for kver in "${kvers[@]}"; do
	check "dkms remove -k $kver" dkms remove "$NAME/$version" -k "$kver"
	check "$kver: module gone after dkms remove" nothing_installed "$kver"
done
if dkms_registered; then
	check "dkms remove --all" dkms remove "$NAME/$version" --all
fi
rm -rf "/usr/src/$NAME-$version"
check "nothing left registered with DKMS" dkms_unregistered

# --- make install / uninstall into a DESTDIR ---------------------------------

for kver in "${kvers[@]}"; do
	hdr=${hdr_of[$kver]}
	dest=$tmp/dest-$kver
	check "$kver: make W=1 is warning-free" build_warning_free "$hdr"
	check "$kver: make install DESTDIR" \
		make -C "$tmp/tree" install KDIR="$hdr" DESTDIR="$dest" PREFIX=/usr
	check "$kver: staged install has exactly the expected files" \
		staged_install_ok "$dest" "$kver"
	check "$kver: the installed module is stripped, the built one is not" \
		stripped "$dest/lib/modules/$kver/updates/$NAME.ko"
	check "$kver: make uninstall DESTDIR" \
		make -C "$tmp/tree" uninstall KDIR="$hdr" DESTDIR="$dest" PREFIX=/usr
	check "$kver: staged uninstall removed every file" empty_tree "$dest"
done

# --- make install SIGN_KEY= SIGN_CERT= signs (a throwaway key) --------------

kver=${kvers[0]}
hdr=${hdr_of[$kver]}
dest=$tmp/dest-signed
if command -v openssl >/dev/null; then
	check "a throwaway signing key" openssl req -new -x509 -newkey rsa:2048 \
		-nodes -days 1 -subj "/CN=fastballoon packaging test" \
		-keyout "$tmp/sign.key" -outform DER -out "$tmp/sign.der"
	check "$kver: make install SIGN_KEY SIGN_CERT" \
		make -C "$tmp/tree" install KDIR="$hdr" DESTDIR="$dest" PREFIX=/usr \
		SIGN_KEY="$tmp/sign.key" SIGN_CERT="$tmp/sign.der"
	check "$kver: the installed module is signed by that key, sha256" \
		signed_by "$dest/lib/modules/$kver/updates/$NAME.ko" \
		"fastballoon packaging test"
else
	ok "make install SIGN_KEY # SKIP no openssl"
fi

# --- make install / uninstall on the live system (runs depmod) -------------

for kver in "${kvers[@]}"; do
	hdr=${hdr_of[$kver]}
	check "$kver: make install" make -C "$tmp/tree" install KDIR="$hdr"
	check "$kver: module in updates/, indexed by depmod; modprobe file; tool" \
		live_install_ok "$kver"
	check "$kver: make uninstall" make -C "$tmp/tree" uninstall KDIR="$hdr"
	check "$kver: uninstall removed every file and the index entry" \
		live_uninstall_ok "$kver"
done

# --- make dkms-install / dkms-uninstall --------------------------------------

for kver in "${kvers[@]}"; do
	if [ ! -e "/lib/modules/$kver/build/Makefile" ]; then
		ok "$kver: make dkms-install # SKIP no /lib/modules/$kver/build"
		continue
	fi
	check "$kver: make dkms-install" make -C "$tmp/tree" dkms-install KVER="$kver"
	check "$kver: dkms-install put source, module and modprobe file in place" \
		dkms_install_ok "$kver"
	check "$kver: make dkms-uninstall" make -C "$tmp/tree" dkms-uninstall KVER="$kver"
	check "$kver: dkms-uninstall removed all of it" dkms_uninstall_ok "$kver"
done

# --- the two install methods refuse to mix (one kernel is enough) -----------
# With both, DKMS would not replace make install's module ("Diff between
# built and installed module" in dkms status only, exit 0), and either
# uninstall would leave the other's module without the modprobe file.

kver=
for k in "${kvers[@]}"; do
	[ -e "/lib/modules/$k/build/Makefile" ] && { kver=$k; break; }
done
if [ -n "$kver" ]; then
	hdr=${hdr_of[$kver]}
	check "$kver: make install" make -C "$tmp/tree" install KDIR="$hdr"
	check "$kver: then make dkms-install refuses, naming make install" \
		refuses "installed by 'make install'" \
		make -C "$tmp/tree" dkms-install KVER="$kver"
	check "$kver: and changed nothing: DKMS has nothing, make install's module stays" \
		only_make_install "$kver"
	check "$kver: make uninstall" make -C "$tmp/tree" uninstall KDIR="$hdr"
	check "$kver: make dkms-install" make -C "$tmp/tree" dkms-install KVER="$kver"
	check "$kver: then make install refuses, naming DKMS" \
		refuses "installed by DKMS" make -C "$tmp/tree" install KDIR="$hdr"
	check "$kver: and make uninstall refuses too" \
		refuses "installed by DKMS" make -C "$tmp/tree" uninstall KDIR="$hdr"
	check "$kver: and changed nothing: the DKMS install is whole" \
		only_dkms "$kver"
	check "$kver: make dkms-uninstall" make -C "$tmp/tree" dkms-uninstall KVER="$kver"
	check "$kver: dkms-uninstall removed all of it" dkms_uninstall_ok "$kver"
else
	ok "install methods refuse to mix # SKIP no kernel with /lib/modules/<release>/build"
fi

# --- DKMS inside a newer suite's chroot (its gcc, its dkms) ------------------

for suite in ${FB_PACKAGING_SUITES-trixie sid}; do
	open_suite "$suite" "dkms in its chroot" || continue
	note "$suite: $root, kernel $kver, $(in_root "$root" dkms --version)," \
		"$(in_root "$root" gcc --version | head -n 1)"
	chroot_clean "$root" "$kver"
	listing=$(ls "$root/lib/modules/$kver")
	mkdir -p "$root/tmp/$NAME-dkms"
	copy_list "$SRC" "$files" "$root/tmp/$NAME-dkms"
	check "$suite: dkms add $NAME/$version" in_root "$root" dkms add "/tmp/$NAME-dkms"
	check "$suite: dkms build -k $kver" in_root "$root" \
		dkms build -m "$NAME" -v "$version" -k "$kver" \
		--kernelsourcedir "/usr/src/linux-headers-$kver"
	check "$suite: dkms install -k $kver" in_root "$root" \
		dkms install -m "$NAME" -v "$version" -k "$kver" \
		--kernelsourcedir "/usr/src/linux-headers-$kver"
	check "$suite: $kver: module in updates/dkms, right vermagic, depmod knows it (if installed)" \
		chroot_dkms_installed "$root" "$kver"
	check "$suite: dkms remove --all" in_root "$root" dkms remove "$NAME/$version" --all
	chroot_clean "$root" "$kver" "$listing"
	check "$suite: chroot left as found" chroot_as_found "$root" "$kver" "$listing"
done

# --- leave the system as found -----------------------------------------------

restore_system >/dev/null 2>&1
check "system left as found" system_as_found

echo "1..$tests"
[ $failed -eq 0 ] && exit $KSFT_PASS
log=${TMPDIR:-/tmp}/fastballoon-packaging.log
cp "$tmp/all.log" "$log" && note "$failed of $tests failed; full log in $log"
exit $KSFT_FAIL
