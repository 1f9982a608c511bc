// SPDX-License-Identifier: GPL-2.0
/*
 * balloonctl: the program. Everything is in balloonctl_main(), which returns
 * instead of exiting, so that fuzz/fuzz_cli.c can run it once per input.
 */
#include "balloonctl.h"

int main(int argc, char **argv)
{
	return balloonctl_main(argc, argv);
}
