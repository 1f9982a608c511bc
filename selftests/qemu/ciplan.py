# SPDX-License-Identifier: GPL-2.0
"""What `make check` (CI, 90 minutes from an empty cache on 2 cores) runs
on which kernel, and what `make check-all` adds.

The whole suite runs on the oldest and the newest kernel, where the
driver's compat paths differ most (6.1: driver-side balloon books, modular
virtio; sid's 7.x: the core's books). The two 6.12 builds (bookworm's, gcc
12; trixie's, gcc 14) share one upstream kernel with 6.1's API where it
matters: they get the build and the core groups. The debug kernel then
runs the groups make check names, each only while the budget has room.
Everything left out is reported as skipped, with the reason, group by
group; `make check-all` runs it all (every kernel, whole suite, and the
whole suite on the debug kernel).

Each kernel's guests run on the QEMU of its own Debian release, as a host
of that release would run them: bookworm's kernels on this machine's QEMU
(7.2), trixie's on trixie's QEMU (10.0) and sid's on sid's (11.1), each
from its suite's chroot (qemus.py). So every QEMU a Debian release ships
runs at least the core groups, at no cost in time. The two newer
releases' libvirt (trixie 11.3, sid 12.8) drive their own kernel's guests
in the libvirt tests (t_libvirt.py); bookworm's libvirt is not tested.

After the kernels, the distribution guest (t_distro.py: trixie's disk
image with systemd and DKMS) runs the phases t_distro.PHASES marks for
CI: the package's path, one DKMS build in the guest; the new kernel and
the two make methods, each another DKMS or module build under TCG, are
left to make check-all (and reported as skipped, with the reason).
"""

# The groups the 6.12 builds run in CI: the basic life of a balloon, its
# books in the kernel's counters, the knobs, and the reserve (a greedy host
# must not kill the guest on any kernel).
CORE_GROUPS = ("default", "books", "books-doo", "tuning", "reserve")
# Bookworm's 6.12 is the same upstream kernel as trixie's, which runs the
# core groups and boots the distribution guest (t_distro.py): it leaves the
# reserve (3.5 min) to trixie's 6.12, 6.1 and sid, for the distribution
# guest's time.
BOOKWORM_612_GROUPS = tuple(g for g in CORE_GROUPS if g != "reserve")
# Trixie's 6.12 also runs the libvirt tests (t_libvirt.py: trixie's
# libvirtd and QEMU, both drivers side by side, about 2 min with the
# daemon's start).
TRIXIE_GROUPS = CORE_GROUPS + ("libvirt",)

# What the kernels that run the whole suite leave to the others, for CI's
# 90 minutes (a fresh-clone run here took 71 min with all of it, which the
# CI machine runs 1.15-1.25 times slower): sid leaves the reserve (3.5
# min) to 6.1 and trixie's 6.12, and the libvirt tests (2 min) to trixie's
# 6.12 with trixie's libvirt.
LEAVES = {"sid": {"reserve": "6.1 and trixie's 6.12",
                  "libvirt": "trixie's 6.12, with trixie's libvirt"}}

# Groups that show a documented risk rather than what the driver does on
# one kernel or another: CI runs them on one kernel only.
ONE_KERNEL = {"reserve-0": "6.1"}

# (series, groups, QEMU): groups None is the whole suite (but ONE_KERNEL's
# groups and what LEAVES says); the QEMU is a name of qemus.NAMES.
CI_PLAN = (
    ("6.1", None, "host"),
    ("sid", None, "sid"),
    ("6.12", BOOKWORM_612_GROUPS, "host"),
    ("trixie", TRIXIE_GROUPS, "trixie"),
)


def why_not(series, groups):
    """A gate for run_tests.run_kernel(): why CI leaves a group out."""
    def gate(group):
        only = ONE_KERNEL.get(group["name"])
        if only and only != series:
            return ("shows a documented risk, which CI shows on %s only; "
                    "make check-all runs it" % only)
        where = LEAVES.get(series, {}).get(group["name"])
        if where:
            return ("left out of CI on %s for time (CI runs it on %s); "
                    "make check-all runs it" % (series, where))
        if groups is None or group["name"] in groups:
            return None
        return ("left out of CI on %s, which runs the groups %s there; "
                "make check-all runs it" % (series, ", ".join(groups)))
    return gate


def run_ci(run_kernel, res, args, selected):
    """Each kernel of CI_PLAN with its groups (the build always)."""
    for series, groups, qemu in CI_PLAN:
        run_kernel(res, series, args, selected, why_not(series, groups),
                   qemu=qemu)
