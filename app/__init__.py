"""The Python that runs in the page, built on the `streamchat` library.

Everything outside `app.browser` and `app.main` is pure and imports in plain CPython.
"""
