"""``fuzz report``: a Markdown report and PNG heat map of a campaign."""
from __future__ import annotations

from pathlib import Path

from fuzz.errors import UsageError

NAME = "report"
HELP = "write report.md and coverage.png for a campaign directory"


def add_arguments(p) -> None:
    p.add_argument("campaign", nargs="?", default="campaigns/default",
                   help="campaign directory holding campaign.json (default campaigns/default)")


def main(args) -> int:
    from fuzz.campaign.report import write_report

    if not (Path(args.campaign) / "campaign.json").is_file():
        raise UsageError(f"{args.campaign}: no campaign.json here; run 'python -m fuzz run --out {args.campaign}' first")
    print(write_report(args.campaign))
    return 0
