package player

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/codec"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// A clock signal: every sample's value is the server time it is
// scheduled for, relative to the stream's start (τ, µs), as
// 1024·τ + 2^24 at 24 bits. It is never zero (silence), both channels
// carry it, and a linear ramp survives resampling, so each frame the
// player puts out says which instant of the timeline it is, whatever
// format it travelled in.
const (
	clockScale  = 1024
	clockOffset = 1 << 24
)

func clockValue(tau float64) int32 {
	q := math.Round((clockScale*tau + clockOffset) / 256)
	return int32(q) << 8
}

func clockTau(v int32) float64 { return (float64(v) - clockOffset) / clockScale }

// fcSegment is a run of the stream in one format. A segment marked clear
// goes on in the previous one's format after a stream/clear instead of a
// stream/start: the player drops everything before it.
type fcSegment struct {
	f      wire.AudioFormat
	frames int // a whole number of 20 ms chunks
	clear  bool
}

// formatChangeServer is a minimal server on the secure channel that
// activates the player and, as soon as it is available, sends the whole
// stream at once: a stream/start per segment (the first starts the
// stream, the others update it in place) followed by that segment's
// chunks, timestamped one after the other from t0 on. Everything is sent
// before the first chunk is due, so the player holds the earlier formats'
// audio when each update arrives.
type formatChangeServer struct {
	segments []fcSegment
	start    time.Time
	offset   int64
	t0       int64
	sent     chan struct{}
	err      error
}

func (s *formatChangeServer) now() int64 { return time.Since(s.start).Microseconds() + s.offset }

func (s *formatChangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer close(s.sent)
	tr, err := securechan.Accept(w, r)
	if err != nil {
		s.err = err
		return
	}
	id, _ := keys.GenerateIdentity(nil)
	c, err := securechan.ServerHandshake(context.Background(), tr, securechan.ServerConfig{Identity: id})
	if err != nil {
		s.err = err
		return
	}
	defer c.Close()
	_ = c.WriteMessage(&wire.ServerHello{Name: "Format Change Server"})
	available := answerPlayer(c, s.now, nil)
	select {
	case <-available:
	case <-time.After(10 * time.Second):
		s.err = fmt.Errorf("the player never became available")
		return
	}
	// A lead that sending the whole stream fits in even on a loaded
	// machine, so every format update finds the earlier audio buffered.
	s.t0 = s.now() + 800_000
	tau := 0.0 // µs from t0 of the segment's first frame
	var enc codec.Encoder
	for _, seg := range s.segments {
		var msg wire.Message
		if seg.clear {
			msg = &wire.StreamClear{ServerTransmitted: s.now(), Roles: []string{wire.StreamPlayer}}
		} else {
			enc, err = codec.NewEncoder(seg.f)
			if err != nil {
				s.err = err
				return
			}
			msg = &wire.StreamStart{ServerTransmitted: s.now(),
				Player: &wire.PlayerStream{AudioFormat: seg.f, CodecHeader: enc.CodecHeader()}}
		}
		if err := c.WriteMessage(msg); err != nil {
			s.err = err
			return
		}
		chunk := seg.f.SampleRate / 50 // 20 ms
		for k := 0; k*chunk < seg.frames; k++ {
			samples := make([]int32, 0, chunk*seg.f.Channels)
			for i := range chunk {
				v := clockValue(tau + float64(k*chunk+i)*1e6/float64(seg.f.SampleRate))
				for range seg.f.Channels {
					samples = append(samples, v)
				}
			}
			payload, err := enc.Encode(nil, samples)
			if err != nil {
				s.err = err
				return
			}
			ts := s.t0 + int64(tau) + int64(k*chunk)*1_000_000/int64(seg.f.SampleRate)
			err = c.Send(func(dst []byte) ([]byte, error) {
				return wire.AppendAudioChunk(dst, ts, wire.SendAheadAt(ts, s.now()), payload), nil
			})
			if err != nil {
				s.err = err
				return
			}
		}
		tau += float64(seg.frames) * 1e6 / float64(seg.f.SampleRate)
	}
	time.Sleep(time.Duration(tau)*time.Microsecond + time.Second)
}

