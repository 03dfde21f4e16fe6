package device

import (
	"fmt"
	"strings"

	"github.com/gen2brain/malgo"
)

// backendNull is miniaudio's ma_backend_null. malgo v0.11.24's
// BackendNull constant is one short (it names ma_backend_custom, which
// malgo leaves unconfigured), so we name the value ourselves;
// TestNullBackend fails if a malgo upgrade changes the enumeration.
const backendNull = malgo.Backend(malgo.BackendNull + 1)

// backend is one of miniaudio's backends, as users name it.
type backend struct {
	name string
	id   malgo.Backend
	// pull: the backend asks for audio when it has room for it (a data
	// callback or loop); otherwise miniaudio writes to it with blocking
	// writes from its own thread. See timeline.go for why it matters.
	pull bool
}

// backends in miniaudio's default priority order. null is last and never
// tried unless asked for: it plays into nothing, on a timer.
var backends = []backend{
	{"wasapi", malgo.BackendWasapi, false},
	{"dsound", malgo.BackendDsound, true},
	{"winmm", malgo.BackendWinmm, false},
	{"coreaudio", malgo.BackendCoreaudio, true},
	{"sndio", malgo.BackendSndio, false},
	{"audio4", malgo.BackendAudio4, false},
	{"oss", malgo.BackendOss, false},
	{"pulseaudio", malgo.BackendPulseaudio, true},
	{"alsa", malgo.BackendAlsa, false},
	{"jack", malgo.BackendJack, true},
	{"aaudio", malgo.BackendAaudio, true},
	{"opensl", malgo.BackendOpensl, true},
	{"webaudio", malgo.BackendWebaudio, true},
	{"null", backendNull, false},
}

// Backends lists the names Options.Backend accepts, in the order an empty
// Options.Backend tries them (all but "null"). Which of them work depends
// on the platform and on the libraries installed.
func Backends() []string {
	names := make([]string, len(backends))
	for i, b := range backends {
		names[i] = b.name
	}
	return names
}

// candidates returns the backends an Options.Backend value stands for.
func candidates(name string) ([]backend, error) {
	if name == "" {
		return backends[:len(backends)-1], nil
	}
	for _, b := range backends {
		if strings.EqualFold(b.name, name) {
			return []backend{b}, nil
		}
	}
	return nil, fmt.Errorf("device: unknown backend %q (one of %s)", name, strings.Join(Backends(), ", "))
}
