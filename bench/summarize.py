#!/usr/bin/python3
"""summarize.py — medians, ratios and targets of a bench/run results file.

usage: summarize.py results.csv [--json results.json] [--markdown summary.md]

results.csv has one measurement per line: scenario,server,repetition,metric,value. For each
scenario and metric this prints the median of each server (with the range of the repetitions),
Tern's ratio to Postfix and to smtp-sink (Tern as configured by default; "tern-file" is Tern with
[storage] sync = "file"), and the issue's target with whether the run met it.
"""
import argparse
import csv
import json
import statistics
import sys

# "tern" runs with the default [storage] sync = "filesystem"; "tern-file" with sync = "file".
SERVERS = ("tern", "tern-file", "tern-dkim", "postfix", "sink", "disk")

# (scenario, metric) -> (description, check on the medians). The targets of issue 6.
TARGETS = {
    ("inbound 10KB, 20 sessions", "msgs_per_s"):
        ("≥ 3× Postfix, ≥ 0.7× smtp-sink", lambda m: ratio(m, "postfix") >= 3 and ratio(m, "sink") >= 0.7),
    ("inbound 10KB, 1 session", "msgs_per_s"): ("≥ 2× Postfix", lambda m: ratio(m, "postfix") >= 2),
    ("inbound 10KB, 20 sessions, reused", "msgs_per_s"): ("≥ 3× Postfix", lambda m: ratio(m, "postfix") >= 3),
    ("end to end 10KB into Maildir", "msgs_per_s"): ("≥ 3× Postfix", lambda m: ratio(m, "postfix") >= 3),
    ("outbound relay 10KB, 100 domains", "msgs_per_s"): ("≥ 3× Postfix", lambda m: ratio(m, "postfix") >= 3),
    # Issue 18: signing what it relays costs Tern at most 10 % of its rate.
    ("outbound relay 10KB, 100 domains, DKIM: accepting", "msgs_per_s"):
        ("signing ≥ 0.9× unsigned", lambda m: m["tern-dkim"] / m["tern"] >= 0.9),
    ("outbound relay 10KB, 100 domains, DKIM: delivering", "msgs_per_s"):
        ("signing ≥ 0.9× unsigned", lambda m: m["tern-dkim"] / m["tern"] >= 0.9),
    ("latency 10KB, 20 sessions", "p99_ms"): ("Tern ≤ 50 ms", lambda m: m["tern"] <= 50),
    ("idle connections", "greeted"): ("10,000 held", lambda m: m["tern"] >= 10000),
    ("idle connections", "alive"): ("10,000 still served", lambda m: m["tern"] >= 10000),
    ("idle connections", "kb_per_conn"): ("≤ 64 KB each", lambda m: m["tern"] <= 64),
    ("idle connections", "probe_max_ms"): ("newcomers greeted < 1 s", lambda m: m["tern"] < 1000),
}


def ratio(medians, peer):
    if medians.get("tern") is None or not medians.get(peer):
        return float("nan")
    return medians["tern"] / medians[peer]


def number(value):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return "%.0f" % value
    return ("%.2f" % value).rstrip("0").rstrip(".")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()

    values, order = {}, []
    with open(args.results) as f:
        for row in csv.DictReader(f):
            key = (row["scenario"], row["metric"])
            if key not in values:
                values[key] = {}
                order.append(key)
            try:
                values[key].setdefault(row["server"], []).append(float(row["value"]))
            except ValueError:
                print("not a number: %r" % (row,), file=sys.stderr)

    lines = [
        "| scenario | metric | Tern | Tern, sync=file | Tern, DKIM signing | Postfix | smtp-sink | disk | Tern/Postfix | Tern/smtp-sink | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    summary = []
    for scenario, metric in order:
        runs = values[(scenario, metric)]
        medians = {s: statistics.median(runs[s]) for s in SERVERS if runs.get(s)}
        cells = []
        for server in SERVERS:
            if server in medians:
                spread = runs[server]
                cell = number(medians[server])
                if len(spread) > 1:
                    cell += " (%s–%s)" % (number(min(spread)), number(max(spread)))
                cells.append(cell)
            else:
                cells.append("-")
        to_postfix = ratio(medians, "postfix")
        to_sink = ratio(medians, "sink")
        target, check = TARGETS.get((scenario, metric), ("", None))
        met = ""
        if check:
            try:
                met = "yes" if check(medians) else "no"
            except (KeyError, TypeError):
                met = "?"
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            scenario, metric, *cells,
            "-" if to_postfix != to_postfix else "%.2f" % to_postfix,
            "-" if to_sink != to_sink else "%.2f" % to_sink,
            target, met))
        summary.append({
            "scenario": scenario, "metric": metric, "runs": runs, "medians": medians,
            "tern_to_postfix": None if to_postfix != to_postfix else to_postfix,
            "tern_to_sink": None if to_sink != to_sink else to_sink,
            "target": target or None, "met": met or None,
        })
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# bench/run results\n\nMedians of the repetitions (range in brackets); "
                    "msgs_per_s higher is better, *_ms lower is better.\n\n" + table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