// TestFormatChangeKeepsBufferedAudio: the server changes the stream's
// format mid-stream with a stream/start on the active stream while the
// player still holds the earlier formats' audio. The player must play
// that audio as it was received and the new format's chunks after it, on
// the same timeline (messaging.md "stream/start", roles/player/v1.md
// "stream/start player object"): its output is the clock signal without a
// hole, a jump or a repeat beyond the renderer's own corrections (and one
// one-shot resynchronization away from the changes, which a loaded machine
// can cause: see TestLosslessRoundTrips), every instant of the stream from
// its first frame to its last, each at its time. Where the format keeps the output's rate the output is the source
// bit for bit; where the rate changed it is the resampled ramp.
func TestFormatChangeKeepsBufferedAudio(t *testing.T) {
	pcm48 := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 24}
	flacMono48 := wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 1, BitDepth: 24}
	flacMono44 := wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 44100, Channels: 1, BitDepth: 24}
	pcm44 := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 44100, Channels: 2, BitDepth: 24}
	for _, tc := range []struct {
		name     string
		segments []fcSegment
	}{
		{"channels", []fcSegment{{pcm48, 24000, false}, {flacMono48, 24000, false}}},
		{"rate", []fcSegment{{pcm48, 24000, false}, {flacMono44, 22050, false}, {pcm44, 22050, false}, {pcm48, 24000, false}}},
		// A stream/clear in a converted format: what the converter held
		// goes with the rest, and the audio after the clear starts afresh.
		{"clear", []fcSegment{{pcm48, 24000, false}, {flacMono44, 22050, false}, {flacMono44, 22050, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &formatChangeServer{segments: tc.segments, start: time.Now(), offset: 3_000_000_000,
				sent: make(chan struct{})}
			h := httptest.NewServer(srv)
			defer h.Close()
			st, _ := store.Open(t.TempDir())
			defer st.Close()
			out := &captureOutput{}
			pl, err := New(Config{Store: st, UnpairedAccess: true, Output: out,
				Formats: []wire.AudioFormat{pcm48, flacMono48, flacMono44, pcm44}})
			if err != nil {
				t.Fatal(err)
			}
			out.now = pl.Now
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan struct{})
			go func() { defer close(done); _ = pl.Connect(ctx, "ws"+strings.TrimPrefix(h.URL, "http")) }()
			var total, from float64 // µs: the stream's length, where what plays starts
			for _, seg := range tc.segments {
				if seg.clear {
					from = total
				}
				total += float64(seg.frames) * 1e6 / float64(seg.f.SampleRate)
			}
			select {
			case <-srv.sent:
			case <-time.After(20 * time.Second):
				t.Fatal("the server did not finish")
			}
			if srv.err != nil {
				t.Fatal(srv.err)
			}
			// Server time = local time + offset, sampled while both run.
			offset := srv.now() - pl.Now()
			cancel()
			<-done
			checkClockOutput(t, out, tc.segments, srv.t0-offset, from, total)
		})
	}
}

