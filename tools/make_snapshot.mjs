// Makes the memory snapshot the page starts from: the heap of a Pyodide that has unpacked the
// page's wheels and imported the pure modules it needs, so that the page restores Python in that
// state instead of initialising it and importing them again on every start.
//
//     node tools/make_snapshot.mjs VENDOR/pyodide/ OUT.bin MODULES WHEEL...
//
// VENDOR/pyodide/ is the runtime exactly as the page loads it (the compiled standard library
// included): a snapshot only works with the very build, and the very python_stdlib.zip, it was
// made with. MODULES is a comma-separated list of modules to import; none may touch `js` (a
// snapshot cannot hold JavaScript objects: makeMemorySnapshot() throws if one is referenced).
// The wheels are unpacked into the home directory, where PyScript's `"x.whl" = "./*"` puts them,
// so that the modules' files are where the page will find them again. Run by tools/vendor.py;
// static/vendor/pyodide/snapshot.mjs (tools/snapshot_loader.mjs) restores it.
import fs from "node:fs";
import path from "node:path";

const [pyodideDir, output, modules, ...wheels] = process.argv.slice(2);
if (!modules) {
  console.error("usage: node tools/make_snapshot.mjs PYODIDE_DIR OUT.bin MODULES [WHEEL...]");
  process.exit(2);
}
const indexURL = path.resolve(pyodideDir) + "/";
const { loadPyodide } = await import(indexURL + "pyodide.mjs");
const started = performance.now();
const pyodide = await loadPyodide({ indexURL, _makeSnapshot: true });
for (const wheel of wheels) {
  pyodide.unpackArchive(new Uint8Array(fs.readFileSync(wheel)), "whl", { extractDir: "." });
}
const names = modules.split(",").filter(Boolean);
pyodide.globals.set("_snapshot_modules", pyodide.toPy(names));
pyodide.runPython(`
import importlib
import sys

for _name in _snapshot_modules:
    importlib.import_module(_name)
# Nothing of the page's own may be frozen: its modules change without a new snapshot.
_own = sorted(name for name in sys.modules if name.split(".")[0] in ("app", "streamchat", "pyscript"))
if _own:
    raise RuntimeError(f"the snapshot would hold the page's own modules: {_own}")
del _name, _own, _snapshot_modules
`);
const snapshot = pyodide.makeMemorySnapshot();
fs.writeFileSync(output, snapshot);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `snapshot of ${names.length} modules (${(snapshot.length / 1e6).toFixed(1)} MB) in ${output}, ${seconds} s`,
);
