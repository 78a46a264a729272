"""Benchmark support: print same-run speed ratios between jwstio and the reference libraries.

Every benchmark group holds one jwstio case (name contains "jwstio") and one or more reference
cases; at the end of the run each reference's median and mean are divided by jwstio's (the median
is robust to the occasional garbage-collection pause or neighbour process on a shared machine).
"""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, list] = {}
    for b in session.benchmarks:
        if b.stats is None:
            continue
        groups.setdefault(b.group or b.name, []).append(b)
    tr = terminalreporter
    tr.section("jwstio speed ratios (same run; median, and mean in brackets)")
    for group, benches in sorted(groups.items()):
        ours = [b for b in benches if "jwstio" in b.name]
        if not ours:
            continue
        j = ours[0]
        jmed, jm = j.stats.median, j.stats.mean
        tr.write_line(f"{group}: jwstio {jmed * 1e3:.3f} ms ({jm * 1e3:.3f} ms)")
        for b in benches:
            if b is j:
                continue
            tr.write_line(
                f"    {b.name}: {b.stats.median * 1e3:.3f} ms ({b.stats.mean * 1e3:.3f} ms)"
                f"  -> jwstio is {b.stats.median / jmed:.2f}x ({b.stats.mean / jm:.2f}x)"
            )
        for b in benches:  # e.g. requests per file, counted by bench_store's proxy
            if b.extra_info.get("requests"):
                tr.write_line(f"    [{b.extra_info['requests']}]")
