// Compiles Python to bytecode with the very CPython that will run it (the npm pyodide's own), so
// that the page does not compile it again on every start.
//
//     node tools/compile_python.mjs PYODIDE_DIR IN.zip OUT.zip [--beside] [--checked] [--bytecode-only]
//     node tools/compile_python.mjs PYODIDE_DIR --wheels MODULE,MODULE,... WHEEL...
//
// Pyodide ships python_stdlib.zip as source only, so every start compiled each module it
// imports (encodings, asyncio, email, re, …) again: measured in Node, loadPyodide() took 2.6 s,
// 0.5 s with bytecode. By default OUT.zip holds name.pyc where IN.zip held name.py (where
// zipimport looks for it). The wheels and the page's own modules are unpacked into the file
// system as sources; for them `--beside` keeps each name.py and adds
// __pycache__/name.<cache tag>.pyc beside it, where the import system looks first, and
// `--bytecode-only` leaves the sources out (the page fetches its own). The `.pyc` files are
// "unchecked hash" ones, taken without a look at the source, unless `--checked`: then Python
// hashes the source it finds and compiles it again if it changed since (the page's own
// modules, which a developer edits between two runs of tools/vendor.py). Members are stored.
//
// `--wheels` rewrites each wheel in place with bytecode beside the sources of only the modules
// that importing MODULEs (from all the wheels together) imports: compiling all of them would
// double the download (Pygments' 4.7 MB of lexers, of which the page uses a few), for modules
// that never run. Run by tools/vendor.py.
import fs from "node:fs";
import path from "node:path";

// What both modes compile with: a module's bytecode, and where the import system looks for it
// beside its source.
const PRELUDE = `
import importlib._bootstrap_external as bootstrap
import importlib.util
import posixpath
import sys
import zipfile

def bytecode(name, source, checked):
    code = compile(source, name, "exec", dont_inherit=True)
    return bytes(bootstrap._code_to_hash_pyc(code, importlib.util.source_hash(source), checked))

def cached(name):
    folder, module = posixpath.split(name)
    return posixpath.join(folder, "__pycache__", f"{module[:-3]}.{sys.implementation.cache_tag}.pyc")
`;

async function startPython(pyodideDir) {
  const { loadPyodide } = await import(path.resolve(pyodideDir, "pyodide.mjs"));
  const pyodide = await loadPyodide({
    indexURL: path.resolve(pyodideDir) + "/",
    env: { PYTHONNODEBUGRANGES: "1" },
  });
  pyodide.runPython(PRELUDE);
  return pyodide;
}

if (process.argv[3] === "--wheels") {
  await compileWheels(process.argv[2], process.argv[4].split(","), process.argv.slice(5));
  process.exit(0);
}
const [pyodideDir, input, output, ...flags] = process.argv.slice(2);
const known = ["--beside", "--checked", "--bytecode-only"];
if (!output || flags.some((flag) => !known.includes(flag))) {
  console.error(`usage: node tools/compile_python.mjs PYODIDE_DIR IN.zip OUT.zip [${known.join("] [")}]`);
  process.exit(2);
}
const pyodide = await startPython(pyodideDir);
pyodide.FS.writeFile("/tmp/in.zip", new Uint8Array(fs.readFileSync(input)));
pyodide.globals.set("beside", flags.includes("--beside"));
pyodide.globals.set("checked", flags.includes("--checked"));
pyodide.globals.set("bytecode_only", flags.includes("--bytecode-only"));
const compiled = pyodide.runPython(`
compiled = 0
with zipfile.ZipFile("/tmp/in.zip") as source, zipfile.ZipFile("/tmp/out.zip", "w") as target:
    for member in source.infolist():
        data = source.read(member)
        if not member.filename.endswith(".py"):
            if not bytecode_only:
                target.writestr(member, data, compress_type=zipfile.ZIP_STORED)
            continue
        pyc = bytecode(member.filename, data, checked)
        compiled += 1
        if beside:
            name = cached(member.filename)
            if not bytecode_only:
                target.writestr(member, data, compress_type=zipfile.ZIP_STORED)
        else:
            name = member.filename + "c"
        target.writestr(zipfile.ZipInfo(name, member.date_time), pyc, compress_type=zipfile.ZIP_STORED)
compiled
`);
fs.writeFileSync(output, pyodide.FS.readFile("/tmp/out.zip"));
console.log(`compiled ${compiled} modules of ${input} into ${output}`);

async function compileWheels(pyodideDir, modules, wheels) {
  const pyodide = await startPython(pyodideDir);
  const inside = wheels.map((wheel, index) => {
    const name = `/tmp/wheel${index}.zip`;
    pyodide.FS.writeFile(name, new Uint8Array(fs.readFileSync(wheel)));
    return name;
  });
  pyodide.globals.set("wheels", pyodide.toPy(inside));
  pyodide.globals.set("modules", pyodide.toPy(modules));
  const counts = pyodide.runPython(`
import importlib

# Unpacked, as the page has them: some read files beside their modules.
folders = [wheel + ".d" for wheel in wheels]
for wheel, folder in zip(wheels, folders):
    zipfile.ZipFile(wheel).extractall(folder)
sys.path[:0] = folders
for module in modules:
    importlib.import_module(module)
imported = {
    getattr(module, "__file__", None) or "" for module in list(sys.modules.values())
}
counts = []
for wheel, folder in zip(wheels, folders):
    members = {name[len(folder) + 1 :] for name in imported if name.startswith(folder + "/")}
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(wheel + ".out", "w") as target:
        for member in source.infolist():
            data = source.read(member)
            target.writestr(member, data, compress_type=zipfile.ZIP_STORED)
            if member.filename in members:
                pyc = bytecode(member.filename, data, False)
                info = zipfile.ZipInfo(cached(member.filename), member.date_time)
                target.writestr(info, pyc, compress_type=zipfile.ZIP_STORED)
    counts.append(len(members))
counts
`).toJs();
  wheels.forEach((wheel, index) => {
    fs.writeFileSync(wheel, pyodide.FS.readFile(inside[index] + ".out"));
    console.log(`compiled ${counts[index]} imported modules of ${path.basename(wheel)}`);
  });
}
