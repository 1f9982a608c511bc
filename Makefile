# SPDX-License-Identifier: GPL-2.0
#
# fastballoon: build, install and register with DKMS.
#
# Kbuild files describe the module; this Makefile only drives kbuild and
# places the results.
#
#   make                      module for the running kernel (+ tools/ if present)
#   make KDIR=/usr/src/linux-headers-<release>     ... for another kernel
#   make KVER=<release>       ... same, headers found via /lib/modules/<release>/build
#   make W=1                  extra warnings (command-line variables reach kbuild)
#   make install [DESTDIR=] [PREFIX=/usr/local]    / make uninstall
#   make dkms-install [KVER=] / make dkms-uninstall
#   make check [KERNELS="6.1 6.12"]                 guest test suite under QEMU
#   make check-packaging      selftests/packaging (root; installs, then cleans up)

# The one place the version lives; dkms.conf's PACKAGE_VERSION must match
# (selftests/packaging checks it).
VERSION := 0.1.0

ifdef KVER
KDIR ?= /lib/modules/$(KVER)/build
else
KDIR ?= /lib/modules/$(shell uname -r)/build
# Take the release from utsrelease.h, not include/config/kernel.release:
# Debian's 6.1 headers put the upstream version ("6.1.192") in the latter,
# while the kernel (uname -r, /lib/modules/) calls itself "6.1.0-56-amd64".
KVER := $(or $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
		$(KDIR)/include/generated/utsrelease.h 2>/dev/null),$(shell uname -r))
endif

MODULE := driver/fastballoon.ko

# updates/ rather than extra/: depmod searches it first, so this copy wins
# over any module of the same name elsewhere in the tree. DKMS uses
# updates/dkms/; don't install both ways at once.
MODDIR := /lib/modules/$(KVER)/updates

# /etc/modprobe.d, not /usr/lib/modprobe.d: "make install" is the local
# administrator's act, and /etc is their directory, where they expect to find,
# edit and delete it. /usr/lib/modprobe.d (/lib/modprobe.d on Debian) belongs
# to distribution packages; a fastballoon .deb would put the file there, and a
# same-named file in /etc would override it.
MODPROBE_D := /etc/modprobe.d

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man

# user-space tool, built and installed only once tools/ exists
TOOLS := $(if $(wildcard tools/Makefile),tools)

# What DKMS needs to build the module, and nothing else.
DKMS_DIR := /usr/src/fastballoon-$(VERSION)
DKMS_FILES := Kbuild Makefile dkms.conf fastballoon.conf \
	$(wildcard driver/Kbuild driver/*.[ch]) \
	$(shell find include -type f 2>/dev/null)

# depmod on the live system only; a DESTDIR is a staging area for a package,
# whose installation runs depmod on the target.
DEPMOD = $(if $(DESTDIR),@echo "DESTDIR set: not running depmod",depmod -a $(KVER))

.PHONY: all modules tools clean install uninstall dkms-files dkms-install \
	dkms-uninstall check check-packaging

all: modules $(TOOLS)

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

tools:
	$(MAKE) -C tools

clean:
ifneq ($(wildcard $(KDIR)/Makefile),)
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
else
	rm -f Module.symvers modules.order
	find . -path ./.git -prune -o \( -name '*.o' -o -name '*.ko' \
		-o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
		-o -name 'modules.order' \) -type f -print | xargs rm -f
endif
ifneq ($(TOOLS),)
	$(MAKE) -C tools clean
endif

install: all
	install -D -m 0644 $(MODULE) $(DESTDIR)$(MODDIR)/fastballoon.ko
	install -D -m 0644 fastballoon.conf $(DESTDIR)$(MODPROBE_D)/fastballoon.conf
ifneq ($(TOOLS),)
	install -D -m 0755 tools/balloonctl $(DESTDIR)$(SBINDIR)/balloonctl
	install -D -m 0644 tools/balloonctl.8 $(DESTDIR)$(MANDIR)/man8/balloonctl.8
endif
	$(DEPMOD)

uninstall:
	rm -f $(DESTDIR)$(MODDIR)/fastballoon.ko
	rm -f $(DESTDIR)$(MODPROBE_D)/fastballoon.conf
	rm -f $(DESTDIR)$(SBINDIR)/balloonctl $(DESTDIR)$(MANDIR)/man8/balloonctl.8
	$(DEPMOD)

dkms-files:
	@echo $(DKMS_FILES)

# The modprobe file is system configuration, not part of a per-kernel build,
# so it is installed here once rather than from a DKMS per-kernel hook
# (POST_REMOVE would delete it while other kernels still have the module).
dkms-install:
	@if dkms status -m fastballoon -v $(VERSION) | grep -q .; then \
		dkms remove fastballoon/$(VERSION) --all; fi
	rm -rf $(DKMS_DIR)
	mkdir -p $(DKMS_DIR)
	cp --parents $(DKMS_FILES) $(DKMS_DIR)/
	dkms add -m fastballoon -v $(VERSION)
	dkms build -m fastballoon -v $(VERSION) -k $(KVER)
	dkms install -m fastballoon -v $(VERSION) -k $(KVER)
	install -D -m 0644 fastballoon.conf $(MODPROBE_D)/fastballoon.conf

dkms-uninstall:
	@if dkms status -m fastballoon -v $(VERSION) | grep -q .; then \
		dkms remove fastballoon/$(VERSION) --all; fi
	rm -rf $(DKMS_DIR)
	rm -f $(MODPROBE_D)/fastballoon.conf

check:
	python3 selftests/qemu/run_tests.py $(foreach k,$(KERNELS),--kernel $(k))

check-packaging:
	selftests/packaging/test-packaging.sh
