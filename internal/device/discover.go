package device

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gen2brain/malgo"
)

// ErrNoDevice reports that no sound output device exists: no backend
// could start, or none lists a playback device. Errors that say so match
// it with errors.Is; the player CLI falls back to the null output on it
// when the user did not ask for the device.
var ErrNoDevice = errors.New("device: no sound output device found (use --out wav:PATH or --out null)")

// ErrStopped reports a device that stopped without being closed.
var ErrStopped = errors.New("device: the sound device stopped playing (unplugged, or the sound server went away)")

// ErrStalled reports a device that stopped asking for audio.
var ErrStalled = errors.New("device: the sound device stopped asking for audio")

// noDevice is ErrNoDevice with the reason.
type noDevice struct{ why string }

func (e *noDevice) Error() string {
	return "device: no sound output device found (" + e.why + "; use --out wav:PATH or --out null)"
}

func (e *noDevice) Is(target error) bool { return target == ErrNoDevice }

// Options choose the backend and the device, and tune the buffer.
type Options struct {
	// Backend is one of Backends(), or empty for every real backend in
	// miniaudio's order: the first that starts and lists a playback
	// device is used. "null" (no hardware, on a timer) only by name.
	Backend string
	// Device picks a playback device by ID or name as List reports them,
	// or by a part of its name that matches one device only (case
	// ignored). Empty is the backend's default device.
	Device string
	// Period is the device period (0: 10 ms) and Periods how many make
	// the device buffer (0: 3). Smaller is less latency, more risk of
	// underruns; the timing accounts for either.
	Period  time.Duration
	Periods int
	// ExtraLatency is output delay before the port that the backend does
	// not report (a sound server's own buffering, a DAC); it is added to
	// the buffer's latency. Delay beyond the port is output_delay_ms.
	ExtraLatency time.Duration
	// Log gets miniaudio's diagnostics at debug level and the chosen
	// device and any format conversion at info level; nil discards.
	Log *slog.Logger
}

func (o Options) period() time.Duration {
	if o.Period == 0 {
		return defaultPeriod
	}
	return o.Period
}

func (o Options) periods() int {
	if o.Periods == 0 {
		return defaultPeriods
	}
	return o.Periods
}

func (o Options) validate() error {
	switch p := o.period(); {
	case p < minPeriod || p > maxPeriod:
		return fmt.Errorf("device: period %v is outside %v-%v", p, minPeriod, maxPeriod)
	case o.periods() < 2 || o.periods() > maxPeriods:
		return fmt.Errorf("device: %d periods is outside 2-%d", o.periods(), maxPeriods)
	case o.ExtraLatency < 0 || o.ExtraLatency > 5*time.Second:
		return fmt.Errorf("device: extra latency %v is outside 0-5s", o.ExtraLatency)
	}
	_, err := candidates(o.Backend)
	return err
}

func (o Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// Info describes a playback device.
type Info struct {
	Backend string // the backend's name, as Options.Backend takes it
	// ID is the backend's device ID: its text when it is text (ALSA's
	// "hw:0,0", a PulseAudio sink name), else hex.
	ID      string
	Name    string
	Default bool // the backend's default device

	id      malgo.DeviceID
	formats []malgo.DataFormat
	named   bool // picked by ID or name (else the backend's default)
}

func (i Info) String() string {
	s := fmt.Sprintf("%s: %s [%s]", i.Backend, i.Name, i.ID)
	if i.Default {
		s += " (default)"
	}
	return s
}

// idText renders a device ID as text when it is printable, else as hex.
func idText(id malgo.DeviceID) string {
	b := id[:]
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return id.String()
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return id.String()
		}
	}
	return string(b)
}

// placeholder reports a device that plays into nothing: ALSA's "null"
// PCM, which ALSA lists even on a machine without a sound card.
func placeholder(b backend, id string) bool {
	return b.id == malgo.BackendAlsa && id == "null"
}

// session is an initialized miniaudio context and its playback devices.
type session struct {
	ctx     *malgo.AllocatedContext
	backend backend
	devices []Info
}

func (s *session) close() {
	_ = s.ctx.Uninit() // its only failure is a nil context
	s.ctx.Free()
}

