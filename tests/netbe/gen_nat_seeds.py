#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seeds for fuzz_nat_input.c (tests/netbe/corpus/nat_input/): one guest
conversation each, in the target's input format (see its top comment):
a config byte, then steps: a frame on pair 0 (op 0) or an rx() call on
pair 0 with 8 buffers of 2048 bytes (op 3).

  arp-request     ARP who-has 10.0.2.2, then rx
  dhcp-discover   DHCPDISCOVER, rx, DHCPREQUEST for 10.0.2.15, rx
  ndp-rs-ns       Router Solicitation, Neighbor Solicitation for fec0::2, rx
  dhcp6-solicit   DHCPv6 Solicit with a client id and IA_NA, rx
  tcp-syn-refused a SYN to 10.0.2.2:9 (nothing listens), rx, an ACK, rx
  tcp-syn6        a SYN to [fec0::2]:9 with MSS, window scale, SACK, rx
  udp-dns         a query to 10.0.2.3:53 (a closed port here), rx
  icmp-echo       an echo request to 10.0.2.2, rx
  udp-frag4       3000 bytes of UDP to 10.0.2.2:9 in three IPv4 fragments,
                  the last one first, rx
  udp-frag6       the same to [fec0::2]:9 in IPv6 fragments, rx
  icmp-frag       a 3000-byte echo request to 10.0.2.2 in fragments, rx
