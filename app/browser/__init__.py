"""The imperative shell: the only package that imports `js` or `pyodide`.

One module per browser API, each naming the JS API it wraps.
"""
