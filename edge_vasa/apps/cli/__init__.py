"""The ``edge-vasa`` command line: one module per command group, each with its options beside its handler.

Every subcommand reports bad input as one ``error:`` line and exits 2, never with a traceback. The command
modules import only what the edge install has (no torch, Gradio or Ray); their handlers import those
optional parts when they run, so `live`, `generate --backend`, `doctor` and `verify` work without them.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable

from edge_vasa import __version__
from edge_vasa.apps.cli import batch, bench, data, evaluate, export, generate, live, train, ui, verify
from edge_vasa.apps.cli.common import Parser
from edge_vasa.core.errors import EdgeVasaError

Handler = Callable[[argparse.Namespace], "int | None"]
# name -> (parser builder, handler), in the order `edge-vasa --help` lists them
COMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], None], Handler]] = {
    "demo": (data.add_demo, data.cmd_demo),
    "prep": (data.add_prep, data.cmd_prep),
    "corpus": (data.add_corpus, data.cmd_corpus),
    "features": (data.add_features, data.cmd_features),
    "generate": (generate.add_generate, generate.cmd_generate),
    "train": (train.add_train, train.cmd_train),
    "distill": (train.add_distill, train.cmd_distill),
    "export": (export.add_export, export.cmd_export),
    "eval": (evaluate.add_eval, evaluate.cmd_eval),
    "doctor": (export.add_doctor, export.cmd_doctor),
    "live": (live.add_live, live.cmd_live),
    "verify": (verify.add_verify, verify.cmd_verify),
    "soak": (live.add_soak, live.cmd_soak),
    "ui": (ui.add_ui, ui.cmd_ui),
    "batch": (batch.add_batch, batch.cmd_batch),
    "bench": (bench.add_bench, bench.cmd_bench),
    "languages": (data.add_languages, data.cmd_languages),
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command's options, for parsing and --help."""
    parser = Parser(
        prog="edge-vasa",
        description="One photo + speech -> a talking-face video, on an ordinary CPU (VASA-1 style).",
    )
    parser.add_argument("--version", action="version", version=f"edge-vasa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add, _ in COMMANDS.values():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (2 for bad input, reported as one line)."""
    args = build_parser().parse_args(argv)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return COMMANDS[args.command][1](args) or 0
    except EdgeVasaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`edge-vasa verify x.mp4 | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
