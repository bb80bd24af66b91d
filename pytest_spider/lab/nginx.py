"""nginx as the lab's real web server: HTTP/1.1, TLS with h1+h2, and TLS with h1 only.

The configuration is generated into the lab's work directory (pid, logs and temp files there
too) and nginx runs in the foreground as a child the lab owns. It listens on the wildcard
addresses, so every address of every server block is served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pytest_spider.lab.certs import Certs

#: Port of each nginx service.
PORTS: Final = {"http": 80, "https": 443, "https_h1": 8443}
#: The body every request gets: which protocol and which address:port the server saw.
BODY: Final = "pytest-spider lab $server_protocol $server_addr $server_port\\n"

_TEMPLATE: Final = """\
daemon off;
worker_processes 2;
worker_rlimit_nofile 16384;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    server_tokens off;
    default_type text/plain;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    ssl_certificate {cert};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate_key {key};
    server {{
        listen {http} fastopen=256;
        listen [::]:{http} ipv6only=on fastopen=256;
        location / {{ return 200 "{body}"; }}
    }}
    server {{
        listen {https} ssl http2;
        listen [::]:{https} ssl http2 ipv6only=on;
        location / {{ return 200 "{body}"; }}
    }}
    server {{
        listen {https_h1} ssl;
        listen [::]:{https_h1} ssl ipv6only=on;
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


def configure(work: Path, certs: Certs) -> list[str]:
    """Write ``nginx.conf`` into ``work``; return the command that runs nginx with it."""
    conf = work / "nginx.conf"
    conf.write_text(_TEMPLATE.format(work=work, cert=certs.cert, key=certs.key, body=BODY, **PORTS))
    return ["nginx", "-p", str(work), "-c", str(conf), "-e", str(work / "nginx-error.log")]


def ready(work: Path) -> bool:
    """nginx writes its pid file once its sockets listen."""
    return (work / "nginx.pid").exists()
