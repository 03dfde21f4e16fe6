package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// writeTracks writes n tracks of seconds each, every sample of track k
// equal to trackValue(k), and returns them as a playlist.
func writeTracks(t *testing.T, n int, seconds float64) *audio.Playlist {
	t.Helper()
	f := audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
	dir := t.TempDir()
	var paths []string
	for k := 0; k < n; k++ {
		path := filepath.Join(dir, fmt.Sprintf("%d.wav", k))
		w, err := audio.CreateWAV(path, f)
		if err != nil {
			t.Fatal(err)
		}
		samples := make([]int32, int(seconds*48000)*2)
		for i := range samples {
			samples[i] = int32(trackValue(k)) << 16 // left-justified
		}
		if err := w.Write(samples); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	p, err := audio.NewPlaylist(paths)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func trackValue(k int) int16 { return int16(1000 * (k + 1)) }

// chunkTrack is the track a 16-bit PCM chunk's samples come from; -1 when
// they are not all one track's.
func chunkTrack(t *testing.T, r rec) (wire.AudioChunk, int) {
	t.Helper()
	ch, err := wire.ParseAudioChunk(r.in.Data)
	if err != nil {
		t.Fatal(err)
	}
	first := int16(binary.LittleEndian.Uint16(ch.Audio))
	for i := 0; i+1 < len(ch.Audio); i += 2 {
		if int16(binary.LittleEndian.Uint16(ch.Audio[i:])) != first {
			return ch, -1
		}
	}
	for k := 0; k < 10; k++ {
		if trackValue(k) == first {
			return ch, k
		}
	}
	return ch, -1
}

// TestSkipClearsStream: skipping a track sends every player stream/clear
// (never stream/end) and then the next track's audio from a point far
// enough ahead, with no chunk of the old track after the clear; past the
// last track playback ends with stream/end.
func TestSkipClearsStream(t *testing.T) {
	ts := startServer(t)
	a, b := approvedPlayer(t, ts), approvedPlayer(t, ts)
	if err := ts.s.Skip(DefaultGroup); !errors.Is(err, ErrNotPlaying) {
		t.Fatalf("skip while stopped: %v", err)
	}
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	if err := ts.s.Skip(DefaultGroup); !errors.Is(err, errNoTracks) {
		t.Fatalf("skip on the tone: %v", err)
	}
	if err := ts.s.Play(writeTracks(t, 2, 3)); err != nil {
		t.Fatal(err)
	}
	waitTrack := func(tc *testClient, k int) {
		t.Helper()
		for {
			r, ok := tc.next(t, 5*time.Second)
			if !ok {
				t.Fatalf("no audio of track %d", k)
			}
			if r.id == wire.IDAudioChunk {
				if _, got := chunkTrack(t, r); got == k {
					return
				}
			}
		}
	}
	waitTrack(a, 0)
	waitTrack(b, 0)
	at := ts.s.Now()
	if err := ts.s.Skip(DefaultGroup); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []*testClient{a, b} {
		seq := tc.until(t, wire.TypeStreamClear)
		for _, r := range seq {
			if r.typ == wire.TypeStreamEnd || r.typ == wire.TypeStreamStart {
				t.Fatalf("%s on a track jump", r.typ)
			}
		}
		var prev int64
		for n := 0; n < 10; {
			r, ok := tc.next(t, 5*time.Second)
			if !ok {
				t.Fatal("no audio after stream/clear")
			}
			if r.typ == wire.TypeStreamEnd {
				t.Fatalf("stream/end on a track jump after %d chunks; playing %v", n, ts.s.Playing())
			}
			if r.id != wire.IDAudioChunk {
				continue
			}
			ch, k := chunkTrack(t, r)
			if k != 1 {
				t.Fatalf("chunk %d after the clear is from track %d", n, k)
			}
			if n == 0 && ch.Timestamp < at+minStartLead.Microseconds()-int64(chunkDuration/time.Microsecond) {
				t.Fatalf("the next track starts %d us after the skip, inside the start-up lead", ch.Timestamp-at)
			}
			if n > 0 && ch.Timestamp-prev != int64(chunkDuration/time.Microsecond) {
				t.Fatalf("gap of %d us between chunks after the jump", ch.Timestamp-prev)
			}
			prev = ch.Timestamp
			n++
		}
	}
	if !ts.s.Playing() {
		t.Fatal("stopped by a skip")
	}
	// On the last track of a playlist that does not loop there is no next
	// track: the group stops, and the answer says so (issue 11 case 7: it
	// said it skipped).
	err := ts.s.Skip(DefaultGroup)
	if !errors.Is(err, ErrNoNextTrack) || err.Error() != "server: no next track: group main stopped at the end of the folder" {
		t.Fatalf("skip on the last track: %v", err)
	}
	if ts.s.Playing() {
		t.Fatal("still playing when the skip past the last track answered")
	}
	for _, tc := range []*testClient{a, b} {
		seq := tc.until(t, wire.TypeStreamEnd)
		for _, r := range seq {
			if r.id == wire.IDAudioChunk {
				if _, k := chunkTrack(t, r); k != 1 {
					t.Fatalf("after the last skip a chunk of track %d", k)
				}
			}
		}
	}
}
