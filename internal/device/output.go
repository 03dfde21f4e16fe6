package device

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gen2brain/malgo"
	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/player"
)

var audio48kStereo16 = audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}

// Output plays streams through a sound device. Each Open starts the
// backend and the device afresh, so a device plugged in between streams is
// found, and Close leaves nothing behind.
type Output struct {
	Options
	// Now is the player's clock in µs (player.Player.Now).
	Now func() int64

	// For tests: tap sees each device buffer as written, with its start.
	tap func(out []byte, localStart int64)
	// stall overrides stallTimeout.
	stall time.Duration
}

var _ player.Output = (*Output)(nil)

// New returns an Output for the device the options choose, or an error
// matching ErrNoDevice when there is none.
func New(o Options, now func() int64) (*Output, Info, error) {
	if now == nil {
		return nil, Info{}, errors.New("device: no clock")
	}
	d, err := Available(o)
	if err != nil {
		return nil, Info{}, err
	}
	return &Output{Options: o, Now: now}, d, nil
}

// StreamInfo describes an open stream.
type StreamInfo struct {
	Device Info
	Format audio.Format
	// Latency is the delay the timing model puts between a callback and
	// its first frame: the device buffer, plus Options.ExtraLatency.
	Latency time.Duration
	// Converted: the device does not list the stream's format among its
	// native ones, so miniaudio converts (and may resample) on the way.
	// False also when the backend lists no native formats.
	Converted bool
}

