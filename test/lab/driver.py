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

With --interrupt-cell N (one notebook): the interrupt scenario instead. Run the cells before N,
start cell N, wait until a file matching --checkpoint exists (the run's first epoch checkpoint),
click Kernel › Interrupt Kernel in the menu bar, wait for the cell to stop with tslab's
"Interrupted asynchronously", save a screenshot (--interrupt-screenshot), then select cell N and
press Shift+Enter again and wait for it to finish without an error. The JSON line adds
"epochsShown": the epochs the cell's live status line showed in each of the two executions.

usage: python driver.py --url URL --token TOKEN --root DIR --out DIR [--cell-timeout S]
         [--interrupt-cell N --checkpoint GLOB --interrupt-screenshot PNG] NOTEBOOK...
(NOTEBOOK paths relative to --root, the folder JupyterLab serves). Env: KIT_CHROMIUM, the
browser binary (default /usr/bin/chromium); Playwright never downloads a browser here.
"""

import argparse
import glob
import json
import os
import re
import signal
import sys
import time
import urllib.parse

from playwright.sync_api import sync_playwright

ALLOW_STDERR_ERROR_TAG = "allow-stderr-error"
PROMPT_DONE = re.compile(r"\[\d+\]")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"
# What tslab prints in a cell that Kernel › Interrupt ended while it awaited.
INTERRUPTED = "Interrupted asynchronously"
# The live status line of kit.nb.trainingDisplay (util/progress formatTrainProgress).
EPOCH_SHOWN = re.compile(r"epoch (\d+)/(\d+) · step")

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

# JS: record every text cell `i` shows from now on, including states replaced before a poll could
# see them (a smoke epoch lasts a fraction of a second). window.__kitShown holds the texts.
WATCH_CELL_JS = """
(i) => {
  const cell = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
  window.__kitWatch?.disconnect();
  window.__kitShown = [];
  window.__kitWatch = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) window.__kitShown.push(n.textContent || '');
      if (r.type === 'characterData') window.__kitShown.push(r.target.textContent || '');
    }
  });
  window.__kitWatch.observe(cell, { childList: true, characterData: true, subtree: true });
}
"""


def open_notebook(page, args, rel):
    """Open `rel` in a fresh workspace, wait for its kernel, select the first cell in command mode."""
    # ?reset: a fresh workspace, so tabs of the notebooks before do not reopen.
    url = f"{args.url}/lab/tree/{urllib.parse.quote(rel)}?reset&token={args.token}"
    page.goto(url)
    page.wait_for_selector(CELLS, timeout=60_000)
    # The kernel must be up before the first Shift+Enter, or the keypress queues behind its start.
    page.wait_for_selector(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem')].some((e) => /\\| Idle$/.test(e.textContent.trim()))",
        timeout=120_000,
    )
    page.wait_for_timeout(1000)
    page.locator(CELLS).first.click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs and moves to the next cell


def wait_cell(page, args, i, before=None):
    """Wait until code cell i has finished (its prompt shows a number), then until its charts are
    drawn and its images loaded. `before`: the prompt it showed before this execution, when it ran
    once already (a re-run), so that the old number is not taken for the end of the new run.
    Returns (final state, [(outputs, plots, text)] seen while it ran, problems)."""
    deadline = time.time() + args.cell_timeout
    samples = []
    busy = False
    while True:
        st = page.evaluate(CELL_STATE_JS, i)
        if st is None:
            return None, samples, [{"cell": i, "problem": "cell not found in the page"}]
        samples.append((st["outputs"], st["plots"], st["text"]))
        busy = busy or "*" in st["prompt"]
        if PROMPT_DONE.search(st["prompt"]) and (before is None or busy or st["prompt"] != before):
            break
        if time.time() > deadline:
            return st, samples, [{"cell": i, "problem": f"did not finish within {args.cell_timeout} s"}]
        time.sleep(0.2)
    # Let charts draw and images load (Plotly retries for up to 10 s while it loads).
    end = time.time() + 12
    while True:
        st = page.evaluate(CELL_STATE_JS, i)
        if (st["plotsDrawn"] == st["plots"] and st["imagesLoaded"] == st["images"]) or time.time() > end:
            return st, samples, []
        time.sleep(0.2)


def shown_problems(i, st, tags, expected_stderr=None):
    """What is wrong in what cell i shows: errors (except `expected_stderr`), undrawn charts, broken images."""
    problems = []
    for text in st["stderr"]:
        if expected_stderr is not None and expected_stderr in text:
            continue
        if "Error" in text and ALLOW_STDERR_ERROR_TAG not in tags:
            line = next((l for l in text.splitlines() if "Error" in l), "")
            problems.append({"cell": i, "problem": "error shown: " + line.strip()[:300]})
    if st["plots"] != st["plotsDrawn"]:
        problems.append({"cell": i, "problem": f"{st['plots'] - st['plotsDrawn']} of {st['plots']} Plotly charts not drawn (no .main-svg)"})
    if st["images"] != st["imagesLoaded"]:
        problems.append({"cell": i, "problem": f"{st['images'] - st['imagesLoaded']} of {st['images']} images did not load"})
    return problems


def run_cells(page, args, cells, stop=None):
    """Shift+Enter through cells[:stop] (all by default), checking each code cell; the first failing
    cell ends the run. Returns (problems, live cells)."""
    live = {}
    for i, cell in enumerate(cells[:stop]):
        tags = cell.get("metadata", {}).get("tags", [])
        source = "".join(cell["source"]).strip()
        page.keyboard.press("Shift+Enter")
        if cell["cell_type"] != "code" or source == "":
            continue
        st, samples, problems = wait_cell(page, args, i)
        if problems:
            return problems, live
        problems = shown_problems(i, st, tags)
        # A cell that ran for a while with a chart: it must have updated in place.
        distinct = len({s[2] for s in samples})
        if st["plots"] > 0 and len(samples) > 10:
            most = max(s[0] for s in samples)
            live[i] = {"samples": len(samples), "distinctStates": distinct, "maxOutputs": most, "finalOutputs": st["outputs"]}
            if most > st["outputs"]:
                problems.append({"cell": i, "problem": f"live display appended outputs: {most} output areas while running, {st['outputs']} at the end"})
        if problems:
            return problems, live
    return [], live


def read_cells(args, rel):
    with open(os.path.join(args.root, rel), encoding="utf-8") as f:
        return json.load(f)["cells"]


def run_notebook(page, args, rel):
    started = time.time()
    cells = read_cells(args, rel)
    open_notebook(page, args, rel)
    problems, live = run_cells(page, args, cells)
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


def kernel_group(api, rel):
    """The process group of the kernel of notebook `rel`: Jupyter starts each kernel in a session
    of its own (jupyter_client's launcher), the group that Kernel › Interrupt signals."""
    sessions = [s for s in api.get("/api/sessions").json() if s.get("path") == rel]
    if len(sessions) != 1:
        raise RuntimeError(f"expected one kernel session for {rel}, found {len(sessions)}")
    connection = f"kernel-{sessions[0]['kernel']['id']}.json"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.decode(errors="replace").endswith(connection) for a in argv):
            group = os.getpgid(int(pid))
            if group == os.getpgrp():
                raise RuntimeError(f"the kernel (pid {pid}) shares this driver's process group")
            return group
    raise RuntimeError(f"no process with {connection} in its command line")


