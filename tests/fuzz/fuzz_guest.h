/* SPDX-License-Identifier: MIT */
/*
 * A guest for the fuzz targets that drive a device over rings: guest
 * memory as separate malloc()s of exact sizes (so ASan reports any access
 * one byte outside a region), and rings whose driver side is vqnet's own
 * honest driver (vq_drv) and whose device side is a struct vq over the
 * same memory. A target adds its regions and rings, builds the table,
 * starts the device sides, then posts chains with vq_drv and checks what
 * the device wrote. Every call aborts (FUZZ_CHECK) on a set-up failure.
 */
#ifndef VQNET_FUZZ_GUEST_H
#define VQNET_FUZZ_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vqnet/gmem.h>
#include <vqnet/virtq.h>

#define FG_NREG 16

struct fg_region {
	uint64_t gpa;
	size_t size;
	uint8_t *host;
};

struct fg_mem {
	struct fg_region reg[FG_NREG];
	unsigned nreg;
	struct gmem_table *t; /* NULL until fg_mem_table() */
};

/* Add a zeroed region of @size bytes at @gpa; return its index. */
unsigned fg_region_add(struct fg_mem *m, uint64_t gpa, size_t size);
/* Build the table of every region added. */
void fg_mem_table(struct fg_mem *m);
/* Host address of [gpa, gpa + len) when it lies in one region, else NULL. */
uint8_t *fg_host(const struct fg_mem *m, uint64_t gpa, uint64_t len);
void fg_mem_free(struct fg_mem *m);

/* One ring: its three parts (and indirect tables) as regions of @m. */
struct fg_ring {
	enum vq_format format;
	uint32_t size;
	uint64_t features; /* INDIRECT_DESC, EVENT_IDX, IN_ORDER as negotiated */
	uint32_t ind_max;  /* entries per indirect table, 0: none */
	unsigned desc_reg, drv_reg, dev_reg, ind_reg;
	struct vq_drv *drv;
	struct vq *vq; /* NULL until fg_ring_start() */
};

/* Lay out a ring at @gpa (parts 0x1000 apart or more, each its own
 * region) and create its driver side. */
void fg_ring_init(struct fg_ring *r, struct fg_mem *m, uint64_t gpa, enum vq_format format,
		  uint32_t size, uint64_t features, uint32_t ind_max);
/* After fg_mem_table(): the device side. */
void fg_ring_start(struct fg_ring *r, struct fg_mem *m, enum vq_dir dir);
void fg_ring_free(struct fg_ring *r);

/* A queue size from one input byte, at most @max (a power of two):
 * split, a power of two >= 2; packed, any size >= 1. */
uint32_t fg_pick_size(enum vq_format format, uint8_t x, unsigned max);
/* The ring format and features an input byte @ring picks: bit 0 packed,
 * bit 1 EVENT_IDX, bit 2 INDIRECT_DESC, bit 3 IN_ORDER; VERSION_1 always. */
enum vq_format fg_ring_format(uint8_t ring);
uint64_t fg_ring_features(uint8_t ring);

#endif
