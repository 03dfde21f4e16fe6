package wire

import (
	"bytes"
	"math"
	"testing"
)

func TestIDTable(t *testing.T) {
	want := map[byte]IDClass{0: ClassJSON, 1: ClassFragment, 2: ClassReserved, 3: ClassReserved, 4: ClassPlayer, 7: ClassPlayer,
		8: ClassArtwork, 11: ClassArtwork, 12: ClassSource, 15: ClassSource, 16: ClassVisualizer, 23: ClassVisualizer,
		24: ClassReserved, 191: ClassReserved, 192: ClassApplication, 255: ClassApplication}
	for id, c := range want {
		if ClassOf(id) != c {
			t.Errorf("ClassOf(%d) = %d, want %d", id, ClassOf(id), c)
		}
	}
	for id := 0; id < 256; id++ {
		d := Defined(byte(id))
		should := id <= 1 || id == 4 || (id >= 8 && id <= 12) || (id >= 16 && id <= 20)
		if d != should {
			t.Errorf("Defined(%d) = %v", id, d)
		}
	}
}

func TestAudioChunk(t *testing.T) {
	b := AppendAudioChunk(nil, -2, 77, []byte{9, 8, 7})
	want := []byte{4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 77, 9, 8, 7}
	if !bytes.Equal(b, want) {
		t.Fatalf("% x", b)
	}
	c, err := ParseAudioChunk(b)
	if err != nil || c.Timestamp != -2 || c.SendAhead != 77 || !bytes.Equal(c.Audio, []byte{9, 8, 7}) {
		t.Fatalf("%+v %v", c, err)
	}
	if err := StampSendAhead(b, -1000); err != nil {
		t.Fatal(err)
	}
	if c, _ := ParseAudioChunk(b); c.SendAhead != 998 {
		t.Fatalf("stamped %d", c.SendAhead)
	}
	for _, bad := range [][]byte{nil, {4}, {4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := ParseAudioChunk(bad); err == nil {
			t.Errorf("accepted % x", bad)
		}
		if StampSendAhead(bad, 0) == nil {
			t.Errorf("stamped % x", bad)
		}
	}
	if c, err := ParseAudioChunk(want[:13]); err != nil || len(c.Audio) != 0 {
		t.Fatalf("header-only chunk: %v", err)
	}
}

func TestSendAheadSaturation(t *testing.T) {
	cases := []struct {
		ts, now int64
		want    uint32
	}{
		{100, 0, 100},
		{100, 100, 0},
		{100, 200, 0},
		{math.MaxUint32 - 1, 0, math.MaxUint32 - 1},
		{math.MaxUint32, 0, math.MaxUint32},
		{math.MaxInt64, math.MinInt64, math.MaxUint32},
		{math.MinInt64, math.MaxInt64, 0},
	}
	for _, c := range cases {
		if got := SendAheadAt(c.ts, c.now); got != c.want {
			t.Errorf("SendAheadAt(%d, %d) = %d, want %d", c.ts, c.now, got, c.want)
		}
	}
	if MeasuredLead(0) || MeasuredLead(math.MaxUint32) || !MeasuredLead(1) {
		t.Fatal("MeasuredLead")
	}
}

func TestSourceChunk(t *testing.T) {
	b := AppendSourceChunk(nil, 5, []byte{1})
	c, err := ParseSourceChunk(b)
	if err != nil || c.Timestamp != 5 || !bytes.Equal(c.Audio, []byte{1}) || len(b) != 10 {
		t.Fatalf("%v %v", c, err)
	}
	if _, err := ParseSourceChunk(b[:8]); err == nil {
		t.Fatal("short source chunk accepted")
	}
}

// TestArtworkRules is the table of roles/artwork/v1.md "Malformed messages".
func TestArtworkRules(t *testing.T) {
	announce := []byte{9, 0x02, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 0}
	big := make([]byte, MaxArtworkMessage+1)
	big[0] = 8
	bad := map[string][]byte{
		"short":             {8},
		"too long":          big,
		"announce 13 bytes": announce[:13],
		"announce 15 bytes": append(bytes.Clone(announce), 0),
		"cancel 3 bytes":    {8, 0x01, 0},
		"reserved bit":      {8, 0x04},
		"both flags":        {8, 0x03},
		"not artwork":       {12, 0},
	}
	for name, b := range bad {
		if _, err := ParseArtwork(b); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	m, err := ParseArtwork(announce)
	if err != nil || m.Kind != ArtworkAnnounce || m.Channel != 1 || m.Timestamp != 5 || m.TotalSize != 256 {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = ParseArtwork([]byte{11, 0x01})
	if err != nil || m.Kind != ArtworkCancel || m.Channel != 3 {
		t.Fatalf("%+v %v", m, err)
	}
	big[1] = 0
	if m, err := ParseArtwork(big[:MaxArtworkMessage]); err != nil || m.Kind != ArtworkPart || len(m.Data) != MaxArtworkMessage-2 {
		t.Fatalf("largest part: %v", err)
	}
	for _, m := range []ArtworkMessage{
		{Channel: 1, Kind: ArtworkAnnounce, Timestamp: 5, TotalSize: 256},
		{Channel: 0, Kind: ArtworkCancel},
		{Channel: 2, Kind: ArtworkPart, Data: []byte("jpeg")},
	} {
		b, err := AppendArtwork(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseArtwork(b)
		if err != nil || back.Kind != m.Kind || back.Channel != m.Channel || back.TotalSize != m.TotalSize || !bytes.Equal(back.Data, m.Data) {
			t.Fatalf("%+v -> %+v %v", m, back, err)
		}
	}
	if _, err := AppendArtwork(nil, ArtworkMessage{Channel: 4}); err == nil {
		t.Fatal("channel 4 encoded")
	}
	if _, err := AppendArtwork(nil, ArtworkMessage{Kind: ArtworkPart, Data: make([]byte, MaxArtworkMessage-1)}); err == nil {
		t.Fatal("oversized part encoded")
	}
}

func TestVisualizerFrames(t *testing.T) {
	ts := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	ok := []struct {
		id   byte
		data []byte
	}{
		{IDVisLoudness, []byte{0xff, 0xfe}},
		{IDVisBeat, []byte{0x81}},
		{IDVisFPeak, []byte{0x01, 0xb8, 0x80, 0x00}},
		{IDVisFPeak, []byte{0, 0, 0, 0}},
		{IDVisSpectrum, []byte{0, 1, 0, 2, 0xff, 0xff}},
		{IDVisPeak, []byte{200}},
	}
	for _, c := range ok {
		b := append(append([]byte{c.id}, ts...), c.data...)
		f, err := ParseVisualizer(b)
		if err != nil || f.Timestamp != 9 || !bytes.Equal(f.Data, c.data) {
			t.Fatalf("id %d: %v", c.id, err)
		}
		out, err := AppendVisualizer(nil, f)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("id %d re-encode: %v", c.id, err)
		}
	}
	f, _ := ParseVisualizer(append(append([]byte{IDVisFPeak}, ts...), 0x01, 0xb8, 0x80, 0x00))
	if f.FPeakFreq() != 440 || f.FPeakAmp() != 0x8000 {
		t.Fatal("f_peak accessors")
	}
	f, _ = ParseVisualizer(append(append([]byte{IDVisBeat}, ts...), 0x81))
	if !f.Downbeat() {
		t.Fatal("downbeat with reserved bits set must still read bit 0")
	}
	f, _ = ParseVisualizer(append(append([]byte{IDVisSpectrum}, ts...), 0, 1, 0, 2))
	if f.SpectrumBins() != 2 || f.SpectrumBin(1) != 2 {
		t.Fatal("spectrum accessors")
	}
	bad := []struct {
		id   byte
		data []byte
	}{
		{IDVisLoudness, []byte{1}},
		{IDVisLoudness, []byte{1, 2, 3}},
		{IDVisBeat, []byte{}},
		{IDVisBeat, []byte{1, 2}},
		{IDVisFPeak, []byte{0, 0, 0, 1}},
		{IDVisFPeak, []byte{0, 1, 0}},
		{IDVisSpectrum, []byte{0, 1, 2}},
		{IDVisSpectrum, []byte{}},
		{IDVisPeak, []byte{}},
		{21, []byte{0}},
		{15, []byte{0}},
	}
	for _, c := range bad {
		b := append(append([]byte{c.id}, ts...), c.data...)
		if _, err := ParseVisualizer(b); err == nil {
			t.Errorf("id %d data % x accepted", c.id, c.data)
		}
	}
	if _, err := ParseVisualizer([]byte{IDVisPeak, 0, 0}); err == nil {
		t.Error("truncated header accepted")
	}
}
