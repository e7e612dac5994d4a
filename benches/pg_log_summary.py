#!/usr/bin/env python3
"""Sums up the statements PostgreSQL logged (log_min_duration_statement = 0) in a time span.

Used with `fleet_proof --log-statements`, which turns statement logging on for the worker
sessions only and prints the span:

    python3 benches/pg_log_summary.py /var/log/postgresql/postgresql-15-main.log \
        07:31:02.120 07:31:40.500 [messages]

Prints, for each statement (parameters stripped, whitespace folded), how many times it ran
and its total and mean server time, round trips first. With the number of messages sent,
also per message. sqlx sends Parse/Bind/Execute of one query together, so one `execute` or
one simple `statement` is one round trip; `parse` (once per connection and statement) and
`bind` lines are counted apart.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d (\d\d:\d\d:\d\d\.\d{3}) \w+ \[\d+\] (?:\S*@\S* )?LOG:  duration: ([\d.]+) ms  "
    r"(statement|execute [^:]*|parse [^:]*|bind [^:]*): (.*)$"
)


def main() -> None:
    path, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
    messages = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    stats = defaultdict(lambda: [0, 0.0])
    current = None
    with open(path, encoding="utf-8", errors="replace") as log:
        for raw in log:
            if raw.startswith("\t") and current is not None:
                # A statement continued on the next line.
                current[1] += " " + raw.strip()
                continue
            if current is not None:
                kind, text, ms = current
                stats[(kind, " ".join(text.split())[:150])][0] += 1
                stats[(kind, " ".join(text.split())[:150])][1] += ms
                current = None
            m = LINE.match(raw.rstrip("\n"))
            if not m or not (start <= m.group(1) <= end):
                continue
            kind = m.group(3).split(" ")[0]
            current = [kind, m.group(4), float(m.group(2))]
    if current is not None:
        kind, text, ms = current
        stats[(kind, " ".join(text.split())[:150])][0] += 1
        stats[(kind, " ".join(text.split())[:150])][1] += ms

    trips = sum(n for (kind, _), (n, _) in stats.items() if kind in ("execute", "statement"))
    server_ms = sum(t for (kind, _), (_, t) in stats.items() if kind in ("execute", "statement"))
    print(f"round trips (execute + simple statements): {trips}, server time {server_ms:.0f} ms")
    if messages:
        print(f"per message: {trips / messages:.2f} round trips, {server_ms / messages:.3f} ms")
    print()
    print("| runs | per message | total ms | mean ms | kind | statement |")
    print("|---:|---:|---:|---:|---|---|")
    for (kind, text), (n, total) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
        per = f"{n / messages:.2f}" if messages else ""
        print(f"| {n} | {per} | {total:.0f} | {total / n:.3f} | {kind} | `{text}` |")


if __name__ == "__main__":
    main()
