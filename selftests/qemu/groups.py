# SPDX-License-Identifier: GPL-2.0
"""The group table: which guests the runner boots and which tests run in
each.  Data only; run_tests.py reads it.

A group is one guest boot (booted again after a failed test) with one
device configuration; its tests run in the order listed.  Each entry:

    name         what -k and --debug-groups match
    device       virtio-balloon-pci properties ({"deflate-on-oom": "on"})
    cmdline      more guest kernel command line ("" for none)
    boot_driver  the driver /init loads (None: --driver's)
    hugetlb      guest RAM on host 2 MiB hugetlbfs pages (fbqemu.Guest)
    debug_s      what the group took on the debug kernel (boot, tests,
                 kmemleak scan; 2-core machine, TCG, idle), about 1.5
                 times over: under --budget it starts only if the time
                 left covers this
    tests        (name, function) pairs; names are unique across the table

Every t_* function of the test modules (TEST_MODULES) is in some group:
a test written but not registered fails the import.
"""

import t_books
import t_core
import t_faults
import t_knobs
import t_lifecycle
import t_pressure
import t_reporting
import t_reserve
import t_stress

TEST_MODULES = (t_core, t_lifecycle, t_knobs, t_pressure, t_reporting,
                t_books, t_faults, t_stress, t_reserve)

# The debug kernel's build (selftests/debug), about 1.5 times over what it
# took (measured: 707 s), and the figure for a group without debug_s.
DEBUG_BUILD_S = 1100
DEBUG_GROUP_DEFAULT_S = 600


def group(name, tests, device=None, cmdline="", boot_driver=None,
          hugetlb=False, debug_s=DEBUG_GROUP_DEFAULT_S):
    """One entry of GROUPS, with the defaults filled in."""
    return {"name": name, "device": device or {}, "cmdline": cmdline,
            "boot_driver": boot_driver, "hugetlb": hugetlb,
            "debug_s": debug_s, "tests": tests}


