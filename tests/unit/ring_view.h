/* SPDX-License-Identifier: MIT */
/*
 * Ring parts and buffers as the hand-played peer sees them, for unit-test
 * fixtures that have a struct tgm member `g` and a struct tring member `r`.
 * Every pointer goes through the driver's mapping of the fake guest memory.
 */
#ifndef VQNET_TEST_RING_VIEW_H
#define VQNET_TEST_RING_VIEW_H

#include "guestmem.h"
#include "spec/virtio_ring.h"

#define sdesc(f)       ((struct virtq_desc *)tgm_drv_ptr(&(f)->g, (f)->r.desc_gpa))
#define savail(f)      ((struct virtq_avail *)tgm_drv_ptr(&(f)->g, (f)->r.driver_gpa))
#define sused(f)       ((struct virtq_used *)tgm_drv_ptr(&(f)->g, (f)->r.device_gpa))
#define sused_event(f) (&savail(f)->ring[(f)->r.size])
/* The avail_event field trails the used ring (§2.7.8); a function, so the
 * cast stays out of the callers' aliasing analysis. */
static inline le16 *tview_avail_event(struct virtq_used *used, uint32_t size)
{
	return (le16 *)(void *)&used->ring[size];
}
#define savail_event(f) tview_avail_event(sused(f), (f)->r.size)
#define pdesc(f)	((struct pvirtq_desc *)tgm_drv_ptr(&(f)->g, (f)->r.desc_gpa))
#define pdrv_evt(f)	((struct pvirtq_event_suppress *)tgm_drv_ptr(&(f)->g, (f)->r.driver_gpa))
#define pdev_evt(f)	((struct pvirtq_event_suppress *)tgm_drv_ptr(&(f)->g, (f)->r.device_gpa))
/* A buffer at @off in the buffer area: its gpa, and its bytes. */
#define bgpa(f, off) (tgm_buf_gpa(&(f)->g) + (off))
#define bptr(f, off) ((uint8_t *)tgm_drv_ptr(&(f)->g, bgpa(f, off)))

#endif
