#!/usr/bin/env python3
"""Turns the benchmark plugin's markdown report into a CSV and a one-line-per-benchmark table.

    summarize.py REPORT.md CSV_OUT  ->  writes CSV_OUT, prints the summary table (markdown)

The plugin prints one table per benchmark (### name) under one heading per target (## target),
rows `| Metric (unit) * | p0 | p25 | p50 | p75 | p90 | p99 | p100 | Samples |`. Figures are per
operation already (the plugin divides scaled benchmarks back), in plain units: nanoseconds,
operations per second, mallocs, bytes (bench/micro's configuration asks for those).
"""
import csv
import re
import sys

PERCENTILES = ["p0", "p25", "p50", "p75", "p90", "p99", "p100"]
METRIC = re.compile(r"^(?P<name>.*?)(?: \((?P<unit>ns|# / s|#)\))?(?: \((?P<scale>#|K|M|G)\))?$")
SCALE = {None: 1, "#": 1, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


def parse(lines):
    target = benchmark = None
    for line in lines:
        if line.startswith("## ") and not line.startswith("## Baseline"):
            target = line[3:].strip()
        elif line.startswith("### "):
            benchmark = line[4:].strip()
        elif line.startswith("|") and benchmark and not line.startswith(("| Metric", "|:")):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            match = METRIC.match(cells[0].removesuffix(" *").strip())
            name, unit = match["name"], match["unit"] or "#"
            factor = SCALE[match["scale"]]
            values = [round(float(cell) * factor) for cell in cells[1:8]]  # big ones come as 1.14e+07
            yield {"target": target, "benchmark": benchmark, "metric": name, "unit": unit,
                   **dict(zip(PERCENTILES, values)), "samples": int(cells[8])}


def main(report, csv_path):
    with open(report, encoding="utf-8") as handle:
        rows = list(parse(handle))
    if not rows:
        sys.exit(f"no benchmark tables in {report}")
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["target", "benchmark", "metric", "unit", *PERCENTILES, "samples"])
        writer.writeheader()
        writer.writerows(rows)

    # One line per benchmark: medians, plus the fastest sample (p0), the least disturbed on a
    # shared machine. Malloc figures are exact and the same at every percentile, give or take
    # the odd sample that grows a buffer.
    by_benchmark = {}
    for row in rows:
        by_benchmark.setdefault((row["target"], row["benchmark"]), {})[row["metric"]] = row
    has_instructions = any("Instructions" in metrics for metrics in by_benchmark.values())
    header = ["benchmark", "time p50 (ns)", "time p0 (ns)", "ops/s p50", "mallocs", "malloc bytes"]
    if has_instructions:
        header.append("instructions p50")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
    for (target, benchmark), metrics in by_benchmark.items():
        def cell(metric, percentile="p50"):
            return f"{metrics[metric][percentile]:,}" if metric in metrics else "–"
        line = [f"{target}: {benchmark}", cell("Time (wall clock)"), cell("Time (wall clock)", "p0"),
                cell("Throughput"), cell("Malloc (total)"), cell("Malloc (bytes total)")]
        if has_instructions:
            line.append(cell("Instructions"))
        print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
