#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# After an install: say which balloon devices another driver still holds
# (virtio_balloon, bound since boot) and exactly what moves them to
# fastballoon now; otherwise fastballoon takes them at the next boot.
# Run by "make install", "make dkms-install" and the fastballoon-dkms
# package's postinst (from /usr/src/fastballoon-<version>). Prints nothing
# when every balloon device is fastballoon's or there is none; always
# exits 0 (a hint never fails an install).

held=
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0005 ] || continue
	drv=$(readlink "$d/driver" 2>/dev/null) || drv=
	drv=${drv##*/}
	[ "$drv" = fastballoon ] && continue
	held="$held ${d##*/}:${drv:-none}"
done
[ -n "$held" ] || exit 0

for h in $held; do
	dev=${h%%:*} drv=${h#*:}
	if [ "$drv" = none ]; then
		echo "fastballoon: balloon device $dev has no driver: run 'modprobe fastballoon' to bind it now"
	else
		echo "fastballoon: balloon device $dev is driven by $drv until the next boot; to move it to fastballoon now, run:"
		if command -v balloonctl >/dev/null 2>&1; then
			echo "    balloonctl --device $dev takeover"
		else
			echo "    echo $dev > /sys/bus/virtio/drivers/$drv/unbind && modprobe fastballoon"
		fi
	fi
done
exit 0
