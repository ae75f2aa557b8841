"""A minimal SMTP server for queue-notqmail.sh: accepts every message and
writes each to a file of its own in DIR, the envelope's recipients first
(an X-Sink-To: line each). Enough of RFC 5321 for qmail-remote.

usage: python smtp_sink.py DIR PORT
"""

import os
import socketserver
import sys
import tempfile

DIR = sys.argv[1]
PORT = int(sys.argv[2])


class Sink(socketserver.StreamRequestHandler):
    def handle(self):
        recipients = []
        self.wfile.write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"RCPT":
                recipients.append(line.split(b":", 1)[1].strip())
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = [b"X-Sink-To: " + to + b"\n" for to in recipients]
                recipients = []
                while True:
                    got = self.rfile.readline()
                    if got in (b".\r\n", b".\n", b""):
                        break
                    data.append(got)
                # a name no other message has, ever (a thread's ident and an
                # object's id are both reused: messages overwrote each other)
                fd, _ = tempfile.mkstemp(dir=DIR, prefix="msg.")
                with os.fdopen(fd, "wb") as out:
                    out.writelines(data)
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    # qmail-remote opens up to concurrencyremote (20) connections at once:
    # a backlog of 5 left some connected, never greeted, until its timeout
    allow_reuse_address = True
    request_queue_size = 128
    daemon_threads = True


with Server(("127.0.0.1", PORT), Sink) as server:
    server.serve_forever()
