"""Self-contained servers for namespace labs (run with ``Network.serve``): DNS, HTTP, slow HTTP."""
# Each is a script of its own, sharing no code with the agent it measures; each prints "ready" once listening
# and runs until its namespace is deleted.

from __future__ import annotations

# DNS over UDP and TCP on every address given: argv[1] is JSON {"bind": [[host, port], ...],
# "names": {name: [IPv4 and IPv6 addresses, in order]}, "truncate": [names answered with TC over
# UDP]}. A name gets its A or AAAA records (maybe none: NOERROR), any other name NXDOMAIN.
DNS_SERVER = r"""
import json, socket, struct, sys, threading

config = json.loads(sys.argv[1])
names = {k.lower(): v for k, v in config["names"].items()}
truncate = {n.lower() for n in config.get("truncate", [])}

def question(query):
    labels, offset = [], 12
    while query[offset]:
        labels.append(query[offset + 1:offset + 1 + query[offset]].decode())
        offset += 1 + query[offset]
    qtype = struct.unpack_from("!H", query, offset + 1)[0]
    return ".".join(labels).lower(), qtype, offset + 5

def answer(query, over_udp):
    name, qtype, end = question(query)
    qid = struct.unpack_from("!H", query)[0]
    if name not in names:
        return struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + query[12:end]
    if over_udp and name in truncate:
        return struct.pack("!HHHHHH", qid, 0x8380, 1, 0, 0, 0) + query[12:end]
    family = {1: socket.AF_INET, 28: socket.AF_INET6}.get(qtype)
    wanted = [a for a in names[name] if (":" in a) == (qtype == 28)] if family else []
    records = [socket.inet_pton(family, a) for a in wanted]
    body = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 5, len(r)) + r for r in records)
    return struct.pack("!HHHHHH", qid, 0x8180, 1, len(records), 0, 0) + query[12:end] + body

def udp(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, port))
    def serve():
        while True:
            query, peer = sock.recvfrom(512)
            try:
                sock.sendto(answer(query, True), peer)
            except Exception:
                pass
    threading.Thread(target=serve, daemon=True).start()

def tcp(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(16)
    def one(connection):
        with connection:
            try:
                length = struct.unpack("!H", connection.recv(2))[0]
                reply = answer(connection.recv(length), False)
                connection.sendall(struct.pack("!H", len(reply)) + reply)
            except Exception:
                pass
    def serve():
        while True:
            connection, _ = sock.accept()
            threading.Thread(target=one, args=(connection,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()

for host, port in config["bind"]:
    udp(host, port)
    tcp(host, port)
print("ready", flush=True)
threading.Event().wait()
"""

# HTTP 200 to every GET on each [host, port] of argv[1] (JSON).
HTTP_SERVER = r"""
import json, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args):
        pass

class Server(ThreadingHTTPServer):
    request_queue_size = 128  # many checks connect at once; 5 (the default) would drop SYNs
    daemon_threads = True

class Server6(Server):
    address_family = socket.AF_INET6

for host, port in json.loads(sys.argv[1]):
    server = (Server6 if ":" in host else Server)((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

# Answers every connection on argv[1]:argv[2] with a status line and headers one byte every
# argv[3] seconds, for longer than any test runs.
SLOW_HEADER_SERVER = r"""
import socket, sys, threading, time

host, port, every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
sock = socket.socket(family, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((host, port))
sock.listen(64)

def trickle(connection):
    with connection:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100000:
            time.sleep(every)
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                return

def serve():
    while True:
        connection, _ = sock.accept()
        threading.Thread(target=trickle, args=(connection,), daemon=True).start()

threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""