// checkClockOutput checks what a player put out of the clock signal: the
// stream from µs from to total, t0 being its start on the player's clock.
func checkClockOutput(t *testing.T, out *captureOutput, segments []fcSegment, t0 int64, from, total float64) {
	t.Helper()
	out.mu.Lock()
	defer out.mu.Unlock()
	const rate = 48000 // every case starts at 48 kHz stereo: the output's format
	framePeriod := 1e6 / rate
	type frame struct {
		local float64 // µs from t0, on the player's clock
		tau   float64
		v     int32
	}
	var frames []frame
	for _, b := range out.blocks {
		for k := 0; k < len(b.samples)/2; k++ {
			l, r := b.samples[2*k], b.samples[2*k+1]
			if l != r {
				t.Fatalf("frame at %d µs: channels differ (%d, %d)", b.local, l, r)
			}
			frames = append(frames, frame{local: float64(b.local-t0) + float64(k)*framePeriod, tau: clockTau(l), v: l})
		}
	}
	first, last := -1, -1
	for i, f := range frames {
		if f.v != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatal("the player put out no audio")
	}
	// A segment the player does not convert (the output's rate) comes out
	// exactly: a frame of the source at its place on the 48 kHz grid.
	exact := func(tau float64) bool {
		var start float64
		for _, seg := range segments {
			end := start + float64(seg.frames)*1e6/float64(seg.f.SampleRate)
			if tau >= start-1 && tau < end-1 {
				return seg.f.SampleRate == rate
			}
			start = end
		}
		return false
	}
	// nearBoundary: within 10 ms of a format change.
	nearBoundary := func(tau float64) bool {
		var start float64
		for _, seg := range segments[:len(segments)-1] {
			start += float64(seg.frames) * 1e6 / float64(seg.f.SampleRate)
			if math.Abs(tau-start) < 10_000 {
				return true
			}
		}
		return false
	}
	var corrections, worstErr, worstRamp float64
	var syncErrs []float64
	resyncs := 0
	audio := frames[first : last+1]
	for i, f := range audio {
		if f.v == 0 {
			t.Fatalf("silence at %.0f µs of the stream, between its audio", f.local)
		}
		if exact(f.tau) {
			j := math.Round(f.tau / framePeriod)
			if want := clockValue(j * framePeriod); f.v != want {
				t.Fatalf("frame for %.2f µs is %d, the source's is %d", f.tau, f.v, want)
			}
		} else {
			// The resampled ramp: within a few µs of a point of the grid
			// that starts at its segment's start (a multiple of 20 ms here).
			worstRamp = max(worstRamp, math.Abs(f.tau-math.Round(f.tau/framePeriod)*framePeriod))
		}
		syncErrs = append(syncErrs, math.Abs(f.tau-f.local))
		if i == 0 {
			continue
		}
		step := (f.tau - audio[i-1].tau) / framePeriod // 1: the next frame
		n := math.Round(step)
		if math.Abs(step-n) > 0.25 || n < 0 || n > 3 {
			// One one-shot resynchronization of the renderer is allowed
			// (see TestLosslessRoundTrips), away from where the format
			// changed: a jump there is the change's.
			if resyncs > 0 || math.Abs(step) > 2400 || nearBoundary(f.tau) || nearBoundary(audio[i-1].tau) {
				t.Fatalf("discontinuity at %.0f µs of the stream: %.2f µs then %.2f µs", f.local, audio[i-1].tau, f.tau)
			}
			resyncs++
			t.Logf("resynchronized from %.2f µs to %.2f µs", audio[i-1].tau, f.tau)
			continue
		}
		worstErr = max(worstErr, math.Abs(step-n))
		corrections += math.Abs(n - 1) // frames the renderer dropped or repeated
	}
	sort.Float64s(syncErrs)
	p95 := syncErrs[len(syncErrs)*95/100]
	t.Logf("%d frames of audio, first for %.1f µs, last for %.1f µs of %.0f; %.0f frames corrected; "+
		"worst step error %.3f frames, resampled ramp within %.2f µs of the grid; sync error p95 %.0f µs, worst %.0f µs",
		len(audio), audio[0].tau, audio[len(audio)-1].tau, total, corrections, worstErr, worstRamp, p95, syncErrs[len(syncErrs)-1])
	if audio[0].tau < from-1 || audio[0].tau > from+1000 {
		t.Fatalf("the player's audio starts at %.0f µs of the stream, want %.0f", audio[0].tau, from)
	}
	if end := audio[len(audio)-1].tau; end < total-1000 {
		t.Fatalf("the stream's audio stops at %.0f µs of %.0f", end, total)
	}
	if corrections > 0.005*float64(len(audio)) {
		t.Fatalf("%.0f frames corrected, beyond the 0.5%% speed limit", corrections)
	}
	if worstRamp > 2 {
		t.Fatalf("resampled audio off the ramp by %.2f µs", worstRamp)
	}
	if p95 > 1000 {
		t.Fatalf("sync error %.0f µs at the 95th percentile, beyond the spec's 1 ms floor", p95)
	}
}
