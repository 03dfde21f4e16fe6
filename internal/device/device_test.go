package device

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// These tests run miniaudio's null backend: a real device thread paced by
// a real-time timer, without hardware, so the whole callback path runs as
// it does on a sound card.

func clock() func() int64 {
	start := time.Now()
	return func() int64 { return time.Since(start).Microseconds() + 1 }
}

// call is one render call as the output made it.
type call struct {
	start   int64
	samples []int32
}

// recorder renders a known pattern and records what it rendered and what
// reached the device buffer.
type recorder struct {
	f      audio.Format
	mu     sync.Mutex
	next   uint32
	calls  []call
	taps   [][]byte
	starts []int64 // per device buffer
	block  chan struct{}
}

// render fills samples with a counter in the top depth bits, so every
// value is exactly representable at the stream's depth.
func (r *recorder) render(out []int32, localStart int64) {
	if r.block != nil {
		<-r.block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range out {
		out[i] = int32(r.next << (32 - r.f.BitDepth))
		r.next++
	}
	r.calls = append(r.calls, call{localStart, append([]int32(nil), out...)})
}

func (r *recorder) tap(out []byte, localStart int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taps = append(r.taps, append([]byte(nil), out...))
	r.starts = append(r.starts, localStart)
}

func (r *recorder) buffers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.taps)
}

// waitBuffers waits until the device asked for n buffers.
func (r *recorder) waitBuffers(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.buffers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the device asked for %d buffers in 10 s, want %d", r.buffers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func nullOutput(r *recorder) *Output {
	return &Output{Options: Options{Backend: "null"}, Now: clock(), tap: r.tap}
}

// decode reads a device buffer back: s16 and s32 native-endian, s24
// packed little-endian (miniaudio's layouts).
func decode(b []byte, depth int) []int32 {
	var out []int32
	switch depth {
	case 16:
		for i := 0; i < len(b); i += 2 {
			out = append(out, int32(int16(binary.NativeEndian.Uint16(b[i:])))<<16)
		}
	case 24:
		for i := 0; i < len(b); i += 3 {
			out = append(out, int32(uint32(b[i])<<8|uint32(b[i+1])<<16|uint32(b[i+2])<<24))
		}
	case 32:
		for i := 0; i < len(b); i += 4 {
			out = append(out, int32(binary.NativeEndian.Uint32(b[i:])))
		}
	}
	return out
}

