#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seed corpora of the targets inflight (tests/fuzz), tap_vnet_hdr and
dgram_rx (tests/netbe), driver_rx (tests/vnet_drv). Input formats: the top
of each target's file. (gen_corpus.py writes the ring targets' seeds,
tests/net_dev/gen_fuzz_corpus.py those of net_dev_datapath and
ctrlq_framing.) Run: python3 tests/fuzz/gen_seeds.py"""
import os
import struct

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write(subdir, target, name, data):
    d = os.path.join(TESTS, subdir, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(bytes(data))


# ---- inflight: f, qsize, phase A chains, region image, phase B ----------
def split_region(size, used_idx=0, last_batch=0, inflight=None):
    h = struct.pack('<QHHHH', 0, 1, size, last_batch, used_idx)
    body = b''
    for i in range(size):
        fl, nxt, cnt = (inflight or {}).get(i, (0, 0, 0))
        body += struct.pack('<B5xHQ', fl, nxt, cnt)
    return h + body


def packed_region(size, free_head=0, used_idx=0, wrap=1, descs=None):
    h = struct.pack('<QHHHHHHBB7x', 0, 1, size, free_head, free_head, used_idx, used_idx,
                    wrap, wrap)
    body = b''
    for i in range(size):
        d = (descs or {}).get(i, (0, (i + 1) % size, 0, 0, 0, 0, 0, 0, 0))
        body += struct.pack('<BxHHHQHHIQ', *d)
    return h + body


def inflight(f, qs, chains_a, region, n_b, pop_b, done_b):
    return (bytes([f, qs, len(chains_a)]) + bytes(chains_a) + struct.pack('<H', len(region)) +
            region + bytes([n_b]) + bytes(n_b) + bytes([pop_b, done_b]))


def gen_inflight():
    w = lambda name, data: write('fuzz', 'inflight', name, data)
    w('split-fresh', inflight(0, 2, [0, 1, 2, 0], b'', 4, 3, 1))
    # Heads 0 and 2 in flight, 2 popped first (counter 0).
    w('split-two-inflight',
      inflight(8, 2, [0] * 4, split_region(8, 0, 0, {0: (1, 0, 1), 2: (1, 0, 0)}), 6, 5, 2))
    # A batch of 2 published (used_idx 1 ahead) but not cleared.
    w('split-batch-unfinished',
      inflight(8, 2, [0, 0], split_region(8, 1, 0, {0: (1, 1, 0), 1: (1, 0, 1)}), 3, 2, 0))
    w('split-inorder', inflight(2 | 8, 3, [1] * 6, split_region(16), 8, 8, 3))
    w('packed-fresh', inflight(1, 7, [0, 1, 2, 0], b'', 4, 3, 1))
    w('packed-inorder-region', inflight(1 | 2 | 8, 7, [0] * 3, packed_region(8), 5, 4, 2))
    w('packed-one-inflight',
      inflight(1 | 8, 7, [0, 0],
               packed_region(8, 1, 0, 1, {0: (1, 1, 0, 1, 5, 0, 0x80, 64, 0x200000)}), 2, 2, 1))
    w('short-region', inflight(16 | 8, 2, [0, 0], split_region(8)[:100] + bytes([7]), 2, 1, 0))


# ---- tap_vnet_hdr: records of allowed, len, header -----------------------
def hdr(flags=0, gso=0, hl=0, gs=0, cs=0, co=0, nb=0):
    return struct.pack('<BBHHHHH', flags, gso, hl, gs, cs, co, nb)


def rec(allowed, ln, h):
    return bytes([allowed]) + struct.pack('<I', ln) + h


def gen_tap():
    w = lambda name, data: write('netbe', 'tap_vnet_hdr', name, data)
    w('plain', rec(0, 60, hdr()))
    w('csum-partial', rec(1, 100, hdr(1, 0, 0, 0, 34, 16)) + rec(0, 100, hdr(1, 0, 0, 0, 34, 16)) +
      rec(1, 49, hdr(1, 0, 0, 0, 34, 16)))
    w('csum-boundary', rec(1, 51, hdr(1, 0, 0, 0, 34, 16)) + rec(1, 52, hdr(1, 0, 0, 0, 34, 16)) +
      rec(1, 0xffffffff, hdr(1, 0, 0, 0, 0xffff, 0xffff)))
    w('data-valid', rec(1, 60, hdr(2)) + rec(0, 60, hdr(2)) + rec(0x1f, 60, hdr(4)))
    w('gso-types', rec(0x1f, 3000, hdr(1, 1, 54, 1448, 34, 16)) +
      rec(0x1f, 3000, hdr(1, 4, 74, 1428, 54, 16)) + rec(0x1f, 3000, hdr(1, 3, 42, 1472, 34, 6)) +
      rec(0x1f, 3000, hdr(1, 0x81, 54, 1448, 34, 16)) +
      rec(0x07, 3000, hdr(1, 0x81, 54, 1448, 34, 16)) + rec(0x1f, 3000, hdr(0, 1, 54, 0, 0, 0)) +
      rec(0x1f, 60, hdr(0, 0x80)) + rec(0x1f, 60, hdr(0, 5)))


# ---- dgram_rx: datagrams, then rx() calls ---------------------------------
def dg(ln, seed):
    return struct.pack('<H', ln) + bytes([seed])


def call(q, caps):
    return bytes([len(caps) - 1, q]) + b''.join(struct.pack('<H', c) for c in caps)


def gen_dgram():
    w = lambda name, data: write('netbe', 'dgram_rx', name, data)
    w('one-frame', bytes([1]) + dg(60, 7) + call(0, [1514]))
    w('runt-trunc-fit', bytes([4]) + dg(10, 1) + dg(2000, 2) + dg(60, 3) + dg(0, 4) +
      call(0, [1514] * 4))
    w('small-then-big-bufs', bytes([3]) + dg(500, 1) + dg(100, 2) + dg(1000, 3) +
      call(0, [200, 600, 2000]) + call(0, [2000]))
    w('other-pairs', bytes([2]) + dg(64, 1) + dg(64, 2) + call(1, [100]) + call(2, [100]) +
      call(0, [100, 100]))
    w('jumbo', bytes([2]) + struct.pack('<H', 65100) + bytes([9]) + dg(9000, 5) +
      call(0, [9999, 9999]))


# ---- driver_rx: ring set-up, then device and driver operations -----------
FULL = 0x8000  # length: the chain's writable length minus the low bits


def fill(chains):
    b = bytes([0, len(chains) - 1])
    for nb, fl, g, lm in chains:
        b += struct.pack('<HBBH', nb, fl, g, lm)
    return b


def burst(n):
    return bytes([2, n - 1])


def gen_driver_rx():
    w = lambda name, data: write('vnet_drv', 'driver_rx', name, data)
    # split, MRG_RXBUF, 8 entries, 16 buffers of 2048 bytes
    w('mrg-three-buffers', bytes([2, 2, 15, 30, 0]) +
      fill([(3, 0, 0, FULL), (1, 0, 0, FULL), (1, 0, 0, 500)]) + burst(8))
    w('mrg-honest-small', bytes([2, 2, 15, 30, 0]) + fill([(1, 0, 0, 100), (1, 1, 0, FULL | 1)]) +
      burst(4) + fill([(1, 0, 0, 60)]) + burst(1))
    w('chain-3-bufs', bytes([0, 2, 30, 2, 2]) + fill([(1, 0, 0, 300), (1, 0, 0, FULL)]) + burst(4))
    w('packed-mrg-inorder', bytes([0x0b, 7, 31, 4, 0]) + bytes([1, 3]) + struct.pack('<H', 100) +
      burst(8))
    w('mrg-lying-num-buffers', bytes([2, 2, 15, 0, 0]) + fill([(60, 0, 0, FULL), (0, 0, 0, FULL)]) +
      burst(8) + fill([(2, 0, 0, 40)]) + burst(8))
    w('lying-len', bytes([0, 2, 15, 0, 0]) + fill([(1, 0, 0, 0x7fff)]) + burst(8))
    w('out-of-order', bytes([2, 3, 15, 0, 0]) + bytes([4, 3]) + struct.pack('<H', 200) + burst(8))


gen_inflight()
gen_tap()
gen_dgram()
gen_driver_rx()
