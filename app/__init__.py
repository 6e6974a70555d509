"""The Python that runs in the page.

Everything outside `app.browser` and `app.main` is pure and imports in plain CPython.
"""