Regenerate: python3 tests/netbe/gen_nat_seeds.py
"""
import os
import struct

GUEST = bytes.fromhex("525400123456")
GW = bytes.fromhex("52550a000202")
BCAST = b"\xff" * 6
G4, GW4, DNS4 = bytes([10, 0, 2, 15]), bytes([10, 0, 2, 2]), bytes([10, 0, 2, 3])
LL6 = bytes.fromhex("fe800000000000005054 00fffe123456".replace(" ", ""))
G6 = bytes.fromhex("fec00000000000000000000000000015")
GW6 = bytes.fromhex("fec00000000000000000000000000002")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, l4):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + l4


def l4_v4(src, dst, proto, l4, off):
    ph = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    c = csum(ph + l4) if proto != 1 else csum(l4)
    return l4[:off] + struct.pack("!H", c) + l4[off + 2:]


def ipv6(src, dst, nh, l4, off, hlim=64):
    ph = src + dst + struct.pack("!I3xB", len(l4), nh)
    l4 = l4[:off] + struct.pack("!H", csum(ph + l4)) + l4[off + 2:]
    return struct.pack("!IHBB", 0x60000000, len(l4), nh, hlim) + src + dst + l4


def eth(dst, typ, payload):
    return dst + GUEST + struct.pack("!H", typ) + payload


def udp(sp, dp, data):
    return struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data


def tcp(sp, dp, seq, ack, flags, win=64240, opts=b""):
    doff = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, doff << 4, flags, win, 0, 0) + opts


def frags4(src, dst, proto, l4, ident, unit=1480):
    """IPv4 fragments of the transport datagram l4 (last one first)."""
    out = []
    for off in range(0, len(l4), unit):
        part = l4[off:off + unit]
        more = 0x2000 if off + unit < len(l4) else 0
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(part), ident, more | off // 8, 64,
                        proto, 0, src, dst)
        out.append(h[:10] + struct.pack("!H", csum(h)) + h[12:] + part)
    return out[-1:] + out[:-1]


def frags6(src, dst, nh, l4, ident, unit=1448):
    """IPv6 fragments (a Fragment header each) of l4, its checksum set."""
    out = []
    for off in range(0, len(l4), unit):
        part = l4[off:off + unit]
        fh = struct.pack("!BBHI", nh, 0, off | (1 if off + unit < len(l4) else 0), ident)
        out.append(struct.pack("!IHBB", 0x60000000, 8 + len(part), 44, 64) + src + dst + fh + part)
    return out[-1:] + out[:-1]


def step_frame(f):
    return bytes([0, 0, 0]) + struct.pack("<H", len(f)) + f


def step_rx():
    return bytes([3, 0, 7]) + struct.pack("<H", 2048) * 8


def dhcp(msgtype, extra=b""):
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, 0x1234, 0, 0x8000,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, GUEST + b"\0" * 10,
                        b"", b"")
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, msgtype]) + extra + b"\xff"
    u = udp(68, 67, bootp + opts)
    u = l4_v4(b"\0" * 4, b"\xff" * 4, 17, u, 6)
    return eth(BCAST, 0x0800, ipv4(b"\0" * 4, b"\xff" * 4, 17, u))


def seeds():
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, GUEST, G4, b"\0" * 6, GW4)
    yield "arp-request", [step_frame(eth(BCAST, 0x0806, arp + b"\0" * 18)), step_rx()]
    yield "dhcp-discover", [step_frame(dhcp(1)), step_rx(),
                            step_frame(dhcp(3, bytes([50, 4]) + G4 + bytes([54, 4]) + GW4)),
                            step_rx()]
    rs = struct.pack("!BBHI", 133, 0, 0, 0) + bytes([1, 1]) + GUEST
    ns = struct.pack("!BBHI", 135, 0, 0, 0) + GW6 + bytes([1, 1]) + GUEST
    snm = bytes.fromhex("ff0200000000000000000001ff000002")
    yield "ndp-rs-ns", [
        step_frame(eth(bytes.fromhex("333300000002"), 0x86DD,
                       ipv6(LL6, bytes.fromhex("ff020000000000000000000000000002"), 58, rs, 2, 255))),
        step_frame(eth(bytes.fromhex("3333ff000002"), 0x86DD, ipv6(LL6, snm, 58, ns, 2, 255))),
        step_rx()]
    sol = (struct.pack("!I", 0x01000001) + struct.pack("!HH", 1, 10) + struct.pack("!HH", 3, 1) + GUEST
           + struct.pack("!HH", 3, 12) + struct.pack("!III", 1, 0, 0))
    yield "dhcp6-solicit", [step_frame(eth(bytes.fromhex("333300010002"), 0x86DD,
                            ipv6(LL6, bytes.fromhex("ff020000000000000000000000010002"), 17,
                                 udp(546, 547, sol), 6))), step_rx()]
    syn = l4_v4(G4, GW4, 6, tcp(40000, 9, 1000, 0, 0x02), 16)
    ack = l4_v4(G4, GW4, 6, tcp(40000, 9, 1001, 1, 0x10), 16)
    yield "tcp-syn-refused", [step_frame(eth(GW, 0x0800, ipv4(G4, GW4, 6, syn))), step_rx(),
                              step_frame(eth(GW, 0x0800, ipv4(G4, GW4, 6, ack))), step_rx()]
    opts = bytes([2, 4, 0x05, 0xb4, 4, 2, 1, 3, 3, 7])
    opts += b"\0" * ((4 - len(opts) % 4) % 4)
    yield "tcp-syn6", [step_frame(eth(GW, 0x86DD, ipv6(G6, GW6, 6, tcp(40001, 9, 5, 0, 0x02, opts=opts), 16))),
                       step_rx()]
    q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack("!HH", 1, 1)
    yield "udp-dns", [step_frame(eth(GW, 0x0800, ipv4(G4, DNS4, 17, l4_v4(G4, DNS4, 17, udp(40002, 53, q), 6)))),
                      step_rx()]
    echo = l4_v4(G4, GW4, 1, struct.pack("!BBHHH", 8, 0, 0, 0x77, 1) + b"ping" * 8, 2)
    yield "icmp-echo", [step_frame(eth(GW, 0x0800, ipv4(G4, GW4, 1, echo))), step_rx()]
    big = bytes(range(256)) * 12
    u4 = l4_v4(G4, GW4, 17, udp(40003, 9, big[:3000]), 6)
    yield "udp-frag4", [step_frame(eth(GW, 0x0800, f)) for f in frags4(G4, GW4, 17, u4, 7)] + [step_rx()]
    u6 = udp(40004, 9, big[:3000])
    ph = G6 + GW6 + struct.pack("!I3xB", len(u6), 17)
    u6 = u6[:6] + struct.pack("!H", csum(ph + u6)) + u6[8:]
    yield "udp-frag6", [step_frame(eth(GW, 0x86DD, f)) for f in frags6(G6, GW6, 17, u6, 8)] + [step_rx()]
    e4 = l4_v4(G4, GW4, 1, struct.pack("!BBHHH", 8, 0, 0, 0x78, 1) + big[:3000], 2)
    yield "icmp-frag", [step_frame(eth(GW, 0x0800, f)) for f in frags4(G4, GW4, 1, e4, 9)] + [step_rx()]


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "nat_input")
    os.makedirs(out, exist_ok=True)
    for name, steps in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([1]) + b"".join(steps))


if __name__ == "__main__":
    main()
