"""Benchmark support: print same-run speed ratios between jwstio and the reference libraries.

Every benchmark group holds one jwstio case (name contains "jwstio") and one or more reference
cases; at the end of the run each reference's mean is divided by jwstio's.
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
    tr.section("jwstio speed ratios (same run, mean times)")
    for group, benches in sorted(groups.items()):
        ours = [b for b in benches if "jwstio" in b.name]
        if not ours:
            continue
        j = ours[0]
        jm = j.stats.mean
        tr.write_line(f"{group}: jwstio {jm * 1e3:.3f} ms")
        for b in benches:
            if b is j:
                continue
            tr.write_line(f"    {b.name}: {b.stats.mean * 1e3:.3f} ms  -> jwstio is {b.stats.mean / jm:.2f}x")