// Open implements player.Output: it starts the device in the stream's
// format and calls render from the device's thread for every buffer.
func (o *Output) Open(f audio.Format, render func(out []int32, localStart int64)) (player.OutputStream, error) {
	s, err := o.OpenStream(f, render)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenStream is Open with the concrete stream.
func (o *Output) OpenStream(f audio.Format, render func(out []int32, localStart int64)) (*Stream, error) {
	if o.Now == nil || render == nil {
		return nil, errors.New("device: Output needs Now and a render function")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	sess, err := openSession(o.Options)
	if err != nil {
		return nil, err
	}
	d, err := sess.pick(o.Device)
	if err != nil {
		sess.close()
		return nil, err
	}
	s := newStream(o, f, sess.backend.pull, render)
	s.sess = sess
	s.info.Device = d
	s.info.Converted = converted(d.formats, f)
	cfg, release := deviceConfig(o.Options, d, f)
	dev, err := malgo.InitDevice(sess.ctx.Context, cfg, malgo.DeviceCallbacks{Data: s.onData, Stop: s.onStop})
	release()
	if err != nil {
		sess.close()
		return nil, fmt.Errorf("device: opening %s in %v: %w", d, f, err)
	}
	s.dev = dev
	log := o.log()
	log.Info("device: playing", "device", d.String(), "format", f.String(), "latency", s.info.Latency)
	if s.info.Converted {
		log.Info("device: the device does not take this format natively; miniaudio converts it", "device", d.String(), "format", f.String())
	}
	s.lastCall.Store(o.Now())
	if err := dev.Start(); err != nil {
		s.closing.Store(true)
		dev.Uninit()
		sess.close()
		return nil, fmt.Errorf("device: starting %s: %w", d, err)
	}
	return s, nil
}

// deviceConfig is the miniaudio configuration for playing f on d. The
// returned release frees what it allocated in C, once the device is
// initialized (miniaudio copies the device ID).
func deviceConfig(o Options, d Info, f audio.Format) (malgo.DeviceConfig, func()) {
	cfg := malgo.DefaultDeviceConfig(malgo.Playback)
	cfg.Playback.Format = formatOf(f.BitDepth)
	cfg.Playback.Channels = uint32(f.Channels)
	cfg.SampleRate = uint32(f.SampleRate)
	cfg.PeriodSizeInFrames = uint32(periodFrames(o, f.SampleRate))
	cfg.Periods = uint32(o.periods())
	cfg.PerformanceProfile = malgo.LowLatency
	// We write every byte of every buffer.
	cfg.NoPreSilencedOutputBuffer = 1
	// The callback gets what the device asks for when it asks: miniaudio's
	// fixed-size intermediary buffer would hold up to a period more in
	// front of the device, which the timing model cannot see.
	cfg.NoFixedSizedCallback = 1
	cfg.Pulse.StreamNamePlayback = streamName
	release := func() {}
	if d.named {
		p := d.id.Pointer() // C memory: a Go pointer may not sit in the C config
		cfg.Playback.DeviceID = p
		release = func() { freeC(p) }
	}
	return cfg, release
}

func formatOf(depth int) malgo.FormatType {
	switch depth {
	case 16:
		return malgo.FormatS16
	case 24:
		return malgo.FormatS24
	}
	return malgo.FormatS32
}

func periodFrames(o Options, rate int) int {
	return max(1, int(int64(rate)*int64(o.period())/int64(time.Second)))
}

// converted reports whether the device's native formats, when it lists
// any, leave out f. Zero channels or rate in a native format means any.
func converted(native []malgo.DataFormat, f audio.Format) bool {
	if len(native) == 0 {
		return false
	}
	for _, n := range native {
		if n.Format == formatOf(f.BitDepth) && (n.Channels == 0 || int(n.Channels) == f.Channels) &&
			(n.SampleRate == 0 || int(n.SampleRate) == f.SampleRate) {
			return false
		}
	}
	return true
}

// Stream is a playing device.
type Stream struct {
	info   StreamInfo
	sess   *session
	dev    *malgo.Device
	now    func() int64
	render func([]int32, int64)
	tap    func([]byte, int64)

	// Owned by the device thread (onData) once started.
	tl       *timeline
	scratch  []int32
	channels int
	depth    int
	bpf      int // bytes per frame in the device buffer

	closing  atomic.Bool
	lastCall atomic.Int64 // player clock of the last callback, µs
	stallUS  int64
	once     sync.Once
	mu       sync.Mutex
	err      error
}

// newStream prepares everything the callback needs, so it never
// allocates.
func newStream(o *Output, f audio.Format, pull bool, render func([]int32, int64)) *Stream {
	frames := periodFrames(o.Options, f.SampleRate)
	periods := o.periods()
	bufferUS := int64(frames*periods)*1_000_000/int64(f.SampleRate) + o.ExtraLatency.Microseconds()
	window := max(minWindowCallbacks, int(timelineWindow/o.period()))
	stall := stallTimeout
	if o.stall > 0 {
		stall = o.stall
	}
	s := &Stream{
		now: o.Now, render: render, tap: o.tap,
		tl:       newTimeline(f.SampleRate, bufferUS, pull, window),
		scratch:  make([]int32, scratchPeriods*frames*f.Channels),
		channels: f.Channels, depth: f.BitDepth, bpf: f.Channels * f.BitDepth / 8,
		stallUS: stall.Microseconds(),
	}
	s.info.Format = f
	s.info.Latency = time.Duration(bufferUS) * time.Microsecond
	return s
}

// Info describes the stream.
func (s *Stream) Info() StreamInfo { return s.info }

// onData is miniaudio's data callback, on the device thread: it renders
// the frames the device asks for, timed by the timeline, into its buffer.
func (s *Stream) onData(out, _ []byte, frameCount uint32) {
	now := s.now()
	s.lastCall.Store(now)
	frames := min(int(frameCount), len(out)/s.bpf)
	start := s.tl.start(now, frames)
	chunk := len(s.scratch) / s.channels
	for done := 0; done < frames; {
		n := min(frames-done, chunk)
		buf := s.scratch[:n*s.channels]
		s.render(buf, start+s.tl.usOf(int64(done)))
		encode(out[done*s.bpf:], buf, s.depth)
		done += n
	}
	if s.tap != nil {
		s.tap(out[:frames*s.bpf], start)
	}
}

// onStop is miniaudio's stop callback. After Close began it is ours;
// before, the device stopped on its own: a lost device, a dead server.
func (s *Stream) onStop() {
	if !s.closing.Load() {
		s.fail(ErrStopped)
	}
}

func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// Err reports a device failure that stopped playback: the device stopped
// on its own, or stopped asking for audio. It is cheap: the player asks
// for every chunk it receives.
func (s *Stream) Err() error {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil || s.closing.Load() {
		return err
	}
	if s.now()-s.lastCall.Load() > s.stallUS {
		s.fail(ErrStalled)
		return s.Err()
	}
	return nil
}

// Close stops the device, waiting for a callback in progress, and
// releases the device and the backend; later calls do nothing. It returns
// the failure Err reported, if any. It must not be called from render.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.closing.Store(true)
		s.dev.Uninit()
		s.sess.close()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
