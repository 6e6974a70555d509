// Pyodide started from the memory snapshot made at setup, or normally when that fails.
//
// Copied by tools/vendor.py to static/vendor/pyodide/snapshot.mjs, next to pyodide.mjs and the
// snapshot.bin that tools/make_snapshot.mjs made from that very runtime. pyscript.toml's
// `interpreter` names this module: PyScript 0.7 imports it and calls its loadPyodide() with its
// own options (indexURL is this directory, stdout, stderr), as it would Pyodide's; PyScript
// has no snapshot hook of its own. Restoring the snapshot puts Python back in the state it had
// after importing the renderer's wheels (Markdown, Pygments, …), so that neither Pyodide's
// initialisation nor those imports run again (docs/startup.md).
//
// Any failure means a normal start, never a broken page: the snapshot missing or not fetched
// (a 404, a host that does not serve it), or not matching the runtime (Pyodide checks its build
// id and refuses a snapshot of another build), or restored but unusable. The outcome is in
// `globalThis.pyodideSnapshot` ({restored, reason}), for tests and benchmarks.
import { loadPyodide as loadPyodideNormally, version } from "./pyodide.mjs";

export { version };

/** The snapshot next to this module: same origin, same version directory in `make dist`. */
export const SNAPSHOT_URL = new URL("snapshot.bin", import.meta.url).href;

export async function loadPyodide(options = {}) {
  const snapshot = fetchSnapshot(SNAPSHOT_URL);
  // Handled where Pyodide awaits it; this only keeps a failed fetch from being reported as an
  // unhandled rejection before then.
  snapshot.catch(() => {});
  return loadPyodideFrom(snapshot, options);
}

/** Starts from `snapshot` (bytes, or a promise of them), or normally if that fails. */
export async function loadPyodideFrom(snapshot, options = {}) {
  let pyodide;
  try {
    // A promise: Pyodide awaits it only once the wasm is on its way, so both download at once.
    pyodide = await loadPyodideNormally({ ...options, _loadSnapshot: snapshot });
    // The snapshot froze `random`'s state (Pyodide imports it while starting): without a new
    // seed every visitor would draw the same retry jitter.
    pyodide.runPython("import random as _r; _r.seed(); del _r");
  } catch (error) {
    const reason = String(error?.message ?? error).split("\n")[0];
    console.warn(`Pyodide memory snapshot not used (${reason}): starting normally`);
    globalThis.pyodideSnapshot = { restored: false, reason };
    return loadPyodideNormally(options);
  }
  globalThis.pyodideSnapshot = { restored: true, reason: "" };
  return pyodide;
}

async function fetchSnapshot(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`${url}: HTTP ${response.status}`);
  }
  return response.arrayBuffer();
}
