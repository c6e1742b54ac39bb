/* SPDX-License-Identifier: MIT */
/*
 * Test harness: a fake guest memory shared by a driver and a device.
 *
 * The memory is one memfd mapped twice: the driver writes through one
 * mapping and the device (through its gmem table) reads the other, at a
 * different host address, as with a real VMM and backend (STYLE lesson 14).
 *
 * Layout in guest physical space, starting at TGM_GPA_BASE:
 *   [ring area: one region, for rings and indirect tables]
 *   [buffer area: one region, or many regions of buf_region_bytes]
 * When buf_region_bytes is a multiple of the page size, each buffer region
 * is mapped separately on the device side with an unmapped guard page
 * between neighbours: code that assumes two gpa-adjacent regions are
 * host-adjacent faults at once. Smaller buf_region_bytes split one mapping
 * into many tiny regions (the most splitting the translator can see).
 */
#ifndef VQNET_TEST_GUESTMEM_H
#define VQNET_TEST_GUESTMEM_H

#include <stddef.h>
#include <stdint.h>

#include <vqnet/gmem.h>
#include <vqnet/virtq.h>

#define TGM_GPA_BASE 0x100000000ull

struct tgm {
	int fd;
	size_t ring_bytes, buf_bytes, total;
	uint8_t *drv_view;    /* driver's mapping of the whole memory */
	uint8_t *dev_view;    /* device's mapping (contiguous case) */
	uint8_t *dev_reserve; /* device's reserved area (fragmented case) */
	size_t dev_reserve_len;
	struct gmem_table *mem; /* the device's table; one reference owned here */
	size_t ring_next;	/* bump allocator in the ring area (offset) */
	unsigned nregions;
};

/* Create: 0 or -errno. buf_region_bytes 0 = one buffer region. */
int tgm_init(struct tgm *g, size_t ring_bytes, size_t buf_bytes, size_t buf_region_bytes);
void tgm_fini(struct tgm *g);

/* Allocate in the ring area; returns the gpa (0 when full). */
uint64_t tgm_ring_alloc(struct tgm *g, size_t bytes, size_t align);
/* First gpa of the buffer area and its size. */
uint64_t tgm_buf_gpa(const struct tgm *g);
/* Driver-side pointer for a gpa (any area); NULL if outside. */
void *tgm_drv_ptr(const struct tgm *g, uint64_t gpa);

/* A ring laid out in the ring area. */
struct tring {
	enum vq_format format;
	uint32_t size;
	uint64_t desc_gpa, driver_gpa, device_gpa;
	uint64_t indirect_gpa; /* 0 when indirect_max == 0 */
	uint32_t indirect_max;
};

int tring_alloc(struct tgm *g, struct tring *r, enum vq_format format, uint32_t size,
		uint32_t indirect_max);
/* Device side on the ring (vq_new with g->mem). Returns vq_new's code. */
int tring_device(struct tgm *g, const struct tring *r, uint64_t features, enum vq_dir dir,
		 uint32_t max_chain, struct vq **out);
/* Driver side on the ring (vq_drv_new over the driver mapping). */
int tring_driver(struct tgm *g, const struct tring *r, uint64_t features, struct vq_drv **out);

/* Small deterministic PRNG for tests (xorshift64*). */
static inline uint64_t trand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif
