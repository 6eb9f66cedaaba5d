"""`slam-nodes` command line: one sub-command per module in this package.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`,
and imports its heavy dependencies inside `run`. This is the only place where exceptions
become exit codes: slam_nodes errors print one line `error: ...` and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from slam_nodes import __version__
from slam_nodes.errors import SlamNodesError

# command name -> module under slam_nodes.cli
COMMANDS: dict[str, str] = {
    "eval": "eval_cmd",
    "baseline": "baseline",
    "info": "info",
    "replay": "replay",
    "run": "run",
    "demo": "demo",
    "import": "import_cmd",
    "synth": "synth",
    "assets": "assets",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slam-nodes",
        description="EN-SLAM ROS 2 nodes: replay and score bags, synthesise data, complete assets.",
    )
    parser.add_argument("--version", action="version", version=f"slam-nodes {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"slam_nodes.cli.{module_name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except SlamNodesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
