"""Run notebooks in JupyterLab the way a learner does, in the system Chromium via Playwright.

Used by test/lab.test.ts, which starts JupyterLab (scripts/lab.js) and passes its URL and token.
For each notebook, in the order given: open it, select the first cell, press Shift+Enter through
every cell (waiting for each code cell to finish), then check what the learner sees:
- no cell shows an error (an error output, or stderr text containing "Error" in a cell without
  the tag allow-stderr-error, the same rule as the nbconvert runner);
- every Plotly chart (div.kit-plot) has drawn its svg (.main-svg);
- every image in an output has loaded (naturalWidth > 0);
- a cell that draws a live chart (training) keeps the same output areas and updates them in
  place: the number of output areas seen while it runs never exceeds the final number;
and save a full-page screenshot as <out>/<notebook stem>.png. The first failing cell stops the
notebook (like Run All). Prints one JSON line per notebook; exits 1 if any notebook failed.

usage: python driver.py --url URL --token TOKEN --root DIR --out DIR [--cell-timeout S] NOTEBOOK...
(NOTEBOOK paths relative to --root, the folder JupyterLab serves). Env: KIT_CHROMIUM, the
browser binary (default /usr/bin/chromium); Playwright never downloads a browser here.
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.parse

from playwright.sync_api import sync_playwright

ALLOW_STDERR_ERROR_TAG = "allow-stderr-error"
PROMPT_DONE = re.compile(r"\[\d+\]")

# JS run in the page: what one cell shows. `i` is the cell index in the notebook.
CELL_STATE_JS = """
(i) => {
  const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
  if (!cell) return null;
  const prompt = cell.querySelector('.jp-InputArea-prompt');
  const outs = [...cell.querySelectorAll('.jp-OutputArea-child')];
  const stderr = [...cell.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')].map((e) => e.innerText);
  const plots = [...cell.querySelectorAll('.kit-plot')];
  const imgs = [...cell.querySelectorAll('.jp-OutputArea img')];
  return {
    prompt: prompt ? prompt.innerText : '',
    outputs: outs.length,
    stderr: stderr,
    plots: plots.length,
    plotsDrawn: plots.filter((p) => p.querySelector('.main-svg')).length,
    images: imgs.length,
    imagesLoaded: imgs.filter((im) => im.complete && im.naturalWidth > 0).length,
    text: cell.querySelector('.jp-OutputArea') ? cell.querySelector('.jp-OutputArea').innerText.slice(0, 2000) : '',
  };
}
"""


def run_notebook(page, args, rel):
    started = time.time()
    problems = []
    nb_file = os.path.join(args.root, rel)
    with open(nb_file, encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    # ?reset: a fresh workspace, so tabs of the notebooks before do not reopen.
    url = f"{args.url}/lab/tree/{urllib.parse.quote(rel)}?reset&token={args.token}"
    page.goto(url)
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    page.wait_for_selector(f"{panel} .jp-Notebook .jp-Cell", timeout=60_000)
    # The kernel must be up before the first Shift+Enter, or the keypress queues behind its start.
    page.wait_for_selector(f"{panel} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some((e) => /\\| Idle$/.test(e.textContent.trim()))",
        timeout=120_000,
    )
    page.wait_for_timeout(1000)
    page.locator(f"{panel} .jp-Notebook .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs and moves to the next cell
    live = {}
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"]).strip()
        page.keyboard.press("Shift+Enter")
        if cell["cell_type"] != "code" or source == "":
            continue
        deadline = time.time() + args.cell_timeout
        samples = []
        while True:
            st = page.evaluate(CELL_STATE_JS, i)
            if st is None:
                problems.append({"cell": i, "problem": "cell not found in the page"})
                break
            samples.append((st["outputs"], st["plots"], st["text"]))
            if PROMPT_DONE.search(st["prompt"]):
                break
            if time.time() > deadline:
                problems.append({"cell": i, "problem": f"did not finish within {args.cell_timeout} s"})
                break
            time.sleep(0.2)
        if problems:
            break
        # Let charts draw and images load (Plotly retries for up to 10 s while it loads).
        end = time.time() + 12
        while True:
            st = page.evaluate(CELL_STATE_JS, i)
            if (st["plotsDrawn"] == st["plots"] and st["imagesLoaded"] == st["images"]) or time.time() > end:
                break
            time.sleep(0.2)
        for text in st["stderr"]:
            if "Error" in text and ALLOW_STDERR_ERROR_TAG not in tags:
                line = next((l for l in text.splitlines() if "Error" in l), "")
                problems.append({"cell": i, "problem": "error shown: " + line.strip()[:300]})
        if st["plots"] != st["plotsDrawn"]:
            problems.append({"cell": i, "problem": f"{st['plots'] - st['plotsDrawn']} of {st['plots']} Plotly charts not drawn (no .main-svg)"})
        if st["images"] != st["imagesLoaded"]:
            problems.append({"cell": i, "problem": f"{st['images'] - st['imagesLoaded']} of {st['images']} images did not load"})
        # A cell that ran for a while with a chart: it must have updated in place.
        distinct = len({s[2] for s in samples})
        if st["plots"] > 0 and len(samples) > 10:
            most = max(s[0] for s in samples)
            live[i] = {"samples": len(samples), "distinctStates": distinct, "maxOutputs": most, "finalOutputs": st["outputs"]}
            if most > st["outputs"]:
                problems.append({"cell": i, "problem": f"live display appended outputs: {most} output areas while running, {st['outputs']} at the end"})
        if problems:
            break
    shot = os.path.join(args.out, os.path.splitext(os.path.basename(rel))[0] + ".png")
    # The notebook scrolls inside its panel: make the window as tall as the notebook, then shoot.
    height = page.evaluate(
        "() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer');"
        " const n = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');"
        " return Math.max(s ? s.scrollHeight : 0, n ? n.scrollHeight : 0); }"
    )
    page.set_viewport_size({"width": 1280, "height": max(800, min(int(height) + 200, 30000))})
    page.evaluate(
        "() => document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer,"
        " .jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook').forEach((e) => { e.scrollTop = 0; })"
    )
    page.wait_for_timeout(1500)
    page.screenshot(path=shot, full_page=True)
    return {"notebook": rel, "ok": not problems, "problems": problems, "live": live, "seconds": round(time.time() - started, 1), "screenshot": shot}


def shutdown_kernels(pw, args):
    api = pw.request.new_context(base_url=args.url, extra_http_headers={"Authorization": f"token {args.token}"})
    try:
        for k in api.get("/api/kernels").json():
            api.delete(f"/api/kernels/{k['id']}")
    finally:
        api.dispose()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cell-timeout", type=float, default=1800)
    p.add_argument("notebooks", nargs="+")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    chromium = os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium")
    failed = False
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            for rel in args.notebooks:
                # A fresh page per notebook, closed without saving (autosave is off in the settings
                # test/lab.test.ts gives JupyterLab), so the file keeps its stripped outputs; then
                # its kernel is shut down, so one notebook's memory is not held while the next runs.
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                try:
                    res = run_notebook(page, args, rel)
                finally:
                    page.close()
                    shutdown_kernels(pw, args)
                failed |= not res["ok"]
                print(json.dumps(res), flush=True)
        finally:
            browser.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
