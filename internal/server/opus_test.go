//go:build opus

package server

import (
	"io"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/codec"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// shortTone is the test signal cut to frames frames.
type shortTone struct {
	*audio.Tone
	left int
}

func (s *shortTone) Read(dst []int32) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	dst = dst[:min(len(dst), s.left*2)]
	n, err := s.Tone.Read(dst)
	s.left -= n / 2
	return n, err
}

// TestOpusLastShortChunk: a source that ends mid-chunk still reaches an
// Opus player whole. Opus codes only some durations, so the short last
// chunk (1000 frames) goes out padded with silence to the next one, 40 ms
// (it used to fail to encode and never go out), stamped earlier by the
// encoder's delay like every Opus chunk, before the stream ends.
func TestOpusLastShortChunk(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	opusF := wire.AudioFormat{Codec: wire.CodecOpus, SampleRate: 48000, Channels: 2, BitDepth: 16}
	// A player lists pcm or flac besides opus (roles/player/v1.md); the
	// server takes the first it can produce.
	tc.formats = []wire.AudioFormat{opusF, {Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16}}
	tc.connect(t, ts.url)
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	tc.activation(t)
	tc.state(t, true, 0)
	tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
	if err != nil {
		t.Fatal(err)
	}
	const frames = 4800*2 + 1000 // two whole chunks and 1000 frames
	if err := ts.s.Play(&shortTone{Tone: tone, left: frames}); err != nil {
		t.Fatal(err)
	}
	seq := tc.until(t, wire.TypeStreamEnd)
	dec, err := codec.NewDecoder(wire.StreamFormat{AudioFormat: opusF})
	if err != nil {
		t.Fatal(err)
	}
	var stamps []int64
	decoded := 0
	for _, r := range seq {
		if r.typ != "" || r.id != wire.IDAudioChunk {
			continue
		}
		ch, err := wire.ParseAudioChunk(r.in.Data)
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.Decode(nil, ch.Audio)
		if err != nil {
			t.Fatalf("chunk %d: %v", len(stamps), err)
		}
		decoded += len(out) / 2
		stamps = append(stamps, ch.Timestamp)
	}
	if len(stamps) != 3 || decoded != 2*4800+1920 {
		for _, r := range seq {
			t.Logf("%q %d", r.typ, r.id)
		}
		ts.s.mu.Lock()
		for _, st := range ts.s.streams {
			t.Logf("t0 %d", st.t0)
		}
		ts.s.mu.Unlock()
		t.Fatalf("%d chunks (%v), %d frames decoded; want 2 chunks of 4800 frames and one of 1000 padded to 1920", len(stamps), stamps, decoded)
	}
	for i := 1; i < len(stamps); i++ {
		if stamps[i]-stamps[i-1] != 100_000 {
			t.Fatalf("chunk %d stamped %d us after the one before", i, stamps[i]-stamps[i-1])
		}
	}
}
