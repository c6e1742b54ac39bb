#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Each seed is a small, valid input that reaches deep into one target: a good
chain, an indirect chain, a chain split over regions, IN_ORDER batches, a
packed ring wrapping several times, honest and lying devices for the
driver. The input formats are described at the top of fuzz_device.c and
fuzz_driver_reap.c. Run from anywhere: python3 tests/fuzz/gen_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

NEXT, WRITE, INDIRECT = 1, 2, 4
AVAIL, USED = 1 << 7, 1 << 15
EVENT_IDX, INDIRECT_F, IN_ORDER = 1, 2, 4
BUF0 = 0x40000  # gpa of buffer region 0 (device targets)

# device ops (op byte % 16)
POP, POP_BURST, PUSH1, PUSHB, PUSH_IO, PUSH_BOGUS = 0, 2, 3, 4, 5, 6
NOTIFY, ENABLE, DISABLE, PENDING, RAW, GDESC, GPUB, RESTART, DRAIN = 7, 8, 9, 10, 11, 12, 13, 14, 15
SET_MEM = 15 | 0x80


def split_desc(addr, ln, flags, nxt):
    return struct.pack('<QIHH', addr, ln, flags, nxt)


def packed_desc(addr, ln, ident, flags):
    return struct.pack('<QIHH', addr, ln, ident, flags)


def dev_header(size_sel, feat, dirn=0, max_chain=0, iov_cap=63, layout=0, rsel=7, image=b''):
    return bytes([size_sel, feat, dirn, max_chain, iov_cap, layout, rsel, 0]) + \
        struct.pack('<H', len(image)) + image


def split_image(size, descs, avail_ring, avail_idx, event_idx=False, bufs=b''):
    table = b''.join(descs).ljust(16 * size, b'\0')
    avail = struct.pack('<HH', 0, avail_idx) + b''.join(struct.pack('<H', h) for h in avail_ring)
    avail = avail.ljust(4 + 2 * size + (2 if event_idx else 0), b'\0')
    return table + avail + bufs


def packed_image(size, descs, bufs=b''):
    ring = b''.join(descs).ljust(16 * size, b'\0')
    return ring + struct.pack('<HH', 0, 0) + bufs


def push_one(len32, pick=0):
    return bytes([PUSH1, pick]) + struct.pack('<I', len32)


def buf(region, off, ln):
    """in_buffer(): region index (3 = first buffer region), offset, length."""
    return bytes([region]) + struct.pack('<HH', off, ln)


def split_publish(descs, mode_extra=0):
    """Structured split chain: descs = [(region, off, len, flags)]."""
    out = bytes([GPUB, (len(descs) - 1) | mode_extra])
    for region, off, ln, flags in descs:
        out += buf(region, off, ln) + bytes([flags])
    return out


def packed_publish(ident, descs, mode_extra=0):
    out = bytes([GPUB, (len(descs) - 1) | mode_extra]) + struct.pack('<H', ident)
    for region, off, ln, flags in descs:
        out += buf(region, off, ln) + bytes([flags])
    return out


def split_seeds():
    s = {}
    # One good chain: 100 readable + 200 writable bytes.
    img = split_image(8, [split_desc(BUF0, 100, NEXT, 1), split_desc(BUF0 + 0x100, 200, WRITE, 0)],
                      [0], 1)
    s['good-chain'] = dev_header(3, 0, image=img) + bytes([POP]) + push_one(150) + \
        bytes([NOTIFY, ENABLE, POP, PENDING])
    # An indirect chain: one ring descriptor pointing at a 3-entry table.
    table = split_desc(BUF0 + 0x100, 64, NEXT, 1) + split_desc(BUF0 + 0x200, 64, NEXT | WRITE, 2) + \
        split_desc(BUF0 + 0x300, 32, WRITE, 0)
    img = split_image(8, [split_desc(BUF0, 48, INDIRECT, 0)], [0], 1, bufs=table)
    s['indirect-chain'] = dev_header(3, INDIRECT_F, image=img) + bytes([POP]) + push_one(96) + \
        bytes([NOTIFY])
    # A 100-byte buffer over eight adjacent 16-byte regions (7 iovecs).
    img = split_image(4, [split_desc(BUF0 + 8, 100, 0, 0)], [0], 1)
    s['split-regions'] = dev_header(2, 0, layout=7 | 8, rsel=0, image=img) + \
        bytes([POP, PUSHB, 1, 0, 0, 0, 0, 0, NOTIFY])
    # EVENT_IDX + IN_ORDER through the structured guest: five chains,
    # popped, completed as one in-order batch, then a restart.
    script = b''
    for i in range(5):
        script += split_publish([(3, 0x30 * i, 16, 0), (4, 0x30 * i, 16, WRITE)])
    script += bytes([ENABLE, DRAIN, PUSH_IO, 5]) + struct.pack('<I', 8) + \
        bytes([NOTIFY, RESTART, DRAIN, SET_MEM, 0xff, 0x7f])
    s['event-idx-in-order'] = dev_header(4, EVENT_IDX | IN_ORDER, layout=1, rsel=4,
                                         image=b'') + script
    # Many small chains completed out of order in bursts.
    script = b''
    for i in range(8):
        script += split_publish([(3, 0x20 * i, 8, 0), (3, 0x100 + 0x20 * i, 8, WRITE)])
    script += bytes([POP_BURST, 7, POP_BURST, 7, PUSHB, 2])
    for pick, ln in ((5, 0), (2, 3), (7, 8)):  # three held chains, shuffled
        script += bytes([pick]) + struct.pack('<I', ln)
    script += bytes([NOTIFY, DISABLE, POP, ENABLE])
    s['out-of-order-bursts'] = dev_header(4, 0, rsel=6) + script
    return s


