#!/bin/bash
# Install what building, testing and benchmarking fastballoon needs on a
# Debian 12 host: toolchain, QEMU, busybox, dkms, linux-source-6.1 (for the
# kselftest headers), what "make deb" and its test need (debhelper; dh-dkms,
# which holds dh_dkms on bookworm as on trixie; lintian; no fakeroot:
# debian/control says Rules-Requires-Root: no), debootstrap (the newer
# suites' kernels live in cached chroots: selftests/qemu/suites.py) and the
# headers of every bookworm kernel, resolved by the same script that picks
# the kernel images.
# Idempotent; fast when all is there already. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "deps: run as root (apt-get install)" >&2
	exit 1
fi

pkgs=(build-essential libc6-dev kmod xz-utils cpio busybox-static
      qemu-system-x86 python3 dkms linux-source-6.1 perl
      debootstrap                           # the trixie and sid chroots
      e2fsprogs                             # the distribution guest's disks (mke2fs -d, debugfs)
      dpkg-dev debhelper dh-dkms lintian    # make deb, selftests/packaging/test-deb.sh
      bc bison flex libssl-dev libelf-dev   # selftests/debug: the debug kernel
      clang libclang-rt-14-dev)

missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q "install ok installed" || echo "$p"
	done
}

export DEBIAN_FRONTEND=noninteractive
need=($(missing "${pkgs[@]}"))
if [ ${#need[@]} -gt 0 ] || ! python3 selftests/qemu/kernels.py --headers >/dev/null 2>&1; then
	echo "deps: apt-get update"
	apt-get update -q >/dev/null
fi
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

mapfile -t headers < <(python3 selftests/qemu/kernels.py --headers)
if [ ${#headers[@]} -eq 0 ]; then
	echo "deps: no kernel headers resolved (apt lists stale?)" >&2
	exit 1
fi
need=($(missing "${headers[@]}"))
if [ ${#need[@]} -gt 0 ]; then
	echo "deps: installing ${need[*]}"
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
echo "deps: ok (${headers[*]})"
