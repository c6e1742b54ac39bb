/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the split ring device side (VIRTIO 1.2 §2.7) against
 * an input that is the whole guest-writable state plus a script of device
 * calls and guest rewrites. The engine and the input format are in
 * fuzz_device.c.
 */
#include "fuzz_device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_device_one(VQ_FORMAT_SPLIT, data, size);
}
