/* SPDX-License-Identifier: MIT */
/*
 * What the device-side and driver-side unit fixtures (virtq_device_fx.h,
 * virtq_driver_fx.h) have in common: sizes, the hand-written buffer, the
 * format parameter of a test and the cmocka table entries that run a test
 * once per format (names ending in _split / _packed). The including
 * fixture defines fx_setup() and fx_teardown().
 */
#ifndef VQNET_TEST_VIRTQ_FX_H
#define VQNET_TEST_VIRTQ_FX_H

#include <stdbool.h>
#include <stdint.h>

#include <vqnet/virtq.h>

#define F(bit)	   (1ull << (bit))
#define RING_BYTES (256u * 1024)
#define BUF_BYTES  (256u * 1024)
#define NIOV	   16

static const enum vq_format fmt_split = VQ_FORMAT_SPLIT;
static const enum vq_format fmt_packed = VQ_FORMAT_PACKED;

/* A buffer the hand-played peer puts in a chain. */
struct hb {
	uint64_t gpa;
	uint32_t len;
	bool w;
};

/* A buffer's bytes through the device's mapping (a different host address
 * from the driver's), for fixtures with a struct tgm member `g`. */
#define bdev(f, off) ((f)->g.dev_view + (f)->g.ring_bytes + (off))

/* cmocka table entries: a test without fixture, once per format, both. */
#define T(f)                                                                                       \
	{                                                                                          \
#f, f, NULL, NULL, NULL                                                            \
	}
#define TS(f)                                                                                      \
	{                                                                                          \
#f "_split", f, fx_setup, fx_teardown, (void *)&fmt_split                          \
	}
#define TP(f)                                                                                      \
	{                                                                                          \
#f "_packed", f, fx_setup, fx_teardown, (void *)&fmt_packed                        \
	}
#define T2(f) TS(f), TP(f)

#endif
