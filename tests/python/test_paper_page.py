"""`fastwake paper` writes results/paper/index.html (every figure, the headline table, the manifest), and
the page loads in a real browser: headless Chromium renders it and its script reports that every image
decoded (data-images="ok" on <body>)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fastwake.paper import paper, write_index

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed "
                                                               "(Debian package chromium, scripts/install-deps.sh)")


def render(page: Path, tmp: Path) -> str:
    """The page's DOM after its scripts ran, as headless Chromium renders it from file://."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--user-data-dir={tmp / 'chromium-profile'}", "--virtual-time-budget=10000",
                           "--dump-dom", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def body_images(dom: str) -> str | None:
    m = re.search(r'<body[^>]*\bdata-images="([^"]*)"', dom)
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def paper_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper")
    manifest = paper(out, quick=True, only=["fig2_latency_cdf", "fig3_breakdown", "fig9_state_residency", "headline"],
                     cache=False, progress=False, log=lambda m: None)
    return out, manifest


def test_index_lists_every_figure_the_headline_and_the_manifest(paper_out):
    out, manifest = paper_out
    page = (out / "index.html").read_text()
    pngs = sorted(f for f in manifest["files"] if f.endswith(".png"))
    assert pngs == ["fig2_latency_cdf.png", "fig3_breakdown.png", "fig9_state_residency.png"]
    for f in pngs:
        assert f'<img src="{f}"' in page and f'href="{f[:-4]}.pdf"' in page
    assert "Headline table" in page and "p50 vs irq" in page  # the headline text table
    assert "Manifest" in page and manifest["model_version"] in page


@needs_chromium
def test_every_image_of_the_page_loads_in_headless_chromium(paper_out, tmp_path):
    out, manifest = paper_out
    dom = render(out / "index.html", tmp_path)
    assert body_images(dom) == "ok", dom[:500]
    assert 'data-image-count="3"' in dom


@needs_chromium
def test_a_missing_figure_is_reported_broken(paper_out, tmp_path):
    """The check can fail: the same page with one PNG gone says which."""
    out, manifest = paper_out
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "fig3_breakdown.png").write_bytes(b"not a png")
    dom = render(copy / "index.html", tmp_path)
    assert body_images(dom) == "broken: fig3_breakdown.png"


def test_write_index_escapes_and_links_relative(tmp_path):
    (tmp_path / "a<b.png").write_bytes(b"x")
    path = write_index(tmp_path, {"files": ["a<b.png", "gone.png"], "model_version": "m", "wall_s": 1.0,
                                  "command": "fastwake paper"}, {"a<b": "caption & more"})
    page = path.read_text()
    assert 'src="a&lt;b.png"' in page and "caption &amp; more" in page
    assert "gone.png" not in page.split("<section id=\"manifest\">")[0]  # only figures that exist
