"""Rewrite README's performance block from the committed benchmark report.

    edge-vasa bench --out benchmarks/baseline     # refresh the baseline (about 14 minutes on 2 cores)
    python scripts/readme_figures.py              # README's table, targets and ratios from that report

tests/bench/test_readme.py fails while README and the committed report disagree.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_vasa.bench.report import load_report, readme_block, replace_readme_block
from edge_vasa.core.files import atomic_output

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", default="benchmarks/baseline/report.json", help="relative to the repository")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    args = ap.parse_args()
    block = readme_block(load_report(ROOT / args.report), args.report)
    readme = Path(args.readme)
    text = replace_readme_block(readme.read_text(), block)
    with atomic_output(readme) as tmp:
        Path(tmp).write_text(text)
    print(f"{readme}: baseline block rewritten from {args.report}")


if __name__ == "__main__":
    main()
