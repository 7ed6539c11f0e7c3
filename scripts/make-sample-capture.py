#!/usr/bin/env python3
"""Writes samples/sample.pcap: a small, deterministic Ethernet capture of our own making.

A mix of what a network engineer filters every day: IPv4 and IPv6 TCP (web, ssh), UDP (DNS, NTP),
ICMP echo, ARP, and an 802.1Q-tagged frame, from a handful of hosts, with a few truncated records
(caplen < len). Run it again to regenerate the file; the output is byte-for-byte reproducible.
"""
import random
import struct
import sys

rng = random.Random(20261122)
SNAPLEN = 96  # short snap length so that some records are truncated like real captures


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data)//2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(n: int) -> bytes:
    return bytes([0x02, 0x00, 0x5E, 0x10, 0x00, n])


def ether(dst: bytes, src: bytes, etype: int, payload: bytes, vlan=None) -> bytes:
    if vlan is not None:
        return dst + src + struct.pack("!HHH", 0x8100, vlan, etype) + payload
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl=64) -> bytes:
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), rng.randrange(65536), 0x4000,
                      ttl, proto, 0, s, d)
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(src_last: int, dst_last: int, nxt: int, payload: bytes) -> bytes:
    s = bytes.fromhex("20010db8000000000000000000000000")[:-1] + bytes([src_last])
    d = bytes.fromhex("20010db8000000000000000000000000")[:-1] + bytes([dst_last])
    return struct.pack("!IHBB", 0x60000000, len(payload), nxt, 64) + s + d + payload


def tcp(sport: int, dport: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, rng.randrange(1 << 32), rng.randrange(1 << 32),
                       0x50, flags, 65535, 0, 0) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp_echo(kind: int, ident: int, seq: int) -> bytes:
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + bytes(range(32))
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def arp(op: int, sha: bytes, spa: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + bytes(int(x) for x in spa.split(".")) \
        + b"\0" * 6 + bytes(int(x) for x in tpa.split("."))


HOSTS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.10", "192.168.1.20", "172.16.5.4"]
GW = mac(1)


def packets():
    for i in range(240):
        n = rng.randrange(len(HOSTS))
        src, dst = HOSTS[n], HOSTS[(n + 1 + rng.randrange(len(HOSTS) - 1)) % len(HOSTS)]
        smac = mac(10 + n)
        kind = i % 12
        if kind in (0, 1, 2):
            port = [80, 443, 8080][kind]
            data = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" if kind == 0 else bytes(rng.randrange(200))
            flags = rng.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x04])
            yield ether(GW, smac, 0x0800, ipv4(src, dst, 6, tcp(40000 + i, port, flags, data)))
        elif kind == 3:
            yield ether(GW, smac, 0x0800, ipv4(src, dst, 6, tcp(50000 + i, 22, 0x18, bytes(48))))
        elif kind == 4:
            q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
            yield ether(GW, smac, 0x0800, ipv4(src, "10.0.0.53", 17, udp(33000 + i, 53, q)))
        elif kind == 5:
            yield ether(GW, smac, 0x0800, ipv4(src, dst, 17, udp(123, 123, bytes(48))))
        elif kind == 6:
            yield ether(GW, smac, 0x0800, ipv4(src, dst, 1, icmp_echo(8 if i % 24 < 12 else 0, 7, i)))
        elif kind == 7:
            yield ether(b"\xff" * 6, smac, 0x0806, arp(1, smac, src, dst))
        elif kind == 8:
            yield ether(GW, smac, 0x86DD, ipv6(n + 1, 0x53, 6, tcp(41000 + i, 443, 0x02)))
        elif kind == 9:
            yield ether(GW, smac, 0x86DD, ipv6(n + 1, 0x35, 17, udp(5353, 5353, bytes(30))))
        elif kind == 10:
            yield ether(GW, smac, 0x0800, ipv4(src, dst, 6, tcp(42000 + i, 80, 0x10)), vlan=100)
        else:
            yield ether(b"\x01\x00\x5e\x00\x00\xfb", smac, 0x0800,
                        ipv4(src, "224.0.0.251", 17, udp(5353, 5353, bytes(40)), ttl=1))


def main(path: str) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
        t = 1700000000
        for i, pkt in enumerate(packets()):
            cap = pkt[:SNAPLEN]
            f.write(struct.pack("<IIII", t + i // 10, (i * 37813) % 1000000, len(cap), len(pkt)))
            f.write(cap)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples/sample.pcap")
