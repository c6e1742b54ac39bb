/* SPDX-License-Identifier: MIT */
/*
 * Shared engine of the device-side fuzz targets (fuzz_split_device.c,
 * fuzz_packed_device.c). See fuzz_device.c for the input format.
 */
#ifndef VQNET_FUZZ_DEVICE_H
#define VQNET_FUZZ_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include <vqnet/virtq.h>

/* libFuzzer's entry point, defined by each target. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Run one input against a device queue of @format. Aborts on a broken
 * invariant. Return: 0. */
int fuzz_device_one(enum vq_format format, const uint8_t *data, size_t size);

#endif
