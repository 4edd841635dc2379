"""`edge-vasa verify`: is this video made by edge-vasa? (watermark, provenance tags, C2PA manifest)"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from edge_vasa.core.errors import EdgeVasaError
from edge_vasa.core.files import write_json
from edge_vasa.provenance.record import Verdict, verify


def add_verify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="is this video made by edge-vasa? watermark, provenance tags and C2PA manifest",
        description="Looks for the invisible watermark every generate/live frame carries (it survives "
        "re-encoding, resizing, cropping and brightness/contrast changes), decodes its payload (version and "
        "render id), and reads the MP4 provenance tags and the C2PA manifest when they are still there. "
        "Exit status: 0 when every file is synthetic (made by edge-vasa), 1 when one is not.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="video files (MP4/MOV/MKV/WebM/AVI)")
    p.add_argument("--json", help="also write the findings to this JSON file")
    p.add_argument(
        "--frames",
        type=int,
        default=250,
        help="read at most this many frames per file (default: %(default)s)",
    )


def cmd_verify(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise EdgeVasaError("--frames must be at least 1")
    verdicts = []
    for path in args.files:
        v = verify(path, args.frames)
        verdicts.append(v)
        _print_verdict(v)
    if args.json:
        write_json(args.json, [asdict(v) for v in verdicts])
    return 0 if all(v.synthetic for v in verdicts) else 1


def _print_verdict(v: Verdict) -> None:
    print(v.summary())
    mark = v.watermark
    payload = mark["payload"]
    said = f"version {payload['version']}, render {payload['render_id']}" if payload else "payload unreadable"
    print(
        f"  watermark: {'found' if mark['found'] else 'not found'} "
        f"(z {mark['z']}, scale {mark['scale']}, "
        f"{mark['frames']} frames{'; ' + said if mark['found'] else ''})"
    )
    print(f"  tags: {json.dumps(v.tags) if v.tags else 'none'}")
    if v.c2pa is None:
        print("  C2PA: none")
    else:
        c = v.c2pa
        print(
            f"  C2PA: {c['state']}{' (TAMPERED)' if c.get('tampered') else ''}, "
            f"AI-generated: {c.get('ai_generated')}, by {', '.join(c.get('generator') or ['?'])}, "
            f"signer {c.get('signer')}; {', '.join(c.get('failures') or []) or 'no failures'}"
        )
