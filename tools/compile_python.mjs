// Compiles Pyodide's standard library to bytecode, with the very CPython that will run it (the
// npm pyodide's own), so that the page does not compile it again on every start.
//
//     node tools/compile_python.mjs node_modules/pyodide/ IN.zip OUT.zip
//
// Pyodide ships python_stdlib.zip as source only, so every start compiled each module it
// imports (encodings, asyncio, email, re, …) again: measured in Node, loadPyodide() took 2.6 s,
// 0.5 s with bytecode. OUT.zip holds name.pyc where IN.zip held name.py (where zipimport looks
// for it), stored. The `.pyc` files are "unchecked hash" ones: taken without a look at any
// source, which is not there. Run by tools/vendor.py.
import fs from "node:fs";
import path from "node:path";

const [pyodideDir, input, output] = process.argv.slice(2);
if (!output) {
  console.error("usage: node tools/compile_python.mjs PYODIDE_DIR IN.zip OUT.zip");
  process.exit(2);
}
const { loadPyodide } = await import(path.resolve(pyodideDir, "pyodide.mjs"));
const pyodide = await loadPyodide({ indexURL: path.resolve(pyodideDir) + "/" });
pyodide.FS.writeFile("/tmp/in.zip", new Uint8Array(fs.readFileSync(input)));
const compiled = pyodide.runPython(`
import importlib._bootstrap_external as bootstrap
import importlib.util
import zipfile

compiled = 0
with zipfile.ZipFile("/tmp/in.zip") as source, zipfile.ZipFile("/tmp/out.zip", "w") as target:
    for member in source.infolist():
        data = source.read(member)
        if member.filename.endswith(".py"):
            code = compile(data, member.filename, "exec", dont_inherit=True)
            data = bytes(bootstrap._code_to_hash_pyc(code, importlib.util.source_hash(data), False))
            member = zipfile.ZipInfo(member.filename + "c", member.date_time)
            compiled += 1
        member.compress_type = zipfile.ZIP_STORED
        target.writestr(member, data)
compiled
`);
fs.writeFileSync(output, pyodide.FS.readFile("/tmp/out.zip"));
console.log(`compiled ${compiled} modules of ${input} into ${output}`);
