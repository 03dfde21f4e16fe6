package wire

import (
	"encoding/json"
	"testing"
)

var benchSink []byte

func benchEncode(b *testing.B, m Message) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		out, err := AppendBinaryJSON(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func benchDecode(b *testing.B, m Message, from Sender) {
	in, err := Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in, from); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchClientTime  = &ClientTime{ClientTransmitted: 1732500000123456}
	benchServerTime  = &ServerTime{ClientTransmitted: 1732500000123456, ServerReceived: 88000123456, ServerTransmitted: 88000123500}
	benchClientState = &ClientState{Available: true, Player: &PlayerState{Volume: ptr(40), Muted: ptr(false), OutputDelayMS: 0,
		RequiredLeadTimeMS: 250, MinBufferMS: 80, SupportedCommands: []PlayerCommandName{PlayerCmdVolume, PlayerCmdMute}}}
)

func BenchmarkEncodeClientTime(b *testing.B)  { benchEncode(b, benchClientTime) }
func BenchmarkDecodeClientTime(b *testing.B)  { benchDecode(b, benchClientTime, FromClient) }
func BenchmarkEncodeServerTime(b *testing.B)  { benchEncode(b, benchServerTime) }
func BenchmarkDecodeServerTime(b *testing.B)  { benchDecode(b, benchServerTime, FromServer) }
func BenchmarkEncodeClientState(b *testing.B) { benchEncode(b, benchClientState) }
func BenchmarkDecodeClientState(b *testing.B) { benchDecode(b, benchClientState, FromClient) }

// 3840 bytes: 20 ms of 48 kHz 16-bit stereo PCM.
const benchAudioSize = 3840

func BenchmarkEncodeAudioChunk(b *testing.B) {
	audio := make([]byte, benchAudioSize)
	buf := make([]byte, 0, AudioHeaderSize+benchAudioSize)
	b.SetBytes(AudioHeaderSize + benchAudioSize)
	b.ReportAllocs()
	ts := int64(1_000_000)
	for b.Loop() {
		ts += 20_000
		buf = AppendAudioChunk(buf[:0], ts, 0, audio)
		if err := StampSendAhead(buf, ts-250_000); err != nil {
			b.Fatal(err)
		}
	}
	benchSink = buf
}

func BenchmarkDecodeAudioChunk(b *testing.B) {
	msg := AppendAudioChunk(nil, 1_000_000, 250_000, make([]byte, benchAudioSize))
	var r Reassembler
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := r.Feed(msg)
		if err != nil {
			b.Fatal(err)
		}
		c, err := ParseAudioChunk(out)
		if err != nil || len(c.Audio) != benchAudioSize {
			b.Fatal(err)
		}
	}
}

// BenchmarkFragmentRoundTrip splits and reassembles a 256 KiB message.
func BenchmarkFragmentRoundTrip(b *testing.B) {
	msg := make([]byte, 256<<10)
	msg[0] = IDSourceAudio
	var f Fragmenter
	var r Reassembler
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		err := f.Split(msg, func(p []byte) error {
			_, err := r.Feed(p)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestAudioChunkEncodeDoesNotAllocate pins the 0-allocation steady state.
func TestAudioChunkEncodeDoesNotAllocate(t *testing.T) {
	audio := make([]byte, benchAudioSize)
	buf := make([]byte, 0, AudioHeaderSize+benchAudioSize)
	n := testing.AllocsPerRun(100, func() {
		buf = AppendAudioChunk(buf[:0], 5, 0, audio)
		_ = StampSendAhead(buf, 1)
	})
	if n != 0 {
		t.Fatalf("audio chunk encode allocates %v times", n)
	}
	var f Fragmenter
	big := make([]byte, 3*MaxPlaintext)
	_ = f.Split(big, func([]byte) error { return nil })
	if n := testing.AllocsPerRun(20, func() { _ = f.Split(big, func([]byte) error { return nil }) }); n != 0 {
		t.Fatalf("steady-state fragmenting allocates %v times", n)
	}
}

// Same-run references: encoding/json on the same values, and a plain copy
// of the audio payload. They put the codec's figures in proportion on
// whatever machine runs them.

type stdClientTime struct {
	Type    string `json:"type"`
	Payload struct {
		ClientTransmitted int64 `json:"client_transmitted"`
	} `json:"payload"`
}

func BenchmarkReferenceStdlibEncodeClientTime(b *testing.B) {
	var v stdClientTime
	v.Type = "client/time"
	v.Payload.ClientTransmitted = benchClientTime.ClientTransmitted
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(&v)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = out
	}
}

func BenchmarkReferenceStdlibDecodeClientTime(b *testing.B) {
	in, _ := Marshal(benchClientTime)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		var v stdClientTime
		if err := json.Unmarshal(in, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReferenceCopyAudio(b *testing.B) {
	audio := make([]byte, benchAudioSize)
	buf := make([]byte, AudioHeaderSize+benchAudioSize)
	b.SetBytes(AudioHeaderSize + benchAudioSize)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf[AudioHeaderSize:], audio)
	}
	benchSink = buf
}
