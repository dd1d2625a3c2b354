"""`fastwake paper`: runs every paper experiment of experiments/ ("paper": true in its experiment.json), draws its figure or table, writes a manifest, reports the wall time."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import _fastwake
from .experiments import DEFAULT_OUT, Context, dask_scope, discover, paper_experiments
from .headline import format_table
from .meta import result_meta
from .results import write_text_atomic


def paper(out: str | Path = DEFAULT_OUT, *, quick: bool = False, executor: str = "local",
          jobs: int | None = None, scheduler: Any = None, cache: Any = True,
          progress: bool | None = None, only: list[str] | None = None,
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr), t0: float | None = None) -> dict:
    """Reproduces the paper-style figures and the headline table into `out`.
    Returns the manifest (also written to OUT/manifest.json): files,
    experiments, sweep point counts, model version and wall time (since
    `t0`, a time.perf_counter() value; default: now)."""
    t0 = time.perf_counter() if t0 is None else t0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exps = paper_experiments()
    if only:
        names = {e.name for e in exps}
        unknown = [n for n in only if n not in names]
        if unknown:
            others = {e.name for e in discover()} - names
            hint = "".join(f"; {n} is not a paper experiment: run it with `fastwake experiment {n}`"
                           for n in unknown if n in others)
            raise _fastwake.ConfigError(f"unknown experiment(s) {', '.join(unknown)} "
                                        f"(known: {', '.join(sorted(names))}){hint}")
        exps = [e for e in exps if e.name in only]

    timings: dict[str, dict[str, float]] = {}
    files: list[str] = []
    # One LocalCluster for every experiment (executor "dask" without a scheduler), not one per sweep.
    with dask_scope(executor, scheduler, jobs) as sched:
        ctx = Context(out=out, quick=quick, executor=executor, jobs=jobs, scheduler=sched, cache=cache,
                      progress=progress, log=log)
        for e in exps:
            t = time.perf_counter()
            e.run(ctx)
            timings[e.name] = {"run_s": round(time.perf_counter() - t, 3)}
    for e in exps:
        t = time.perf_counter()
        written = e.draw(out)
        timings[e.name]["plot_s"] = round(time.perf_counter() - t, 3)
        files += [str(p) for p in written]
        log(f"  {e.name}: {', '.join(Path(p).name for p in written)}")
    wall = time.perf_counter() - t0
    manifest = {
        "command": "fastwake paper" + (" --quick" if quick else ""),
        "meta": result_meta("fastwake paper"),
        "model_version": _fastwake.MODEL_VERSION,
        "quick": quick,
        "executor": executor,
        "experiments": timings,
        "sweep_points": ctx.stats,
        "cache": str(ctx.cache.directory) if ctx.cache.directory else None,
        "files": sorted({Path(f).name for f in [*ctx.written, *files]}),
        "wall_s": round(wall, 2),
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    captions = {}
    for e in exps:
        try:
            captions[e.name] = e.description
        except _fastwake.ConfigError:
            captions[e.name] = ""
    write_index(out, manifest, captions)
    return manifest


_PAGE_SCRIPT = """
// Sets data-images on <body> once every figure has loaded or failed: "ok" when each one decoded
// (complete, with a width), else "broken: NAME ..." (what the headless-browser test reads).
function fwCheck() {
  const imgs = Array.from(document.images);
  if (!imgs.every(i => i.complete)) { setTimeout(fwCheck, 50); return; }
  const bad = imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.getAttribute("src"));
  document.body.dataset.images = bad.length ? "broken: " + bad.join(" ") : "ok";
  document.body.dataset.imageCount = String(imgs.length);
}
window.addEventListener("load", fwCheck);
"""


def write_index(out: str | Path, manifest: dict, captions: dict[str, str] | None = None) -> Path:
    """OUT/index.html: one page with every figure of OUT (PNG, linking its PDF), the headline table
    and the manifest, all by relative links (the folder can be moved or served as is)."""
    import html

    out = Path(out)
    captions = captions or {}
    figures = sorted(f for f in manifest["files"] if f.endswith(".png") and (out / f).exists())
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>FastWake paper figures</title>"
             "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
             "figure{margin:2em 0;border-top:1px solid #ddd;padding-top:1em}"
             "figure img{max-width:100%;height:auto;display:block}figcaption{font-size:0.9em;color:#444;"
             "max-width:70em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:0.8em}"
             "nav a{margin-right:1em}</style></head><body>",
             "<h1>FastWake: paper figures and headline table</h1>",
             f"<p>{html.escape(manifest.get('command', 'fastwake paper'))}; model version "
             f"{html.escape(str(manifest.get('model_version', '?')))}; wall time {manifest.get('wall_s', 0):.1f} s. "
             "Simulated; every power figure is a model estimate. Sign convention: a change is "
             "(x − baseline) / baseline, negative = lower (faster, less power).</p>",
             "<nav>" + "".join(f"<a href=\"#{html.escape(Path(f).stem)}\">{html.escape(Path(f).stem)}</a>"
                               for f in figures) + "<a href=\"#headline\">headline</a><a href=\"#manifest\">manifest</a></nav>"]
    for f in figures:
        stem = Path(f).stem
        pdf = f" (<a href=\"{html.escape(stem)}.pdf\">PDF</a>)" if (out / f"{stem}.pdf").exists() else ""
        cap = html.escape(captions.get(stem, ""))
        parts.append(f"<figure id=\"{html.escape(stem)}\"><h2>{html.escape(stem)}</h2>"
                     f"<img src=\"{html.escape(f)}\" alt=\"{html.escape(stem)}\">"
                     f"<figcaption>{cap}{pdf}</figcaption></figure>")
    head = out / "headline.txt"
    if head.exists():
        links = " ".join(f"<a href=\"headline.{x}\">{x}</a>" for x in ("csv", "json", "txt") if (out / f"headline.{x}").exists())
        parts.append(f"<section id=\"headline\"><h2>Headline table</h2><p>{links}</p>"
                     f"<pre>{html.escape(head.read_text())}</pre></section>")
    parts.append(f"<section id=\"manifest\"><h2>Manifest</h2><p><a href=\"manifest.json\">manifest.json</a></p>"
                 f"<pre>{html.escape(json.dumps(manifest, indent=2))}</pre></section>")
    parts.append(f"<script>{_PAGE_SCRIPT}</script></body></html>\n")
    path = out / "index.html"
    write_text_atomic(path, "\n".join(parts))
    return path


def print_report(out: Path, manifest: dict, stream=sys.stdout) -> None:
    """The headline table, where every file is, and the wall time."""
    out = Path(out)
    head = out / "headline.csv"
    if head.exists():
        table = pd.read_csv(head)
        default_tpc = json.loads((out / "headline.json").read_text()).get("default_threads_per_core")
        print("Headline (simulated; power is a model estimate)\n", file=stream)
        print(format_table(table, default_tpc=default_tpc), file=stream)
        print(file=stream)
    print(f"Figures and tables in {out}/:", file=stream)
    for name in [*manifest["files"], "manifest.json", "index.html"]:
        print(f"  {out / name}", file=stream)
    sp = manifest["sweep_points"]
    print(f"sweep points: {sp['points']}, {sp['computed']} simulated, {sp['cached']} reused (shared between "
          f"figures{' or cached in ' + manifest['cache'] if manifest['cache'] else ''})", file=stream)
    print(f"fastwake paper{' --quick' if manifest['quick'] else ''}: wall time {manifest['wall_s']:.1f} s",
          file=stream)
