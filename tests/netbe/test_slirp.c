/* SPDX-License-Identifier: MIT */
/* Being written: fails until it is. */
#include <stdio.h>
int main(void)
{
	puts("not written yet");
	return 1;
}
