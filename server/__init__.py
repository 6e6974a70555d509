"""Reference back end: serves the static page and streams answers as server-sent events."""
