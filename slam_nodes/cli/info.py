"""`slam-nodes info BAG`: topics, types, counts, time span and rates of a bag (+ event stats)."""

from __future__ import annotations

import argparse

HELP = "show what a bag holds: topics, types, counts, span, rates, event-camera statistics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder, .mcap, .db3 or ROS 1 .bag file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="read only the bag's index (no scan: no per-topic spans or event "
                        "statistics; rates use the whole bag's span)")
    parser.add_argument("--no-events", action="store_true",
                        help="do not decode event-camera topics")


def run(args: argparse.Namespace) -> int:
    """Print the summary; a bag found damaged during the scan is summarised up to the damage,
    then `error: ...` goes to stderr and the exit code is 2 (as for every other bad input)."""
    import json
    import sys

    from tqdm import tqdm

    from slam_nodes.io.bag_summary import summarize_bag

    with tqdm(desc="scanning", unit="msg", disable=None, leave=False) as bar:
        summary = summarize_bag(args.bag, scan=not args.quick, event_stats=not args.no_events,
                                progress=bar.update)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
    else:
        _print_table(summary)
    if summary.error:
        print(f"error: {summary.error}", file=sys.stderr)
        return 2
    return 0


def _fmt_ns(ns: int | None) -> str:
    return "-" if ns is None else f"{ns / 1e9:.6f}"


def _rel(ns: int | None, start_ns: int) -> str:
    """Seconds after the bag's start."""
    return "-" if ns is None else f"{(ns - start_ns) / 1e9:.3f}"


def _print_table(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if Console().is_terminal else Console(width=200)
    ros = f"ROS {summary.ros_version}"
    console.print(f"[bold]{summary.path}[/bold]  ({summary.format}, {ros})")
    console.print(f"messages {summary.message_count}   span {_fmt_ns(summary.start_ns)} .. "
                  f"{_fmt_ns(summary.end_ns)} s   duration {summary.duration_s:.3f} s")
    table = Table(show_lines=False)
    for col in ("topic", "type", "count", "rate Hz", "first +s", "last +s", "skipped"):
        table.add_column(col, justify="right" if col in ("count", "rate Hz", "skipped") else "left")
    for t in summary.topics:
        rate = "-" if t.rate_hz is None else f"{t.rate_hz:.2f}"
        table.add_row(t.name, t.typename, str(t.count), rate, _rel(t.first_ns, summary.start_ns),
                      _rel(t.last_ns, summary.start_ns), str(t.skipped))
    console.print(table)
    event_topics = [t for t in summary.topics if t.events is not None]
    if event_topics:
        ev = Table(title="event topics (times on the decoder's clock)")
        for col in ("topic", "encoding", "size", "events", "ON", "OFF", "triggers",
                    "first event s", "last event s", "bad packets"):
            ev.add_column(col)
        for t in event_topics:
            e = t.events
            ev.add_row(t.name, ",".join(e.encodings) or "-", f"{e.width}x{e.height}",
                       str(e.events), str(e.on), str(e.off), str(e.triggers),
                       _fmt_ns(e.first_event_ns), _fmt_ns(e.last_event_ns),
                       str(e.skipped_packets))
        console.print(ev)
    if summary.partial:
        console.print("[yellow]PARTIAL: the bag is damaged; only its intact part was read:[/]")
        for note in summary.damage:
            console.print(f"  {note}")
