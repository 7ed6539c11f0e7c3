#!/usr/bin/env python3
"""Writes a large Ethernet pcap (little-endian, microseconds, snaplen 262144) for benchmarks by
repeating the packets of the shared corpus's ordinary Ethernet captures.

usage: make-big-capture.py OUT [MEGABYTES]   (default 300; the corpus is found beside the repo
or through JITKIT_CORPUS)"""
import os
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.environ.get("JITKIT_CORPUS", os.path.join(root, "..", "shared", "corpus"))
out_path = sys.argv[1]
megabytes = int(sys.argv[2]) if len(sys.argv) > 2 else 300

chunk = bytearray()
with open(os.path.join(corpus, "tcpdump-tests.tsv")) as index:
    next(index)
    for line in index:
        name, linktype = line.split("\t")[:2]
        if linktype != "EN10MB" or not name.endswith(".pcap"):
            continue
        data = open(os.path.join(corpus, "tcpdump-tests", name), "rb").read()
        magic, major, minor, _, _, snaplen, link = struct.unpack("<IHHiIII", data[:24])
        if magic != 0xA1B2C3D4 or (major, minor) != (2, 4) or link != 1:
            continue
        at = 24
        while at + 16 <= len(data):
            secs, usecs, caplen, wire = struct.unpack("<IIII", data[at:at + 16])
            end = at + 16 + caplen
            if end > len(data) or caplen > wire or caplen > snaplen or usecs >= 1000000:
                break
            chunk += data[at:end]
            at = end

header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
target = megabytes << 20
with open(out_path, "wb") as out:
    out.write(header)
    written = 0
    while written < target:
        out.write(chunk)
        written += len(chunk)
print(f"{out_path}: {(written + 24) >> 20} MB", file=sys.stderr)
