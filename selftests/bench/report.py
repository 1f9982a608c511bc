# SPDX-License-Identifier: GPL-2.0
"""report: medians, ratios and the side-by-side table.

A ratio is always "fastballoon vs in-tree" stated so that >1 means
fastballoon is better: in-tree/fastballoon for figures where lower is
better (times, CPU), fastballoon/in-tree where higher is better (memory
returned, blocks kept).  Targets are printed beside the figures for
comparison; they decide nothing.
"""

import math

from rig import IN_TREE, FAST, median

DRIVERS = (IN_TREE, FAST)
LABEL_W = 38
COL_W = 11


def medians(runs, figures):
    """{key: median over the good reps} for one driver's runs."""
    good = [r["figures"] for r in runs["reps"] if not r.get("broken")]
    return {f.key: median([g.get(f.key) for g in good]) for f in figures}


def ratio(fig, intree, fast):
    """(ratio, bound): fastballoon vs in-tree, >1 = fastballoon better.

    ratio is None where it would mean nothing.  A value that prints as
    zero, or is below the figure's noise floor, counts as zero, so that
    noise around zero (an RSS "drop" of -0.3 MiB, or 1 MiB against 6 MiB)
    makes no ratio.  Where lower is better and fastballoon's figure is
    below the measurement's resolution (@fig.floor), the ratio is taken
    against the floor and bound is True: fastballoon is at least that much
    better.  Where higher is better and the in-tree driver got nothing (or
    less) while fastballoon got something, the ratio is inf.
    """
    if fig.better is None or intree is None or fast is None:
        return None, False
    a, b = _zeroed(fig, intree), _zeroed(fig, fast)
    if fig.better == "lower":
        if a <= 0 or b < 0:
            return None, False
        if b == 0:
            return (a / fig.floor, True) if fig.floor else (math.inf, False)
        return a / b, False
    if a <= 0:
        return (math.inf if b > 0 else None), False
    return max(b, 0) / a, False


def _zeroed(fig, v):
    if abs(v) < getattr(fig, "floor", 0):
        return 0.0
    try:
        return 0.0 if float(fig.fmt % v) == 0 else float(v)
    except (TypeError, ValueError):
        return float(v)


def verdict(fig, intree, fast, r):
    """"met", "missed" or "?" for @fig's target (informative only)."""
    if not fig.target:
        return ""
    kind, value, _ = fig.target
    got = r if kind == "ratio" else fast
    if got is None:
        return "?"
    if kind == "fast_max":
        return "met" if got <= value else "missed"
    return "met" if got >= value else "missed"


def fmt_val(fig, v):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    try:
        s = fig.fmt % v
    except TypeError:
        return str(v)
    # -0.3 MiB is "0", not "-0".
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def fmt_ratio(r, bound=False):
    if r is None:
        return "-"
    if math.isinf(r):
        return "inf"
    return "%s%.2fx" % (">" if bound else "", r)


def summarise(scen, by_driver):
    """Medians, ratios and verdicts for one scenario on one kernel."""
    med = {d: medians(by_driver[d], scen.figures) if d in by_driver else {}
           for d in DRIVERS}
    rows = []
    for f in scen.figures:
        a = med[IN_TREE].get(f.key)
        b = med[FAST].get(f.key)
        r, bound = ratio(f, a, b)
        rows.append({"key": f.key, "label": f.label.strip(), IN_TREE: a,
                     FAST: b, "ratio": r, "ratio_is_lower_bound": bound,
                     "better": f.better,
                     "target": f.target[2] if f.target else None,
                     "target_verdict": verdict(f, a, b, r) or None})
    return rows


def thp_drift(runs):
    """A note when host THP before inflating fell from rep to rep.

    QEMU discards inflated memory one 4 KiB page at a time; the host then
    keeps a page table where a huge page was, and the memory, once the
    guest uses it again, comes back as 4 KiB pages.  Later repetitions in
    the same guest then start from fewer host huge pages than the first.
    """
    vals = [r["figures"].get("thp_before_mib") for r in runs.get("reps", [])
            if not r.get("broken")]
    vals = [v for v in vals if v is not None]
    if len(vals) < 2 or vals[0] <= 0 or min(vals[1:]) > 0.8 * vals[0]:
        return None
    return ("host THP before inflate fell over the reps: %s MiB (what earlier "
            "reps left behind; see --boot-per-rep)" %
            " -> ".join("%.0f" % v for v in vals))


def _count(runs):
    reps = runs.get("reps", [])
    return sum(1 for r in reps if not r.get("broken")), len(reps)


def table(kres, scens, reps):
    """The printed table for one kernel, as a list of lines."""
    out = []
    hdr = "%-*s %*s %*s %8s  %s" % (LABEL_W, "figure (median of %d)" % reps,
                                     COL_W, "in-tree", COL_W, "fastballoon",
                                     "ratio", "target (fastballoon)")
    out.append(hdr)
    out.append("-" * len(hdr) + "-" * 12)
    broken = []
    for scen in scens:
        by = kres["scenarios"].get(scen.name)
        if not by:
            continue
        counts = []
        for d in DRIVERS:
            runs = by.get(d, {})
            ok, n = _count(runs)
            if runs.get("skipped"):
                counts.append("%s skipped: %s" % (d, runs["skipped"]))
            elif ok < n or n == 0:
                counts.append("%s %d/%d runs ok" % (d, ok, n))
            for i, r in enumerate(runs.get("reps", [])):
                if r.get("broken"):
                    broken.append("%s/%s rep %d: %s" % (scen.name, d, i + 1,
                                                        r["broken"]))
        out.append("[%s] %s%s" % (scen.name, scen.title,
                                  ("  (" + "; ".join(counts) + ")")
                                  if counts else ""))
        for row, f in zip(by["summary"], scen.figures):
            a, b = row[IN_TREE], row[FAST]
            if a is None and b is None:
                continue
            tgt = ""
            if f.target:
                tgt = "%s: %s" % (f.target[2], row["target_verdict"])
            out.append("  %-*s %*s %*s %8s  %s" % (
                LABEL_W - 2, f.label,
                COL_W, "n/a" if f.fast_only else fmt_val(f, a),
                COL_W, fmt_val(f, b), fmt_ratio(row["ratio"],
                                               row.get("ratio_is_lower_bound")),
                tgt))
        for d in DRIVERS:
            notes = sorted({n for r in by.get(d, {}).get("reps", [])
                            for n in r.get("notes", [])})
            drift = thp_drift(by.get(d, {}))
            if drift:
                notes.append(drift)
            for n in notes[:6]:
                out.append("  note (%s): %s" % (d, n))
    if broken:
        out.append("broken runs (left out of the medians):")
        out += ["  " + b for b in broken]
    return out
