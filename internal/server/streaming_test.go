package server

import (
	"context"
	"testing"
	"time"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// A player-like client for the streaming rules: it reports its state and
// records what the server sends.

type rec struct {
	typ  wire.Type // "" for binary
	id   byte
	in   securechan.Inbound
	when time.Time
}

func (tc *testClient) next(t *testing.T, d time.Duration) (rec, bool) {
	t.Helper()
	r, ok := tc.recvOne(d)
	if !ok {
		return rec{}, false
	}
	if r.err != nil {
		t.Fatalf("read: %v", r.err)
	}
	var typ wire.Type
	if r.in.JSON != nil {
		typ = r.in.JSON.Type()
		tc.order = append(tc.order, typ)
	}
	return rec{typ: typ, id: r.in.ID, in: r.in, when: time.Now()}, true
}

func (tc *testClient) state(t *testing.T, available bool, delayMS int) {
	t.Helper()
	err := tc.c.WriteMessage(&wire.ClientState{Available: available, Player: &wire.PlayerState{OutputDelayMS: delayMS,
		RequiredLeadTimeMS: 100, MinBufferMS: 50, SupportedCommands: []wire.PlayerCommandName{}}})
	if err != nil {
		t.Fatal(err)
	}
}

// until reads until a message of type typ (or binary id when typ is "")
// and returns everything read.
func (tc *testClient) until(t *testing.T, typ wire.Type) []rec {
	t.Helper()
	var got []rec
	for {
		r, ok := tc.next(t, 5*time.Second)
		if !ok {
			t.Fatalf("no %s", typ)
		}
		got = append(got, r)
		if r.typ == typ {
			return got
		}
	}
}

func approvedPlayer(t *testing.T, ts *testServer) *testClient {
	t.Helper()
	tc := newClient(t, true)
	tc.connect(t, ts.url)
	if err := ts.s.Approve(tc.id.Public(), false); err != nil {
		t.Fatal(err)
	}
	if a := tc.activation(t); rolesOf(a) != "player@v1" {
		t.Fatalf("%+v", a)
	}
	tc.state(t, true, 0)
	return tc
}

func tone(t *testing.T) audio.Source {
	src, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestRevokeEndsStreamFirst: an activation that removes the player role is
// preceded by stream/end, with no audio after it (messaging.md
// "server/activate").
func TestRevokeEndsStreamFirst(t *testing.T) {
	ts := startServer(t)
	tc := approvedPlayer(t, ts)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	tc.until(t, wire.TypeStreamStart)
	for {
		if r, _ := tc.next(t, 5*time.Second); r.id == wire.IDAudioChunk {
			break
		}
	}
	if err := ts.s.Revoke(tc.id.Public()); err != nil {
		t.Fatal(err)
	}
	seq := tc.until(t, wire.TypeServerActivate)
	ended := false
	for _, r := range seq[:len(seq)-1] {
		switch {
		case r.typ == wire.TypeStreamEnd:
			ended = true
		case r.id == wire.IDAudioChunk && ended:
			t.Fatal("audio after stream/end")
		}
	}
	if !ended {
		t.Fatal("the activation removing the player role came before stream/end")
	}
	if a := seq[len(seq)-1].in.JSON.(*wire.ServerActivate); len(a.ActiveRoles) != 0 {
		t.Fatalf("%+v", a)
	}
	if r, ok := tc.next(t, 300*time.Millisecond); ok && r.id == wire.IDAudioChunk {
		t.Fatal("audio after the stream ended")
	}
}

// TestUnavailableIsNotRejoined: a client that becomes unavailable leaves
// the stream and is not restarted when it comes back (messaging.md
// "External Source Handling").
func TestUnavailableIsNotRejoined(t *testing.T) {
	ts := startServer(t)
	tc := approvedPlayer(t, ts)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	tc.until(t, wire.TypeStreamStart)
	tc.state(t, false, 0)
	tc.until(t, wire.TypeStreamEnd)
	tc.state(t, true, 0)
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		r, ok := tc.next(t, time.Until(deadline))
		if !ok {
			break
		}
		if r.typ == wire.TypeStreamStart || r.id == wire.IDAudioChunk {
			t.Fatal("playback restarted by itself")
		}
	}
}

// TestReaddedRoleWaitsForState: after the player role is removed and
// added again, the stream starts only after the client/state the
// activation requires.
func TestReaddedRoleWaitsForState(t *testing.T) {
	ts := startServer(t)
	tc := approvedPlayer(t, ts)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	tc.until(t, wire.TypeStreamStart)
	_ = ts.s.Revoke(tc.id.Public())
	tc.until(t, wire.TypeServerActivate)
	_ = ts.s.Approve(tc.id.Public(), false)
	tc.until(t, wire.TypeServerActivate)
	if r, ok := tc.next(t, 300*time.Millisecond); ok && (r.typ == wire.TypeStreamStart || r.id == wire.IDAudioChunk) {
		t.Fatal("stream started before the client reported its state")
	}
}

// TestOutputDelayAhead: a player with a 3 s output delay gets every chunk
// more than 3 s before its timestamp.
func TestOutputDelayAhead(t *testing.T) {
	ts := startServer(t)
	tc := approvedPlayer(t, ts)
	tc.state(t, true, 3000)
	time.Sleep(50 * time.Millisecond)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	tc.until(t, wire.TypeStreamStart)
	for n := 0; n < 20; {
		r, ok := tc.next(t, 5*time.Second)
		if !ok {
			t.Fatal("no audio")
		}
		if r.id != wire.IDAudioChunk {
			continue
		}
		ch, err := wire.ParseAudioChunk(r.in.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ch.SendAhead < 3_000_000 {
			t.Fatalf("chunk %d sent %d µs ahead, under the 3 s output delay", n, ch.SendAhead)
		}
		n++
	}
}

// TestStalledPlayerDoesNotStallOthers: one client stops reading; another
// keeps getting audio on time.
func TestStalledPlayerDoesNotStallOthers(t *testing.T) {
	ts := startServer(t)
	f := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 192000, Channels: 8, BitDepth: 32}
	mk := func() *testClient {
		tc := newClient(t, true)
		tc.formats = []wire.AudioFormat{f}
		tc.capacity = 256 << 20
		tc.connect(t, ts.url)
		_ = ts.s.Approve(tc.id.Public(), false)
		tc.activation(t)
		tc.state(t, true, 0)
		return tc
	}
	stalled, healthy := mk(), mk()
	time.Sleep(50 * time.Millisecond)
	src, _ := audio.NewTone(audio.Format{SampleRate: 192000, Channels: 8, BitDepth: 32})
	if err := ts.s.Play(src); err != nil {
		t.Fatal(err)
	}
	_ = stalled // never read again
	healthy.until(t, wire.TypeStreamStart)
	start := time.Now()
	gap := time.Duration(0)
	last := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		r, ok := healthy.next(t, 3*time.Second)
		if !ok {
			t.Fatalf("the healthy player got nothing for 3 s while another stalled")
		}
		if r.id == wire.IDAudioChunk {
			gap = max(gap, time.Since(last))
			last = time.Now()
		}
	}
	if gap > time.Second {
		t.Fatalf("the healthy player waited %v for a chunk", gap)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.s.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a stalled player: %v", err)
	}
}

