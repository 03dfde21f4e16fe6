// Package device is the player's sound-card output: a player.Output that
// plays through the system's sound device with miniaudio (through
// github.com/gen2brain/malgo, cgo), and the discovery the CLI needs to
// choose it: the playback devices, and whether one exists at all.
//
// It owns the device thread's side of playback: it converts rendered
// int32 samples into the device's buffer without allocating, and tells the
// renderer when each buffer's first frame will be heard on the player's
// clock (timeline.go), which is what keeps players in sync. It must not
// decide what to play or correct drift (internal/playout does), read the
// wall clock (the player's clock is injected), or hand out the backends'
// placeholder devices (miniaudio's null backend, ALSA's "null" PCM) as a
// sound device unless asked for by name: a player with no sound card says
// so instead of playing into nothing.
//
// It is the only package that imports malgo, so the cgo dependency stays
// out of everything else; miniaudio loads ALSA, PulseAudio or JACK at run
// time with dlopen, so building needs only gcc.
package device
