//go:build opus

package player

import (
	"io"
	"math"
	"sort"
	"testing"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// opusLag is how late the Opus player may hear each source frame, in
// frames: none. libopus's algorithmic delay (312 frames at 48 kHz) is made
// up for by the server, which stamps each Opus chunk that much earlier
// (codec.Encoder.Delay), so the Opus player plays in sync with the PCM
// player beside it (docs/OPUS.md "Delay").
const opusLag = 0

// indexMusic is a 48 kHz stereo 16-bit source: channel 0 names the frame
// (as rampSource's do) for a PCM reference player; channel 1 is a chord of
// four partials that are not harmonics of each other, which a lag search
// over a few milliseconds cannot mistake for itself shifted.
type indexMusic struct{ i, n int }

func (s *indexMusic) Format() audio.Format {
	return audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}
}
func (s *indexMusic) Close() error { return nil }
func (s *indexMusic) Read(dst []int32) (int, error) {
	k := 0
	for k+1 < len(dst) && s.i < s.n {
		dst[k], dst[k+1] = int32(s.i-32768)<<16, indexMusicSample(s.i)
		k += 2
		s.i++
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

func indexMusicSample(i int) int32 {
	x := float64(i) / 48000
	v := 0.15*math.Sin(2*math.Pi*220*x) + 0.12*math.Sin(2*math.Pi*554*x+1) +
		0.1*math.Sin(2*math.Pi*1367*x+2) + 0.06*math.Sin(2*math.Pi*3100*x+3)
	return int32(math.Round(v*32767)) << 16
}

// TestOpusRoundTrip: the real server plays one source to a PCM player and
// an Opus player over WebSocket, encoding each player's stream on its own.
// The PCM player's output names the frames it plays, which fixes the
// server timeline on the output; the Opus player's output, placed on that
// timeline through its own clock offset, must be the source on time (the
// median within 0.1 ms; every 10 ms block within 1 ms and above 15 dB but
// for one resynchronization's) with a
// signal-to-noise ratio of at least 20 dB.
func TestOpusRoundTrip(t *testing.T) {
	rig := newCodecRig(t)
	ref := rig.add(wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16})
	// A player lists flac or pcm besides opus (roles/player/v1.md); the
	// server picks the first entry it can produce.
	op := rig.add(wire.AudioFormat{Codec: wire.CodecOpus, SampleRate: 48000, Channels: 2, BitDepth: 16},
		wire.AudioFormat{Codec: wire.CodecPCM, SampleRate: 48000, Channels: 2, BitDepth: 16})
	// 1.3 s, a whole number of 20 and 100 ms chunks (an Opus packet holds
	// 2.5-60 ms or 80-120 ms); the frame index fits 16 bits.
	const n = 62400
	rig.play(&indexMusic{n: n})

	// The server time of frame 0, from the reference player's output.
	var t0s []float64
	for _, fr := range checkIndexed(t, "pcm", ref, n, func(i int) (int32, int32) {
		return int32(i-32768) << 16, indexMusicSample(i)
	}) {
		t0s = append(t0s, fr.server-float64(fr.i)*1e6/48000)
	}
	t0 := checkTimeline(t, t0s)

	src := make([]float64, n) // channel 1, as 16-bit values
	for i := range src {
		src[i] = float64(indexMusicSample(i) >> 16)
	}
	op.out.mu.Lock()
	defer op.out.mu.Unlock()
	const search = 96 // frames either side of the expected lag: 2 ms
	var sig, noise float64
	worstBlock := math.Inf(1)
	bad := 0 // blocks off the timeline or below 15 dB
	var delays []float64
	checked := 0
	for _, b := range op.out.blocks {
		frames := len(b.samples) / 2
		// e: the source frame the server scheduled for the block's first
		// frame, as a real number.
		e := (float64(b.local+op.offset) - t0) * 48000 / 1e6
		base := int(math.Round(e)) - opusLag
		// Skip the blocks around the start (Opus settles over its first
		// packets: docs/OPUS.md "Joining mid-stream") and the end: the
		// source's last lookahead frames stay in the encoder.
		if base-search < 9600 || base+search+frames > n-opusLag {
			continue
		}
		bestLag, bestErr := 0, math.Inf(1)
		for lag := -search; lag <= search; lag++ {
			var errSum float64
			for k := range frames {
				d := float64(b.samples[2*k+1]>>16) - src[base+lag+k]
				errSum += d * d
			}
			if errSum < bestErr {
				bestLag, bestErr = lag, errSum
			}
		}
		var bs float64
		for k := range frames {
			bs += src[base+bestLag+k] * src[base+bestLag+k]
		}
		blockSNR := 10 * math.Log10(bs/bestErr)
		worstBlock = min(worstBlock, blockSNR)
		// The delay is the time (in frames) between when the source frame
		// was scheduled and when it was heard.
		delay := e - float64(base+bestLag)
		if blockSNR < 15 || math.Abs(delay-opusLag) > 48 {
			t.Logf("block at %d µs: %.1f dB, heard %.1f frames late", b.local, blockSNR, delay)
			bad++
		}
		delays = append(delays, delay)
		sig += bs
		noise += bestErr
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d blocks of Opus audio checked", checked)
	}
	snr := 10 * math.Log10(sig/noise)
	sort.Float64s(delays)
	med := delays[len(delays)/2]
	t.Logf("%d blocks: SNR %.1f dB, worst block %.1f dB; delay median %.1f frames (%.0f µs), %.1f to %.1f; want %d",
		checked, snr, worstBlock, med, med/48*1000, delays[0], delays[len(delays)-1], opusLag)
	if snr < 20 {
		t.Fatalf("Opus round trip SNR %.1f dB, want at least 20", snr)
	}
	if math.Abs(med-opusLag) > 5 {
		t.Fatalf("Opus audio heard %.1f frames after its time, want %d within 0.1 ms", med, opusLag)
	}
	// One one-shot resynchronization (see TestLosslessRoundTrips) spoils
	// the block it falls in, maybe two.
	if bad > 2 {
		t.Fatalf("%d blocks below 15 dB or heard over 1 ms off the lookahead", bad)
	}
}