def epochs_shown(page):
    """The epochs the watched cell's training status line showed (sorted), and the epoch count."""
    texts = page.evaluate("() => [...(window.__kitShown || [])]")
    seen = [(int(a), int(b)) for t in texts for a, b in EPOCH_SHOWN.findall(t)]
    return sorted({a for a, _ in seen}), max((b for _, b in seen), default=0)


def interrupt_notebook(page, api, args, rel):
    """The interrupt scenario (--interrupt-cell): see the top of this file."""
    started = time.time()
    n = args.interrupt_cell
    cells = read_cells(args, rel)
    tags = cells[n].get("metadata", {}).get("tags", [])
    open_notebook(page, args, rel)
    problems, _ = run_cells(page, args, cells, stop=n)
    result = {"notebook": rel, "ok": False, "problems": problems, "live": {}, "screenshot": args.interrupt_screenshot, "epochsShown": {}}
    if problems:
        result["seconds"] = round(time.time() - started, 1)
        return result
    group = kernel_group(api, rel)
    page.evaluate(WATCH_CELL_JS, n)
    page.keyboard.press("Shift+Enter")
    # A smoke epoch takes a fraction of a second, less than a click through a menu. So the kernel
    # is paused (SIGSTOP) the moment the first checkpoint appears, and resumed once JupyterLab has
    # sent the interrupt: the kernel sees it exactly as if the learner had clicked at that moment.
    # The interrupt itself is JupyterLab's own: the menu command, the server's SIGINT to the group.
    deadline = time.time() + args.cell_timeout
    while not glob.glob(args.checkpoint):
        if time.time() > deadline:
            problems.append({"cell": n, "problem": f"no checkpoint {args.checkpoint} within {args.cell_timeout} s"})
            break
        time.sleep(0.005)
    if not problems:
        os.killpg(group, signal.SIGSTOP)
        paused = time.time()
        try:
            page.get_by_role("menuitem", name="Kernel", exact=True).click()
            with page.expect_response(lambda r: r.request.method == "POST" and r.url.split("?")[0].endswith("/interrupt")) as sent:
                page.get_by_role("menuitem", name="Interrupt Kernel").click()
            if not sent.value.ok:
                problems.append({"cell": n, "problem": f"the interrupt request failed: HTTP {sent.value.status}"})
        finally:
            os.killpg(group, signal.SIGCONT)
            result["kernelPausedSeconds"] = round(time.time() - paused, 2)
    if problems:
        result["seconds"] = round(time.time() - started, 1)
        return result
    st, _, problems = wait_cell(page, args, n)
    if not problems:
        if not any(INTERRUPTED in t for t in st["stderr"]):
            problems.append({"cell": n, "problem": f"the interrupted cell does not say {INTERRUPTED!r} (did the run end before the interrupt?); it shows: {st['text'][-600:]}"})
        problems += shown_problems(n, st, tags, expected_stderr=INTERRUPTED)
    interrupted_text = st["text"] if st else ""
    result["epochsShown"]["interrupted"], total = epochs_shown(page)
    # What the learner sees now: the training cell, stopped, with its chart and the message, in a
    # window tall enough for all of it, under the menu bar and above the kernel's status.
    box = page.locator(CELLS).nth(n).bounding_box()
    page.set_viewport_size({"width": 1280, "height": max(900, min(int(box["height"]) + 250, 4000))})
    page.locator(CELLS).nth(n).evaluate("(e) => e.scrollIntoView({ block: 'start' })")
    page.wait_for_timeout(500)
    page.screenshot(path=args.interrupt_screenshot)
    if problems:
        result.update(problems=problems, seconds=round(time.time() - started, 1), interruptedText=interrupted_text)
        return result
    # Run the same cell again, as a learner does: select it, Shift+Enter.
    page.wait_for_timeout(1000)
    page.evaluate(WATCH_CELL_JS, n)
    page.locator(CELLS).nth(n).locator(".jp-InputPrompt").click()
    page.keyboard.press("Shift+Enter")
    st, _, problems = wait_cell(page, args, n, before=st["prompt"])
    if not problems:
        problems = shown_problems(n, st, tags)
    result["epochsShown"]["rerun"], total_rerun = epochs_shown(page)
    result.update(
        ok=not problems,
        problems=problems,
        seconds=round(time.time() - started, 1),
        epochs=max(total, total_rerun),
        interruptedText=interrupted_text,
        rerunText=st["text"] if st else "",
    )
    return result


