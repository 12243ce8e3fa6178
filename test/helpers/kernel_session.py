"""Drive one tslab kernel through a list of cells, interrupting a cell as JupyterLab's Kernel > Interrupt does.

Used by test/train/notebook-interrupt.test.ts (nbconvert cannot interrupt a running cell).

    python kernel_session.py session.json

session.json: {"kernel": "tslab", "cwd": "...", "cells": [{"code": "...", "timeout": 300,
"interrupt_on": "regex"}]}. A cell with interrupt_on gets jupyter_client's interrupt_kernel() (SIGINT
to the kernel process) as soon as its output matches the regex. The next cell is sent as soon as
the previous one is idle (0.5 s later after an error: tslab ignores requests for 200 ms after one),
as when a user re-runs a cell right away. Prints one JSON object:
{"cells": [{"status", "stdout", "stderr", "errors", "interrupted", "seconds"}]} (status "ok", "error",
or "timeout": then the cell's output so far, and no later cell runs); the kernel is shut down at
the end, whatever happened.
"""
import json
import queue
import re
import sys
import time

from jupyter_client.manager import start_new_kernel


class CellTimeout(Exception):
    def __init__(self, result):
        super().__init__("cell timed out")
        self.result = result


def run_cell(km, kc, cell):
    timeout = cell.get("timeout", 300)
    pattern = re.compile(cell["interrupt_on"], re.M) if cell.get("interrupt_on") else None
    started = time.time()
    msg_id = kc.execute(cell["code"])
    result = {"stdout": "", "stderr": "", "errors": [], "interrupted": False, "status": "timeout"}
    deadline = started + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(1, deadline - time.time()))
        except queue.Empty:
            result["seconds"] = round(time.time() - started, 2)
            raise CellTimeout(result)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            result[content["name"]] += content["text"]
            if pattern is not None and not result["interrupted"] and pattern.search(result["stdout"] + result["stderr"]):
                km.interrupt_kernel()
                result["interrupted"] = True
        elif kind == "error":
            result["errors"].append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    result["status"] = reply["content"].get("status")
    result["seconds"] = round(time.time() - started, 2)
    return result


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        session = json.load(f)
    km, kc = start_new_kernel(kernel_name=session.get("kernel", "tslab"), startup_timeout=120, cwd=session["cwd"])
    cells = []
    try:
        for cell in session["cells"]:
            if cells and cells[-1]["status"] == "error":
                time.sleep(0.5)  # tslab ignores requests for 200 ms after an error (a person is slower anyway)
            cells.append(run_cell(km, kc, cell))
    except CellTimeout as e:  # what the cell printed before its time ran out; no later cell runs
        cells.append(e.result)
    except Exception as e:  # a dead kernel: report what ran
        cells.append({"status": "driver-error", "stdout": "", "stderr": "", "errors": [repr(e)], "interrupted": False, "seconds": 0})
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(json.dumps({"cells": cells}))


if __name__ == "__main__":
    main()
