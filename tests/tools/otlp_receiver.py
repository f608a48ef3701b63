#!/usr/bin/env python3
"""A small OTLP/HTTP trace receiver for tests.

    otlp_receiver.py PYDIR PORTFILE OUT [--status CODE]

PYDIR holds the opentelemetry-proto modules made by `protoc --python_out`.
Listens on 127.0.0.1 (a free port, written to PORTFILE), accepts POST
/v1/traces with a gzip'd protobuf ExportTraceServiceRequest, and appends one
JSON line per span to OUT. Anything else (path, content type, encoding, a
body that does not parse) is answered 400 and logged to stderr, so a test
sees it. With --status CODE every request is answered CODE after parsing."""
import gzip
import http.server
import json
import sys

pydir, portfile, out = sys.argv[1], sys.argv[2], sys.argv[3]
status = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--status" else 200
sys.path.insert(0, pydir)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402


def attr_value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        problem = None
        if self.path != "/v1/traces":
            problem = f"path {self.path}"
        elif self.headers.get("Content-Type") != "application/x-protobuf":
            problem = f"content type {self.headers.get('Content-Type')}"
        elif self.headers.get("Content-Encoding") != "gzip":
            problem = f"content encoding {self.headers.get('Content-Encoding')}"
        if problem is None:
            try:
                req = trace_service_pb2.ExportTraceServiceRequest()
                req.ParseFromString(gzip.decompress(body))
            except Exception as e:  # noqa: BLE001
                problem = f"body: {e}"
        if problem is not None:
            sys.stderr.write(f"otlp_receiver: bad request: {problem}\n")
            self.send_response(400)
            self.end_headers()
            return
        with open(out, "a") as f:
            for rs in req.resource_spans:
                resource = {kv.key: attr_value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        f.write(json.dumps({
                            "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                            "parent_span_id": s.parent_span_id.hex(), "name": s.name,
                            "kind": s.kind, "start": s.start_time_unix_nano,
                            "end": s.end_time_unix_nano,
                            "attributes": {kv.key: attr_value(kv.value) for kv in s.attributes},
                            "status": s.status.code, "status_message": s.status.message,
                            "resource": resource, "scope": ss.scope.name,
                            "auth": self.headers.get("Authorization"),
                        }) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
