"""Build dist/: the page as a static site that works from any path on any static file server.

    dist/index.html        the entry point; its #chat-config block is the site's one config file
    dist/embed.js          the widget loader that host pages link to (docs/embedding.md)
    dist/sw.js             the service worker: repeat visits from the cache, offline too
    dist/v/<version>/      everything else: app/, static/ (runtime, wheels, styles), pyscript.toml
    dist/wheels/           the `streamchat` library as a wheel (tools/build_wheel.py), for other
                           pages (docs/library.md); the page itself does not load it

Only index.html, embed.js and sw.js keep their names from build to build, so only they must be
revalidated (`no-cache`); `<version>` is a hash of the content, so everything under v/ can be
cached for a year as `immutable`. Every URL is relative, so the site works under any path.

This is the command (`make dist`); each job has its module beside it:

    tools/dist_build.py     what ships, its version, index.html's and pyscript.toml's URLs
    tools/dist_compress.py  `.br` and `.gz` twins for servers that serve precompressed files
    tools/dist_headers.py   the headers a host should send, the Content-Security-Policy
    tools/dist_preview.py   `--serve`: a preview under a subpath with those headers

`python tools/dist.py --serve 8080` previews the build under /docs/chat/ with the headers that
docs/hosting.md recommends (the browser tests use the same server and headers).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As a script, Python puts tools/ on the path, not the root that holds `server`.
sys.path.insert(0, str(ROOT))

import build_wheel  # noqa: E402
import precompress as twins  # noqa: E402
from dist_build import Build, BuildError, build_site, exact_origin, page_config  # noqa: E402
from dist_headers import content_security_policy, response_headers  # noqa: E402
from dist_preview import preview  # noqa: E402

from server.headers import origin_of  # noqa: E402

__all__ = [
    "Build",
    "BuildError",
    "build_site",
    "content_security_policy",
    "exact_origin",
    "main",
    "page_config",
    "preview",
    "response_headers",
]

#: Where `make dist` puts the streamchat wheel, beside the site (not under the version).
WHEELS = "wheels"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/dist.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="default: dist/")
    parser.add_argument("--endpoint", help="the back end's SSE endpoint, written to #chat-config")
    parser.add_argument(
        "--embed-origin",
        dest="embed_origins",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a host page origin allowed to embed the widget (repeatable)",
    )
    parser.add_argument(
        "--gzip-level", type=int, default=9, help="0 writes no precompressed twins at all"
    )
    parser.add_argument(
        "--brotli-quality", type=int, default=twins.BROTLI_QUALITY, help="-1 writes no .br"
    )
    parser.add_argument(
        "--no-service-worker",
        dest="service_worker",
        action="store_false",
        help="leave the service worker out: every visit then asks the server (docs/hosting.md)",
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help="then preview it on this port")
    parser.add_argument("--base", default="/docs/chat/", help="the path to preview it under")
    args = parser.parse_args(argv)
    try:
        build = build_site(
            args.out,
            endpoint=args.endpoint,
            embed_origins=args.embed_origins,
            gzip_level=args.gzip_level,
            brotli_quality=args.brotli_quality,
            service_worker=args.service_worker,
        )
    except BuildError as error:
        print(f"dist: {error}", file=sys.stderr)
        return 1
    wheel = build_wheel.build(build.out / WHEELS)
    print(
        f"built {build.out}/ (version {build.version}: {build.files} files, "
        f"{build.compressed} precompressed twins) and {wheel.relative_to(build.out.parent)}"
    )
    if args.serve is not None:
        config = page_config(build.out)
        backend = origin_of(config.get("endpoint"))
        images = [origin for url in config.get("imageOrigins", []) if (origin := origin_of(url))]
        csp = content_security_policy(
            [backend] if backend else [], config.get("embedHostOrigins", []), images
        )
        try:
            with preview(build.out, args.base, csp, port=args.serve) as url:
                print(f"previewing on {url} (Ctrl+C stops)", flush=True)
                with suppress(KeyboardInterrupt):
                    threading.Event().wait()
        except OSError as error:
            print(f"dist: cannot listen on port {args.serve}: {error.strerror}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