# Measured on the debug kernel: default 420, tuning 300, no-features 70,
# deflate-on-oom 88, reporting 142, hugetlb 94, heal 120, hinting 77,
# poison 99, coexist 144, faults 400, stress 321 s.
GROUPS = [
    group("default", debug_s=630, tests=[
        ("inflate_deflate", t_core.t_inflate_deflate),
        ("target_change", t_core.t_target_change),
        ("retarget_mid_pass", t_core.t_retarget_mid_pass),
        ("stats", t_core.t_stats),
        ("sysfs_abi", t_knobs.t_sysfs_abi),
        ("held_blocks", t_core.t_held_blocks),
        ("page_poison_off", t_core.t_page_poison_off),
        ("rmmod_full", t_lifecycle.t_rmmod_full),
        ("unbind_full", t_lifecycle.t_unbind_full),
        ("load_unload_cycle", t_lifecycle.t_load_unload_cycle),
        ("bind_unbind_cycle", t_lifecycle.t_bind_unbind_cycle),
        ("bind_log", t_lifecycle.t_bind_log),
    ]),
    group("tuning", debug_s=450, tests=[
        ("knobs", t_knobs.t_knobs),
        ("module_params", t_knobs.t_module_params),
        ("max_pages_cap", t_knobs.t_max_pages_cap),
        ("max_order_0", t_knobs.t_max_order_0),
        ("inflate_limit", t_knobs.t_inflate_limit),
        ("tracepoints", t_knobs.t_tracepoints),
        ("guest_target", t_knobs.t_guest_target),
        ("floor", t_pressure.t_floor),
    ]),
    group("no-features", debug_s=120,
          device={"page-poison": "off", "deflate-on-oom": "off",
                  "free-page-reporting": "off", "free-page-hint": "off"},
          tests=[("no_features", t_core.t_no_features)]),
    group("deflate-on-oom", debug_s=300, device={"deflate-on-oom": "on"},
          tests=[("deflate_on_oom", t_pressure.t_deflate_on_oom),
                 ("floor_deflate_on_oom", t_pressure.t_floor),
                 ("pressure_holds", t_pressure.t_pressure_holds)]),
    group("reporting", debug_s=220, device={"free-page-reporting": "on"},
          tests=[("free_page_reporting", t_reporting.t_free_page_reporting),
                 ("range_path", t_reporting.t_range_path),
                 ("crew", t_reporting.t_crew),
                 ("path_switch", t_reporting.t_path_switch),
                 ("run_rates", t_reporting.t_run_rates)]),
    group("hugetlb", debug_s=150, hugetlb=True,
          tests=[("hugetlb_blocks", t_reporting.t_hugetlb_blocks)]),
    group("heal", debug_s=180, tests=[("heal", t_reporting.t_heal)]),
    group("defrag", debug_s=300,
          tests=[("defrag_runs", t_reporting.t_defrag_runs)]),
    group("hinting", debug_s=120, device={"free-page-hint": "on"},
          tests=[("free_page_hint", t_reporting.t_free_page_hint)]),
    group("poison", debug_s=150, device={"page-poison": "on"},
          cmdline="page_poison=1",
          tests=[("page_poison_on", t_core.t_page_poison_on)]),
    group("coexist", debug_s=220, boot_driver="virtio_balloon", tests=[
        ("coexistence", t_lifecycle.t_coexistence),
        ("takeover_release", t_lifecycle.t_takeover_release),
    ]),
    group("reserve", debug_s=600, tests=[
        ("greedy_host", t_reserve.t_greedy_host),
        ("backoff_resume", t_reserve.t_backoff_resume),
    ]),
    # Its own boot: the guest it leaves may be dead.
    group("reserve-0", debug_s=300,
          tests=[("greedy_reserve0", t_reserve.t_greedy_reserve0)]),
    group("books", tests=[("balloon_books", t_books.t_balloon_books)]),
    group("books-doo", device={"deflate-on-oom": "on"},
          tests=[("balloon_books_doo", t_books.t_balloon_books)]),
    group("faults", debug_s=600, tests=[
        ("hot_unplug", t_faults.t_hot_unplug),
        ("rmmod_mid_inflate", t_faults.t_rmmod_mid_inflate),
        ("rmmod_mid_deflate", t_faults.t_rmmod_mid_deflate),
        ("deflate_latency", t_faults.t_deflate_latency),
        ("rmmod_mid_defrag", t_faults.t_rmmod_mid_defrag),
        ("unbind_bind_50", t_faults.t_unbind_bind_50),
        ("offline_block", t_faults.t_offline_block),
        ("host_silent", t_faults.t_host_silent),
        ("heal_untold", t_faults.t_heal_untold),
        ("suspend_resume", t_faults.t_suspend_resume),
        ("config_during_remove", t_faults.t_config_during_remove),
    ]),
    group("stress", debug_s=480, device={"deflate-on-oom": "on"}, tests=[
        ("stress_load", t_stress.t_stress_load),
        ("stress_flap", t_stress.t_stress_flap),
        ("stress_huge_target", t_stress.t_stress_huge_target),
        ("stress_sysfs_fuzz", t_stress.t_stress_sysfs_fuzz),
    ]),
]


def test_names(groups=GROUPS):
    """Every test's name, in run order."""
    return [t for g in groups for t, _ in g["tests"]]


def _check_table():
    """Names unique, every test module's t_* function in some group."""
    names = test_names()
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError("two tests share a name: %s" % ", ".join(dup))
    listed = {fn for g in GROUPS for _, fn in g["tests"]}
    missing = ["%s.%s" % (m.__name__, k) for m in TEST_MODULES
               for k, v in sorted(vars(m).items())
               if k.startswith("t_") and callable(v) and v not in listed]
    if missing:
        raise ValueError("tests in no group (groups.py): %s" %
                         ", ".join(missing))


_check_table()
