"""The browser shell of the library: the only part that imports `js` or `pyodide`.

One module per browser API, each naming the JS API it wraps.
"""
