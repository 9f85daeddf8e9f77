#!/usr/bin/env python3
"""Capture the protobuf request bodies kubectl sends, into testdata/protobuf/.

A throwaway HTTP/1.1 proxy in front of the embedded API server (`cargo run --example apiserver
-- --plain`): it forwards every request unchanged and, for a request whose Content-Type is
application/vnd.kubernetes.protobuf, writes the body to <out>/<name>.pb. Run kubectl with a
kubeconfig pointing at the proxy; the server answers those requests 415 (that is fine: the body
is what we keep).

Usage: capture_kubectl.py <server host:port> <listen port> <out dir>
Each kubectl command is run by the caller with RUDDER_CAPTURE_NAME unset; the proxy names files
by the request path's last segment plus a counter, and the caller renames them.
"""
import os, socket, sys, threading

upstream_host, upstream_port = sys.argv[1].split(":")
listen_port = int(sys.argv[2])
out_dir = sys.argv[3]
counter = [0]
lock = threading.Lock()


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, rest[:length], headers


def handle(client):
    try:
        while True:
            got = read_request(client)
            if got[0] is None:
                return
            head, body, headers = got
            request_line = head.split(b"\r\n")[0].decode()
            if headers.get(b"content-type", b"").startswith(b"application/vnd.kubernetes.protobuf") and body:
                with lock:
                    counter[0] += 1
                    n = counter[0]
                method, path, _ = request_line.split(" ")
                name = f"{n:02d}-{method.lower()}-{path.split('?')[0].rstrip('/').split('/')[-1]}.pb"
                with open(os.path.join(out_dir, name), "wb") as fh:
                    fh.write(body)
                print("captured", name, len(body), "bytes", flush=True)
            up = socket.create_connection((upstream_host, int(upstream_port)))
            # One request per upstream connection keeps the relay simple.
            head = b"\r\n".join(l for l in head.split(b"\r\n") if not l.lower().startswith(b"connection:"))
            up.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
            response = b""
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                response += chunk
            up.close()
            client.sendall(response)
            return
    finally:
        client.close()


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", listen_port))
server.listen(16)
print("proxy on", listen_port, flush=True)
while True:
    c, _ = server.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
