#!/usr/bin/env python3
"""Stand-in for systemd's notify socket: binds a unix datagram socket at
argv[1] and appends every datagram it receives, one per line (newlines inside
a datagram become spaces), to argv[2] until killed."""
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "a", buffering=1) as f:
    f.write("listening\n")
    while True:
        data = s.recv(4096).decode()
        f.write(data.replace("\n", " ") + "\n")
