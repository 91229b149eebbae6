/* SPDX-License-Identifier: MIT */
/*
 * udb-lib-pc-test: a program built only with what udb-wayland.pc gives
 * (run-lib-tests compiles it with `pkg-config --cflags --libs
 * udb-wayland`): the public header, <drm_fourcc.h> for the format codes
 * (libdrm's cflags through the .pc), and the library. Needs no display.
 */
#include <drm_fourcc.h>
#include <stdio.h>
#include <string.h>

#include <udb-wayland.h>

int main(void)
{
	struct udb_wl_ctx_options opt = { .size = sizeof(opt) };
	char why[64];

	udb_wl_fallback_string(UDB_WL_FALLBACK_NO_DEVICE | UDB_WL_FALLBACK_FORMAT,
			       why, sizeof(why));
	printf("%s 0x%08x %u\n", why, (unsigned int)DRM_FORMAT_ARGB8888,
	       (unsigned int)opt.size);
	return strcmp(why, "no-device,format") ? 1 : 0;
}
