// The Python side of the notebook runner: executes one notebook cell by cell with Debian's nbclient.
// Written for nbclient 0.7 (NotebookClient.setup_kernel + execute_cell, the documented step-wise API).

/**
 * Run as `/usr/bin/python3 -c NBCLIENT_DRIVER <src> <dst> <status.json> <cwd> <limitS> <kernel>`.
 * Executes the code cells in order and stops at the first failing one; always writes the executed (possibly
 * partial) notebook to <dst> and a status JSON: {ok, kind, cell, message, cellSeconds: [index, s][]}.
 * kind: "cell" (a cell raised), "timeout", "dead_kernel", "no_kernel", "driver" (anything else).
 * The time limit is for the whole notebook: each cell gets what is left of it.
 */
export const NBCLIENT_DRIVER = String.raw`
import json, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

src, dst, status_path, cwd, limit, kernel = sys.argv[1:7]
limit = float(limit)
status = {"ok": True, "kind": None, "cell": None, "message": "", "cellSeconds": []}
nb = nbformat.read(src, as_version=4)
name = kernel or nb.metadata.get("kernelspec", {}).get("name") or "tslab"
client = NotebookClient(nb, timeout=max(1, int(limit)), kernel_name=name,
                        resources={"metadata": {"path": cwd}}, record_timing=True)
deadline = time.monotonic() + limit

def fail(kind, cell, message):
    status.update(ok=False, kind=kind, cell=cell, message=message)

try:
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                fail("timeout", i, "notebook time limit of %gs reached" % limit)
                break
            client.timeout = max(1, int(left))
            t0 = time.monotonic()
            try:
                client.execute_cell(cell, i)
            except CellTimeoutError as e:
                fail("timeout", i, "cell timed out (notebook limit %gs): %s" % (limit, str(e)[:500]))
            except DeadKernelError as e:
                fail("dead_kernel", i, "the kernel died: %s" % e)
            except CellExecutionError as e:
                fail("cell", i, str(e))
            status["cellSeconds"].append([i, round(time.monotonic() - t0, 3)])
            if not status["ok"]:
                break
except Exception as e:
    kind = "no_kernel" if type(e).__name__ == "NoSuchKernel" else "driver"
    fail(kind, None, "%s: %s" % (type(e).__name__, e))

nbformat.write(nb, dst)
with open(status_path, "w") as f:
    json.dump(status, f)
`;