// openSession starts the first candidate backend that lists a playback
// device.
func openSession(o Options) (*session, error) {
	cands, err := candidates(o.Backend)
	if err != nil {
		return nil, err
	}
	silenceALSA()
	log := o.log()
	var logProc malgo.LogProc
	if o.Log != nil {
		logProc = func(msg string) { log.Debug("miniaudio", "msg", strings.TrimSpace(msg)) }
	}
	var why []string
	for _, b := range cands {
		ctx, err := malgo.InitContext([]malgo.Backend{b.id}, malgo.ContextConfig{}, logProc)
		if err != nil {
			// Most candidates are not built for this platform or lack their
			// library; that is the normal case, not worth reporting.
			log.Debug("device: backend unavailable", "backend", b.name, "err", err)
			continue
		}
		s := &session{ctx: ctx, backend: b}
		devs, err := ctx.Devices(malgo.Playback)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: listing devices: %v", b.name, err))
			s.close()
			continue
		}
		for _, d := range devs {
			id := idText(d.ID)
			if placeholder(b, id) {
				continue
			}
			s.devices = append(s.devices, Info{Backend: b.name, ID: id, Name: d.Name(), Default: d.IsDefault != 0, id: d.ID, formats: d.Formats})
		}
		if len(s.devices) == 0 {
			why = append(why, b.name+": no playback device")
			s.close()
			continue
		}
		return s, nil
	}
	if len(why) == 0 {
		why = append(why, "no audio backend could start")
	}
	return nil, &noDevice{why: strings.Join(why, ", ")}
}

// pick returns the device Options.Device names, or the default.
func (s *session) pick(want string) (Info, error) {
	if want == "" {
		for _, d := range s.devices {
			if d.Default {
				return d, nil
			}
		}
		// The backend opens its default, which it did not list as such.
		return Info{Backend: s.backend.name, ID: "", Name: "default device", Default: true}, nil
	}
	for _, d := range s.devices {
		if d.ID == want || d.Name == want {
			d.named = true
			return d, nil
		}
	}
	var found []Info
	for _, d := range s.devices {
		if strings.Contains(strings.ToLower(d.Name), strings.ToLower(want)) {
			found = append(found, d)
		}
	}
	if len(found) == 1 {
		found[0].named = true
		return found[0], nil
	}
	have := make([]string, len(s.devices))
	for i, d := range s.devices {
		have[i] = fmt.Sprintf("%q", d.Name)
	}
	if len(found) > 1 {
		return Info{}, fmt.Errorf("device: %q matches %d %s devices; give the ID or the full name (have %s)", want, len(found), s.backend.name, strings.Join(have, ", "))
	}
	return Info{}, fmt.Errorf("device: no %s playback device %q (have %s)", s.backend.name, want, strings.Join(have, ", "))
}

// List returns the playback devices of the backend Options choose: the
// first of the candidates that lists any. Placeholder devices that play
// into nothing are left out. With none, the error matches ErrNoDevice.
func List(o Options) ([]Info, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	s, err := openSession(o)
	if err != nil {
		return nil, err
	}
	defer s.close()
	return s.devices, nil
}

// Available returns the device an Output with these options would play
// to, after checking that it opens. When there is none the error matches
// ErrNoDevice, and says why; the player CLI then falls back to the null
// output with a warning, unless the user asked for the device. Other
// errors are bad options (an unknown backend, a device name that matches
// nothing).
func Available(o Options) (Info, error) {
	if err := o.validate(); err != nil {
		return Info{}, err
	}
	s, err := openSession(o)
	if err != nil {
		return Info{}, err
	}
	defer s.close()
	d, err := s.pick(o.Device)
	if err != nil {
		return Info{}, err
	}
	// Listed is not openable: ALSA lists configured PCMs whose card or
	// sound server is gone. Opening without starting plays nothing.
	probe := audio48kStereo16
	cfg, release := deviceConfig(o, d, probe)
	defer release()
	dev, err := malgo.InitDevice(s.ctx.Context, cfg, malgo.DeviceCallbacks{Data: func(out, _ []byte, _ uint32) { clear(out) }})
	if err != nil {
		return Info{}, &noDevice{why: fmt.Sprintf("%s: opening %s: %v", d.Backend, d.Name, err)}
	}
	dev.Uninit()
	return d, nil
}
