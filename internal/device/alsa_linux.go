package device

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// ALSA's library prints every configuration error to stderr: on a machine
// without a sound card, a screenful per attempt to open a device. We
// install a handler that drops them; miniaudio's log (Options.Log) still
// says what failed. The handle stays open so the handler outlives
// miniaudio's own load and unload of the library: dlopen shares one
// instance per process.
typedef void (*alsa_error_handler)(const char *file, int line, const char *function, int err, const char *fmt, ...);

static void tonearm_alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {}

static void tonearm_silence_alsa(void) {
	void *h = dlopen("libasound.so.2", RTLD_NOW);
	if (h == NULL) {
		return;
	}
	int (*set)(alsa_error_handler) = (int (*)(alsa_error_handler))dlsym(h, "snd_lib_error_set_handler");
	if (set != NULL) {
		set(tonearm_alsa_quiet);
	}
}
*/
import "C"

import "sync"

var alsaOnce sync.Once

// silenceALSA keeps libasound's error spew off stderr (see above); a no-op
// without the library.
func silenceALSA() { alsaOnce.Do(func() { C.tonearm_silence_alsa() }) }