def packed_seeds():
    s = {}
    # One good two-descriptor list, buffer id 5.
    img = packed_image(8, [packed_desc(BUF0, 100, 5, AVAIL | NEXT),
                           packed_desc(BUF0 + 0x100, 200, 5, AVAIL | WRITE)])
    s['good-chain'] = dev_header(7, 0, image=img) + bytes([POP]) + push_one(150) + \
        bytes([NOTIFY, ENABLE, POP, PENDING])
    # An indirect descriptor: a 3-entry table (only WRITE counts in it).
    table = packed_desc(BUF0 + 0x100, 64, 0, 0) + packed_desc(BUF0 + 0x200, 64, 0, WRITE) + \
        packed_desc(BUF0 + 0x300, 32, 0, WRITE)
    img = packed_image(8, [packed_desc(BUF0, 48, 2, AVAIL | INDIRECT)], bufs=table)
    s['indirect-chain'] = dev_header(7, INDIRECT_F, image=img) + bytes([POP]) + push_one(96) + \
        bytes([NOTIFY])
    # A ring of 3 wrapping several times: two-descriptor lists published,
    # popped and completed, ids reused.
    script = b''
    for i in range(7):
        script += packed_publish(i % 3, [(3, 0x20 * i, 24, 0), (3, 0x100 + 0x20 * i, 24, WRITE)])
        script += bytes([POP]) + push_one(10)
        if i % 2:
            script += bytes([NOTIFY, ENABLE])
    s['wrap-ring'] = dev_header(2, EVENT_IDX, rsel=5) + script
    # IN_ORDER with a batch completion, lists of 1..3 descriptors, size 5.
    script = b''
    for i, n in enumerate((1, 2, 1)):
        script += packed_publish(i, [(3, 0x30 * (3 * i + k), 16, WRITE if k else 0)
                                     for k in range(n)])
    script += bytes([DRAIN, PUSH_IO, 3]) + struct.pack('<I', 4) + bytes([NOTIFY, RESTART])
    for i in range(3):
        script += packed_publish(i, [(3, 0x30 * i, 16, 0)]) + bytes([POP])
    script += bytes([PUSH_IO, 3, 0, 0, 0, 0])
    s['in-order-batch'] = dev_header(4, IN_ORDER | EVENT_IDX, rsel=6) + script
    # A list crossing two adjacent 32-byte regions.
    img = packed_image(4, [packed_desc(BUF0 + 20, 30, 1, AVAIL | WRITE)])
    s['packed-regions'] = dev_header(3, 0, dirn=2, layout=1 | 8, rsel=1, image=img) + \
        bytes([POP]) + push_one(30) + bytes([NOTIFY])
    return s


# driver ops (op byte & 15; the high nibble is the operation's own)
D_CHAIN, D_PUBLISH, D_KICK, D_REAP, D_HONEST, D_HOSTILE, D_RAW, D_NOTIFY = 0, 2, 3, 4, 6, 8, 9, 10
D_BURST = 12 | 0x10  # vq_drv_add_burst()


def d_chain(descs, indirect=False):
    """descs: [(writable, len_units)] (len = 1 + units * 37)."""
    spec = (len(descs) - 1) | (0x80 if indirect else 0)
    out = bytes([D_CHAIN, spec])
    for i, (w, units) in enumerate(descs):
        out += bytes([(units << 2) | (1 if w else 0), i])
    return out


def d_reap(n):
    return bytes([D_REAP | ((n - 1) << 4)])