// TestFormatPreferenceReconfigures: a player that prefers another listed
// format mid-stream gets an in-place stream/start and chunks in the new
// format; an unlisted preference is ignored.
func TestFormatPreferenceReconfigures(t *testing.T) {
	ts := startServer(t)
	tc := newClient(t, true)
	pcm := wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16}
	flac := wire.AudioFormat{Codec: wire.CodecFLAC, SampleRate: 48000, Channels: 2, BitDepth: 16}
	tc.formats = []wire.AudioFormat{pcm, flac}
	tc.connect(t, ts.url)
	_ = ts.s.Approve(tc.id.Public(), false)
	tc.activation(t)
	tc.state(t, true, 0)
	if err := ts.s.Play(tone(t)); err != nil {
		t.Fatal(err)
	}
	seq := tc.until(t, wire.TypeStreamStart)
	if f := seq[len(seq)-1].in.JSON.(*wire.StreamStart).Player.AudioFormat; f != pcm {
		t.Fatalf("first format %+v", f)
	}
	prefer := func(f wire.AudioFormat) {
		err := tc.c.WriteMessage(&wire.ClientState{Available: true, Player: &wire.PlayerState{
			RequiredLeadTimeMS: 100, MinBufferMS: 50, SupportedCommands: []wire.PlayerCommandName{}, Format: &f}})
		if err != nil {
			t.Fatal(err)
		}
	}
	prefer(wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 44100, Channels: 2, BitDepth: 16}) // not listed
	prefer(flac)
	seq = tc.until(t, wire.TypeStreamStart)
	ss := seq[len(seq)-1].in.JSON.(*wire.StreamStart)
	if ss.Player.AudioFormat != flac || len(ss.Player.CodecHeader) == 0 {
		t.Fatalf("reconfigured to %+v", ss.Player)
	}
	for _, r := range seq[:len(seq)-1] {
		if r.typ == wire.TypeStreamEnd {
			t.Fatal("the stream was ended instead of reconfigured")
		}
	}
	// The next chunk is FLAC.
	for {
		r, ok := tc.next(t, 5*time.Second)
		if !ok {
			t.Fatal("no audio after the reconfiguration")
		}
		if r.id == wire.IDAudioChunk {
			ch, _ := wire.ParseAudioChunk(r.in.Data)
			if len(ch.Audio) < 2 || ch.Audio[0] != 0xff || ch.Audio[1]&0xfe != 0xf8 {
				t.Fatalf("chunk after the reconfiguration is not a FLAC frame: % x", ch.Audio[:4])
			}
			break
		}
	}
}