def shutdown_kernels(api):
    for k in api.get("/api/kernels").json():
        api.delete(f"/api/kernels/{k['id']}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--root", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cell-timeout", type=float, default=1800)
    p.add_argument("--interrupt-cell", type=int)
    p.add_argument("--checkpoint", help="glob of the checkpoint that shows the first epoch is done")
    p.add_argument("--interrupt-screenshot")
    p.add_argument("notebooks", nargs="+")
    args = p.parse_args()
    if args.interrupt_cell is not None and (len(args.notebooks) != 1 or not args.checkpoint or not args.interrupt_screenshot):
        p.error("--interrupt-cell takes one notebook, --checkpoint and --interrupt-screenshot")
    os.makedirs(args.out, exist_ok=True)
    chromium = os.environ.get("KIT_CHROMIUM", "/usr/bin/chromium")
    failed = False
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        api = pw.request.new_context(base_url=args.url, extra_http_headers={"Authorization": f"token {args.token}"})
        try:
            for rel in args.notebooks:
                # A fresh page per notebook, closed without saving (autosave is off in the settings
                # test/lab.test.ts gives JupyterLab), so the file keeps its stripped outputs; then
                # its kernel is shut down, so one notebook's memory is not held while the next runs.
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                try:
                    res = run_notebook(page, args, rel) if args.interrupt_cell is None else interrupt_notebook(page, api, args, rel)
                finally:
                    page.close()
                    shutdown_kernels(api)
                failed |= not res["ok"]
                print(json.dumps(res), flush=True)
        finally:
            api.dispose()
            browser.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
