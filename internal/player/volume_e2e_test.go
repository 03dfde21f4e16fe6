package player

import (
	"io"
	"math"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// level is a 48 kHz stereo source of one constant sample value: what the
// player puts out is then the gain it applies, sample for sample.
type level struct{ i, n int }

const levelValue = 1 << 30

func (s *level) Format() audio.Format {
	return audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 24}
}
func (s *level) Close() error { return nil }
func (s *level) Read(dst []int32) (int, error) {
	k := 0
	for k+1 < len(dst) && s.i < s.n {
		dst[k], dst[k+1] = levelValue, levelValue
		k += 2
		s.i++
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

// TestVolumeAtTheOutput: the operator sets a playing player's volume and
// mute through the real server (server/command over WebSocket), and the
// player's output samples follow: amplitude (volume/100)^1.5, silence
// while muted, a volume change while muted staying silent (it MUST NOT
// clear the mute), each change a ramp within one output block with no
// value outside the two levels (roles/player/v1.md "Player messages").
// The server then reads back what the player reported.
func TestVolumeAtTheOutput(t *testing.T) {
	rig := newCodecRig(t)
	p := rig.add(wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 24})
	id := p.pl.ID()
	if err := rig.srv.Play(&level{n: 48000 * 20}); err != nil {
		t.Fatal(err)
	}
	// heard waits until the output's latest block is all v.
	heard := func(what string, v int32) {
		t.Helper()
		waitFor(t, what, func() bool {
			p.out.mu.Lock()
			defer p.out.mu.Unlock()
			if len(p.out.blocks) == 0 {
				return false
			}
			for _, s := range p.out.blocks[len(p.out.blocks)-1].samples {
				if s != v {
					return false
				}
			}
			return true
		})
	}
	at := func(volume int) int32 { return int32(float64(levelValue) * math.Pow(float64(volume)/100, 1.5)) }
	heard("full level", levelValue)
	if err := rig.srv.SetVolume(id, 50); err != nil {
		t.Fatal(err)
	}
	heard("volume 50", at(50))
	if err := rig.srv.SetMute(id, true); err != nil {
		t.Fatal(err)
	}
	heard("mute", 0)
	p.out.mu.Lock()
	muted := len(p.out.blocks)
	p.out.mu.Unlock()
	if err := rig.srv.SetVolume(id, 30); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the player to take volume 30", func() bool { return p.pl.Status().Volume == 30 })
	time.Sleep(200 * time.Millisecond)
	p.out.mu.Lock()
	silent := p.out.blocks[muted:]
	for _, b := range silent {
		for _, v := range b.samples {
			if v != 0 {
				t.Fatalf("a volume command while muted made %d heard", v)
			}
		}
	}
	p.out.mu.Unlock()
	if len(silent) < 15 {
		t.Fatalf("only %d blocks while muted", len(silent))
	}
	if err := rig.srv.SetMute(id, false); err != nil {
		t.Fatal(err)
	}
	heard("unmuted at volume 30", at(30))
	waitFor(t, "the server to read back volume 30, unmuted", func() bool {
		v, m, err := rig.srv.GroupVolume(server.DefaultGroup)
		return err == nil && v == 30 && !m
	})
	rig.srv.Stop()

	// The output from its first sound on: runs of the levels in order,
	// joined by ramps inside one block.
	want := []int32{levelValue, at(50), 0, at(30)}
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	var out []int32
	for _, b := range p.out.blocks {
		for k := 0; k < len(b.samples); k += 2 {
			if b.samples[k] != b.samples[k+1] {
				t.Fatalf("channels differ: %d, %d", b.samples[k], b.samples[k+1])
			}
			if len(out) > 0 || b.samples[k] != 0 {
				out = append(out, b.samples[k])
			}
		}
	}
	type run struct {
		v     int32
		start int // index in out
		n     int
		ramp  bool
	}
	var runs []run
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j] == out[i] {
			j++
		}
		if j-i >= 48 { // a level held for 1 ms or more
			runs = append(runs, run{v: out[i], start: i, n: j - i})
		} else if len(runs) > 0 && runs[len(runs)-1].ramp {
			runs[len(runs)-1].n += j - i
		} else {
			runs = append(runs, run{v: out[i], start: i, n: j - i, ramp: true})
		}
		i = j
	}
	var levels []int32
	for i, r := range runs {
		if !r.ramp {
			levels = append(levels, r.v)
			continue
		}
		if r.n > 480 {
			t.Fatalf("a change took %d frames, more than a block", r.n)
		}
		if i == 0 || i == len(runs)-1 || runs[i+1].ramp {
			t.Fatalf("%d frames of changing output not between two levels", r.n)
		}
		// A ramp moves one way, from the level before to the one after.
		from, to := runs[i-1].v, runs[i+1].v
		prev := from
		for _, v := range out[r.start : r.start+r.n] {
			if (to > from && (v < prev || v > to)) || (to < from && (v > prev || v < to)) {
				t.Fatalf("a change from %d to %d passes through %d after %d", from, to, v, prev)
			}
			prev = v
		}
	}
	t.Logf("levels heard: %v (want %v, then the end of the stream)", levels, want)
	if len(levels) < len(want) {
		t.Fatalf("levels heard %v, want %v", levels, want)
	}
	for i, v := range want {
		if levels[i] != v {
			t.Fatalf("levels heard %v, want %v", levels, want)
		}
	}
	for _, v := range levels[len(want):] {
		if v != 0 && v != at(30) {
			t.Fatalf("levels heard %v, want %v then silence", levels, want)
		}
	}
}
