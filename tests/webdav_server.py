"""A real WebDAV server for the tests: WsgiDAV on cheroot, one share ``/dav`` over a folder, HTTP
Basic auth for one user. ``--finite-depth`` refuses ``PROPFIND Depth: infinity`` (403), as Apache's
mod_dav does by default; ``--cert``/``--key`` serve HTTPS. Run by the `webdav` fixture
(tests/webdav.py) as its own process."""

from __future__ import annotations

import argparse
import logging

from cheroot import wsgi
from wsgidav.request_server import RequestServer
from wsgidav.wsgidav_app import WsgiDAVApp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--finite-depth", action="store_true")
    parser.add_argument("--cert", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--key", help="... and this private key (PEM)")
    args = parser.parse_args()
    if args.finite_depth:
        init = RequestServer.__init__

        def finite(self: RequestServer, provider: object) -> None:
            init(self, provider)
            self.allow_propfind_infinite = False

        RequestServer.__init__ = finite  # type: ignore[method-assign]
    config = {
        "host": "127.0.0.1",
        "port": args.port,
        "provider_mapping": {"/dav": args.root},
        "simple_dc": {"user_mapping": {"*": {args.user: {"password": args.password}}}},
        "http_authenticator": {
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "verbose": 1,
        "logging": {"enable": False},
        "dir_browser": {"enable": False},
    }
    logging.basicConfig(level=logging.WARNING)
    server = wsgi.Server(("127.0.0.1", args.port), WsgiDAVApp(config), numthreads=8)
    if args.cert:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        server.ssl_adapter = BuiltinSSLAdapter(args.cert, args.key)
    try:
        server.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