def driver_seeds():
    s = {}
    # Split, 8 entries: chains, publish, honest out-of-order completions.
    script = b''
    for i in range(4):
        script += d_chain([(False, 1), (True, 2)])
    script += bytes([D_PUBLISH, D_KICK, D_HONEST, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0]) + d_reap(4)
    script += bytes([D_NOTIFY, D_HONEST, 1, 0, 5, 0, 0, 0, 0, 7, 0, 0, 0]) + d_reap(4)
    s['split-honest'] = bytes([0, 3, 4]) + script
    # Packed IN_ORDER + INDIRECT, size 5: batches wrapping the ring.
    script = b''
    for r in range(3):
        script += d_chain([(False, 1), (True, 1)]) + d_chain([(True, 3)], indirect=True) + \
            d_chain([(False, 2)])
        script += bytes([D_PUBLISH, D_KICK, D_HONEST, 6, 9, 0, 0, 0]) + d_reap(8)
    s['packed-in-order'] = bytes([1 | 4 | 8 | 16 | 2, 4, 3]) + script
    # Split IN_ORDER batches with EVENT_IDX.
    script = b''
    for r in range(3):
        for i in range(3):
            script += d_chain([(False, 1), (True, 1)])
        script += bytes([D_PUBLISH, D_KICK, D_HONEST, 6, 3, 0, 0, 0, D_NOTIFY]) + d_reap(2) + \
            d_reap(4)
    s['split-in-order'] = bytes([2 | 8, 4, 0]) + script
    # A lying device: used id out of range after a good completion.
    script = d_chain([(True, 1)]) + d_chain([(True, 1)]) + bytes([D_PUBLISH, D_HONEST, 0, 0, 3, 0,
                                                                  0, 0]) + d_reap(1)
    script += bytes([D_HOSTILE, 1]) + struct.pack('<I', 0x1234) + bytes([7, 0]) + d_reap(2) + \
        d_reap(1)
    s['split-hostile-id'] = bytes([0, 2, 0]) + script
    # Packed: a used descriptor longer than the buffer.
    script = d_chain([(False, 2), (True, 1)]) + bytes([D_PUBLISH, D_HOSTILE, 2, 0]) + \
        struct.pack('<I', 0xffff) + d_reap(1) + d_reap(1)
    s['packed-hostile-len'] = bytes([1, 6, 0]) + script
    return s


def known_bugs():
    """Inputs that reproduce open library bugs (see README.md): they fail
    under UBSan until fixed; then they belong in corpus/."""
    # An indirect table at an address that is not 8-byte aligned: the
    # entries are read through a misaligned struct virtq_desc pointer.
    table = b'\0\0' + split_desc(BUF0 + 0x100, 8, 0, 0)
    img = split_image(8, [split_desc(BUF0 + 2, 16, INDIRECT, 0)], [0], 1, bufs=table)
    split = dev_header(3, INDIRECT_F, image=img) + bytes([POP])
    table = b'\0\0' + packed_desc(BUF0 + 0x100, 8, 0, 0)
    img = packed_image(8, [packed_desc(BUF0 + 2, 16, 0, AVAIL | INDIRECT)], bufs=table)
    packed = dev_header(7, INDIRECT_F, image=img) + bytes([POP])
    return {'split_device': {'misaligned-indirect-table': split},
            'packed_device': {'misaligned-indirect-table': packed}}


def harness_regressions():
    """Inputs that once broke a target's own bookkeeping (not the library):
    replayed so the harness stays fixed."""
    # driver_reap: the untainted model's queue of expected completions was
    # filled by every honest completion but emptied by reaps only while
    # untainted, so after one device write into the used ring 512 honest
    # completions overflowed it. Split, IN_ORDER, 32 entries; the taint: a
    # raw write of one zero byte at offset 0 of the device area (used->flags);
    # then 17 rounds: a burst of 31 writable one-byte chains, publish, the
    # honest device completes them in batches of 4 (the last of 3) with
    # length 0, two reaps of 16.
    script = bytes([D_RAW, 2, 0, 0, 0, 0])
    for r in range(17):
        script += bytes([D_BURST, 0x80 | 31]) + bytes(31) + bytes([D_PUBLISH])
        for i in range(8):
            script += bytes([D_HONEST, 3 | 4]) + struct.pack('<I', 0)
        script += d_reap(16) + d_reap(16)
    return {'driver_reap': {'harness-expect-overflow-tainted': bytes([8, 5, 0]) + script}}


def write(target, sub, prefix, seeds):
    d = os.path.join(HERE, sub, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, prefix + name), 'wb') as f:
            f.write(data)
        print(f'{sub}/{target}/{prefix}{name}: {len(data)} bytes')


def main():
    # Inputs that once crashed the library stay as regression seeds.
    for target, seeds in known_bugs().items():
        write(target, 'corpus', 'regress-', seeds)
    for target, seeds in harness_regressions().items():
        write(target, 'corpus', 'regress-', seeds)
    for target, seeds in (('split_device', split_seeds()), ('packed_device', packed_seeds()),
                          ('driver_reap', driver_seeds())):
        write(target, 'corpus', 'seed-', seeds)


if __name__ == '__main__':
    main()
