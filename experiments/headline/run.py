#!/usr/bin/python3
"""Runner of the headline table: sweeps sweep.json (x86 and arm, 1/8/32 threads per core) and writes OUT/headline_data.csv."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

from fastwake import experiments  # noqa: E402


def run(ctx: experiments.Context) -> None:
    df = ctx.sweep(HERE / "sweep.json", desc="headline")
    ctx.write_csv(df, "headline_data.csv")


if __name__ == "__main__":
    experiments.script_run(run, __doc__)