// TestNullBackend: the null backend is reachable by name (malgo's
// constant for it is off by one; see backendNull) and lists its device.
func TestNullBackend(t *testing.T) {
	devs, err := List(Options{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].Name != "NULL Playback Device" || !devs[0].Default || devs[0].Backend != "null" {
		t.Fatalf("null backend lists %v", devs)
	}
	d, err := Available(Options{Backend: "null"})
	if err != nil || d.Name != "NULL Playback Device" {
		t.Fatalf("Available: %v, %v", d, err)
	}
}

// TestFormats: in every format the device buffer holds exactly what
// render produced, in order, and render is called with whole frames.
func TestFormats(t *testing.T) {
	for _, rate := range []int{44100, 48000} {
		for _, ch := range []int{1, 2} {
			for _, depth := range []int{16, 24, 32} {
				f := audio.Format{SampleRate: rate, Channels: ch, BitDepth: depth}
				t.Run(f.String(), func(t *testing.T) {
					r := &recorder{f: f}
					s, err := nullOutput(r).OpenStream(f, r.render)
					if err != nil {
						t.Fatal(err)
					}
					r.waitBuffers(t, 10)
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if s.Info().Format != f || s.Info().Latency != 30*time.Millisecond || s.Info().Device.Backend != "null" {
						t.Fatalf("stream info %+v", s.Info())
					}
					var rendered, written []int32
					for _, c := range r.calls {
						if len(c.samples) == 0 || len(c.samples)%ch != 0 {
							t.Fatalf("render called with %d samples for %d channels", len(c.samples), ch)
						}
						rendered = append(rendered, c.samples...)
					}
					for _, b := range r.taps {
						if len(b)%(ch*depth/8) != 0 {
							t.Fatalf("device buffer of %d bytes is not whole frames", len(b))
						}
						written = append(written, decode(b, depth)...)
					}
					if len(rendered) == 0 || len(rendered) != len(written) {
						t.Fatalf("rendered %d samples, the device got %d", len(rendered), len(written))
					}
					for i := range rendered {
						if rendered[i] != written[i] {
							t.Fatalf("sample %d: rendered %#x, the device got %#x", i, rendered[i], written[i])
						}
					}
				})
			}
		}
	}
}

// TestTiming: on a real device thread, render's localStart follows the
// frames handed over at the stream's rate. The null backend's timer
// thread polls every 10 ms (miniaudio's ma_sleep(10)), so a callback may
// come up to 10 ms late; the timeline rejects most of that, but the window
// minimum can still move by that much, plus a period for the start-up
// burst and a margin for a loaded 2-core CI machine: 25 ms. A wrong rate
// (44.1 vs 48 kHz: 8%) or counting samples for frames (2x) is off by
// 100 ms or more within the run.
func TestTiming(t *testing.T) {
	f := audio.Format{SampleRate: 44100, Channels: 2, BitDepth: 16}
	r := &recorder{f: f}
	o := nullOutput(r)
	now := o.Now
	opened := now()
	s, err := o.OpenStream(f, r.render)
	if err != nil {
		t.Fatal(err)
	}
	r.waitBuffers(t, 150) // 1.5 s
	closed := now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	const tol = 25_000
	var frames int64
	first := r.calls[0].start
	for i, c := range r.calls {
		if i > 0 && c.start <= r.calls[i-1].start {
			t.Fatalf("call %d: localStart %d after %d", i, c.start, r.calls[i-1].start)
		}
		want := first + frames*1_000_000/int64(f.SampleRate)
		if d := c.start - want; d > tol || d < -tol {
			t.Fatalf("call %d after %d frames: localStart %d is %d µs off the frame timeline", i, frames, c.start, d)
		}
		frames += int64(len(c.samples) / f.Channels)
	}
	// The first frame is heard about a buffer after the device started.
	if d := first - opened - s.Info().Latency.Microseconds(); d > tol || d < -tol {
		t.Fatalf("first localStart %d µs after opening, want about the latency %v", first-opened, s.Info().Latency)
	}
	// The device consumed audio at the stream's rate: the frames handed
	// over span the run, give or take the buffer and the tolerance.
	span := frames * 1_000_000 / int64(f.SampleRate)
	if d := span - (closed - opened); d > tol+s.Info().Latency.Microseconds() || d < -tol {
		t.Fatalf("%d frames (%d µs) handed over in %d µs", frames, span, closed-opened)
	}
}

// TestCloseTwice: Close stops the callbacks, releases the device, and is
// safe to repeat; the same Output opens again afterwards.
func TestCloseTwice(t *testing.T) {
	f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	r := &recorder{f: f}
	o := nullOutput(r)
	for range 2 {
		s, err := o.Open(f, r.render)
		if err != nil {
			t.Fatal(err)
		}
		before := r.buffers()
		r.waitBuffers(t, before+3)
		if err := s.Err(); err != nil {
			t.Fatalf("Err while playing: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		n := r.buffers()
		time.Sleep(50 * time.Millisecond)
		if r.buffers() != n {
			t.Fatalf("callbacks after Close: %d -> %d", n, r.buffers())
		}
		if err := s.Err(); err != nil {
			t.Fatalf("Err after Close: %v", err)
		}
	}
}

// TestDeviceStopped: a device that stops without Close (unplugged, the
// sound server gone) is reported by Err and by Close, through miniaudio's
// stop callback.
func TestDeviceStopped(t *testing.T) {
	f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	r := &recorder{f: f}
	s, err := nullOutput(r).OpenStream(f, r.render)
	if err != nil {
		t.Fatal(err)
	}
	r.waitBuffers(t, 3)
	if err := s.dev.Stop(); err != nil { // what a lost device does
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Err still nil after the device stopped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(s.Err(), ErrStopped) {
		t.Fatalf("Err = %v, want ErrStopped", s.Err())
	}
	if err := s.Close(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Close = %v, want ErrStopped", err)
	}
	if err := s.Close(); !errors.Is(err, ErrStopped) {
		t.Fatalf("second Close = %v, want ErrStopped", err)
	}
}

// TestStall: a device that stops asking for audio without saying so is
// reported once the stall timeout passes.
func TestStall(t *testing.T) {
	f := audio.Format{SampleRate: 48000, Channels: 1, BitDepth: 16}
	r := &recorder{f: f, block: make(chan struct{})}
	o := nullOutput(r)
	o.stall = 100 * time.Millisecond
	s, err := o.OpenStream(f, r.render)
	if err != nil {
		t.Fatal(err)
	}
	// The first callback is now stuck in render.
	if err := s.Err(); err != nil {
		t.Fatalf("Err before the stall timeout: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no stall reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(s.Err(), ErrStalled) {
		t.Fatalf("Err = %v, want ErrStalled", s.Err())
	}
	close(r.block)
	if err := s.Close(); !errors.Is(err, ErrStalled) {
		t.Fatalf("Close = %v", err)
	}
}

// TestPickDevice: a device is chosen by ID, full name or a unique part of
// it; a name that matches nothing is an error naming what exists.
func TestPickDevice(t *testing.T) {
	f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	for _, name := range []string{"00", "NULL Playback Device", "null play"} {
		r := &recorder{f: f}
		o := nullOutput(r)
		o.Device = name
		s, err := o.OpenStream(f, r.render)
		if err != nil {
			t.Fatalf("device %q: %v", name, err)
		}
		r.waitBuffers(t, 2)
		if d := s.Info().Device; d.Name != "NULL Playback Device" || !d.named {
			t.Fatalf("device %q opened %+v", name, d)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{f: f}
	o := nullOutput(r)
	o.Device = "hw:9,9"
	_, err := o.Open(f, r.render)
	if err == nil || !strings.Contains(err.Error(), `no null playback device "hw:9,9"`) || !strings.Contains(err.Error(), `"NULL Playback Device"`) {
		t.Fatalf("unknown device: %v", err)
	}
	if errors.Is(err, ErrNoDevice) {
		t.Fatal("a misnamed device is not the absence of any device")
	}
	if _, err := Available(o.Options); err == nil {
		t.Fatal("Available found the misnamed device")
	}
}

// foreignBackend is a backend miniaudio does not build for this platform:
// a backend list with no devices, on any machine.
func foreignBackend() string {
	if runtime.GOOS == "linux" {
		return "wasapi"
	}
	return "alsa"
}

// TestNoDevice: with no device, List, Available, New and Open say so with
// an error that matches ErrNoDevice and tells the user what to do.
func TestNoDevice(t *testing.T) {
	o := Options{Backend: foreignBackend()}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "use --out wav:PATH or --out null") {
			t.Fatalf("%s: %v, want ErrNoDevice", what, err)
		}
	}
	_, err := List(o)
	check("List", err)
	_, err = Available(o)
	check("Available", err)
	_, _, err = New(o, clock())
	check("New", err)
	out := &Output{Options: o, Now: clock()}
	st, err := out.Open(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}, func([]int32, int64) {})
	check("Open", err)
	if st != nil {
		t.Fatal("Open returned a stream with its error")
	}
	if _, err := List(Options{Backend: "nosuch"}); err == nil || errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "pulseaudio") {
		t.Fatalf("unknown backend: %v", err)
	}
}

// TestDefaultBackends: the default backend list never offers a
// placeholder: on a machine without a sound card (CI: no ALSA or
// PulseAudio library, or ALSA without a card, which still lists its
// "null" PCM) it reports ErrNoDevice, and Open agrees; with a card it
// names a real backend's device.
func TestDefaultBackends(t *testing.T) {
	d, err := Available(Options{})
	if err != nil {
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("Available: %v, want a device or ErrNoDevice", err)
		}
		t.Logf("no device here: %v", err)
		_, err := (&Output{Now: clock()}).Open(audio48kStereo16, func([]int32, int64) {})
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("Open without a device: %v", err)
		}
		return
	}
	if d.Backend == "null" || d.ID == "null" {
		t.Fatalf("the default list offered a placeholder: %v", d)
	}
	devs, err := List(Options{})
	if err != nil || len(devs) == 0 {
		t.Fatalf("Available found %v but List says %v, %v", d, devs, err)
	}
}

// TestCallbackDoesNotAllocate: the callback path (timeline, render,
// conversion) allocates nothing, also when the device asks for more than
// the render buffer holds; then render is called in pieces whose starts
// follow the frames.
func TestCallbackDoesNotAllocate(t *testing.T) {
	for _, depth := range []int{16, 24, 32} {
		f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: depth}
		var starts []int64
		render := func(out []int32, localStart int64) {
			for i := range out {
				out[i] = int32(i) << 16
			}
			if starts != nil {
				starts = append(starts, localStart)
			}
		}
		s := newStream(&Output{Now: clock()}, f, false, render)
		frames := 5 * 480 // 2.5 render buffers
		out := make([]byte, frames*s.bpf)
		if a := testing.AllocsPerRun(100, func() { s.onData(out, nil, uint32(frames)) }); a != 0 {
			t.Fatalf("%d-bit: %v allocations per callback", depth, a)
		}
		starts = make([]int64, 0, 8)
		s.onData(out, nil, uint32(frames))
		if len(starts) != 3 || starts[1]-starts[0] != 20_000 || starts[2]-starts[1] != 20_000 {
			t.Fatalf("%d-bit: pieces start at %v, want 20 ms apart", depth, starts)
		}
		want := audio.AppendPCM(nil, []int32{0, 1 << 16, 2 << 16}, depth)
		if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && !bytes.Equal(out[:len(want)], want) {
			t.Fatalf("%d-bit: buffer starts % x, want % x", depth, out[:len(want)], want)
		}
	}
}
