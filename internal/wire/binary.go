package wire

import (
	"encoding/binary"
	"math"
)

// Binary message IDs (messaging.md "Binary Message ID Structure"). The ID is
// the first byte of every decrypted binary message.
const (
	IDJSON        byte = 0  // JSON message body
	IDFragment    byte = 1  // fragmentation
	IDAudioChunk  byte = 4  // player audio chunk (roles/player/v1.md)
	IDArtwork0    byte = 8  // artwork channel 0; channels 1-3 are 9-11
	IDArtwork3    byte = 11 // artwork channel 3
	IDSourceAudio byte = 12 // source audio chunk (roles/source/v1.md)
	IDVisLoudness byte = 16 // visualizer loudness
	IDVisBeat     byte = 17 // visualizer beat
	IDVisFPeak    byte = 18 // visualizer f_peak
	IDVisSpectrum byte = 19 // visualizer spectrum
	IDVisPeak     byte = 20 // visualizer peak
	IDAppFirst    byte = 192
)

// IDClass is what the ID table assigns an ID to.
type IDClass uint8

// The assignments of the ID table.
const (
	ClassJSON        IDClass = iota + 1 // 0
	ClassFragment                       // 1
	ClassReserved                       // 2-3, 24-191, and unused IDs inside a role's block
	ClassPlayer                         // 4-7
	ClassArtwork                        // 8-11
	ClassSource                         // 12-15
	ClassVisualizer                     // 16-23
	ClassApplication                    // 192-255
)

// ClassOf returns the ID table's assignment for id.
func ClassOf(id byte) IDClass {
	switch {
	case id == IDJSON:
		return ClassJSON
	case id == IDFragment:
		return ClassFragment
	case id >= 4 && id <= 7:
		return ClassPlayer
	case id >= 8 && id <= 11:
		return ClassArtwork
	case id >= 12 && id <= 15:
		return ClassSource
	case id >= 16 && id <= 23:
		return ClassVisualizer
	case id >= IDAppFirst:
		return ClassApplication
	}
	return ClassReserved
}

// Defined reports whether this revision defines a layout for id. A receiver
// ignores binary messages whose ID it does not implement (messaging.md
// "Communication"); 21-23 are reserved and never sent.
func Defined(id byte) bool {
	switch {
	case id <= IDFragment, id == IDAudioChunk, id >= IDArtwork0 && id <= IDSourceAudio,
		id >= IDVisLoudness && id <= IDVisPeak:
		return true
	}
	return false
}

// AudioHeaderSize is the size of the audio chunk header.
const AudioHeaderSize = 13

// AudioHeader is the fixed header of a player audio chunk
// (roles/player/v1.md "Audio Chunks (Binary)"):
//
//	byte 0       message type 4
//	bytes 1-8    timestamp, big-endian int64: server µs when the first sample plays
//	bytes 9-12   send_ahead, big-endian uint32: µs from transmission to timestamp
//	bytes 13-    encoded audio (not part of the header)
type AudioHeader [AudioHeaderSize]byte

// Timestamp returns bytes 1-8.
func (h *AudioHeader) Timestamp() int64 { return int64(binary.BigEndian.Uint64(h[1:9])) }

// SendAhead returns bytes 9-12.
func (h *AudioHeader) SendAhead() uint32 { return binary.BigEndian.Uint32(h[9:13]) }

// SetSendAhead writes bytes 9-12.
func (h *AudioHeader) SetSendAhead(v uint32) { binary.BigEndian.PutUint32(h[9:13], v) }

// Send-ahead saturation values (roles/player/v1.md): both mean "no lead
// measured" and are never used as delay samples.
const (
	SendAheadLate     uint32 = 0
	SendAheadSaturate uint32 = math.MaxUint32
)

// SendAheadAt computes send_ahead for a chunk playing at timestamp and
// transmitted at now (both server µs), saturating as the spec requires: 0 at
// or after the timestamp, 4294967295 when the lead does not fit.
func SendAheadAt(timestamp, now int64) uint32 {
	if now >= timestamp {
		return SendAheadLate
	}
	lead := uint64(timestamp) - uint64(now) // no overflow: timestamp > now
	if lead >= uint64(SendAheadSaturate) {
		return SendAheadSaturate
	}
	return uint32(lead)
}

// MeasuredLead reports whether a received send_ahead is a real measurement
// (neither saturation value).
func MeasuredLead(sendAhead uint32) bool {
	return sendAhead != SendAheadLate && sendAhead != SendAheadSaturate
}

// AppendAudioChunk appends an audio chunk message. With enough capacity in
// dst it does not allocate.
func AppendAudioChunk(dst []byte, timestamp int64, sendAhead uint32, audio []byte) []byte {
	dst = append(dst, IDAudioChunk)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timestamp))
	dst = binary.BigEndian.AppendUint32(dst, sendAhead)
	return append(dst, audio...)
}

// StampSendAhead sets the send_ahead of an encoded audio chunk from its own
// timestamp and the transmit time now: the server calls it immediately
// before encryption (messaging.md "Transmit timestamps").
func StampSendAhead(chunk []byte, now int64) error {
	h, err := audioHeader(chunk)
	if err != nil {
		return err
	}
	h.SetSendAhead(SendAheadAt(h.Timestamp(), now))
	return nil
}

func audioHeader(b []byte) (*AudioHeader, error) {
	if len(b) < AudioHeaderSize || b[0] != IDAudioChunk {
		return nil, &BinaryError{ID: IDAudioChunk, What: "shorter than its 13-byte header"}
	}
	return (*AudioHeader)(b[:AudioHeaderSize]), nil
}

// AudioChunk is a decoded player audio chunk. Audio aliases the input.
type AudioChunk struct {
	Timestamp int64
	SendAhead uint32
	Audio     []byte
}

// ParseAudioChunk decodes a message with ID 4.
func ParseAudioChunk(b []byte) (AudioChunk, error) {
	h, err := audioHeader(b)
	if err != nil {
		return AudioChunk{}, err
	}
	return AudioChunk{Timestamp: h.Timestamp(), SendAhead: h.SendAhead(), Audio: b[AudioHeaderSize:]}, nil
}

// SourceHeaderSize is the size of the source audio chunk header: the ID and
// a big-endian int64 capture timestamp (roles/source/v1.md).
const SourceHeaderSize = 9

// SourceChunk is a decoded source audio chunk. Audio aliases the input.
type SourceChunk struct {
	Timestamp int64 // server µs when the first sample was captured
	Audio     []byte
}

// AppendSourceChunk appends a source audio chunk message.
func AppendSourceChunk(dst []byte, timestamp int64, audio []byte) []byte {
	dst = append(dst, IDSourceAudio)
	dst = binary.BigEndian.AppendUint64(dst, uint64(timestamp))
	return append(dst, audio...)
}

// ParseSourceChunk decodes a message with ID 12.
func ParseSourceChunk(b []byte) (SourceChunk, error) {
	if len(b) < SourceHeaderSize || b[0] != IDSourceAudio {
		return SourceChunk{}, &BinaryError{ID: IDSourceAudio, What: "shorter than its 9-byte header"}
	}
	return SourceChunk{Timestamp: int64(binary.BigEndian.Uint64(b[1:9])), Audio: b[SourceHeaderSize:]}, nil
}

// ArtworkKind is the kind of an artwork message.
type ArtworkKind uint8

// The kinds of artwork message, from the flags byte.
const (
	ArtworkPart     ArtworkKind = iota // neither flag
	ArtworkCancel                      // bit 0
	ArtworkAnnounce                    // bit 1
)

const (
	artworkFlagCancel   = 0x01
	artworkFlagAnnounce = 0x02
	artworkReserved     = 0xfc
	// ArtworkAnnounceSize is the exact size of an announce message.
	ArtworkAnnounceSize = 14
)

// ArtworkMessage is a decoded artwork message (roles/artwork/v1.md
// "Artwork (Binary)"):
//
//	announce  [8+ch][0x02][timestamp int64 BE][total_size uint32 BE]  14 bytes
//	part      [8+ch][0x00][data...]
//	cancel    [8+ch][0x01]                                            2 bytes
type ArtworkMessage struct {
	Channel   int // 0-3
	Kind      ArtworkKind
	Timestamp int64  // announce: server µs to display the image
	TotalSize uint32 // announce: bytes of the encoded image
	Data      []byte // part: aliases the input
}

// ParseArtwork decodes a message with ID 8-11, enforcing the malformed-
// message rules; the sequence rules belong to the session.
func ParseArtwork(b []byte) (ArtworkMessage, error) {
	bad := func(what string) (ArtworkMessage, error) {
		id := IDArtwork0
		if len(b) > 0 {
			id = b[0]
		}
		return ArtworkMessage{}, &BinaryError{ID: id, What: what}
	}
	switch {
	case len(b) < 2:
		return bad("shorter than 2 bytes")
	case b[0] < IDArtwork0 || b[0] > IDArtwork3:
		return bad("not an artwork ID")
	case len(b) > MaxArtworkMessage:
		return bad("exceeds 65519 bytes")
	case b[1]&artworkReserved != 0:
		return bad("reserved flag bit set")
	}
	m := ArtworkMessage{Channel: int(b[0] - IDArtwork0)}
	switch b[1] {
	case artworkFlagCancel | artworkFlagAnnounce:
		return bad("cancel and announce flags both set")
	case artworkFlagCancel:
		if len(b) != 2 {
			return bad("cancel longer than 2 bytes")
		}
		m.Kind = ArtworkCancel
	case artworkFlagAnnounce:
		if len(b) != ArtworkAnnounceSize {
			return bad("announce not 14 bytes")
		}
		m.Kind = ArtworkAnnounce
		m.Timestamp = int64(binary.BigEndian.Uint64(b[2:10]))
		m.TotalSize = binary.BigEndian.Uint32(b[10:14])
	default:
		m.Kind = ArtworkPart
		m.Data = b[2:]
	}
	return m, nil
}

// AppendArtwork appends an artwork message. A part whose message would exceed
// 65519 bytes, or a channel outside 0-3, is an error.
func AppendArtwork(dst []byte, m ArtworkMessage) ([]byte, error) {
	if m.Channel < 0 || m.Channel > 3 {
		return dst, &BinaryError{ID: IDArtwork0, What: "channel outside 0-3"}
	}
	dst = append(dst, IDArtwork0+byte(m.Channel))
	switch m.Kind {
	case ArtworkCancel:
		return append(dst, artworkFlagCancel), nil
	case ArtworkAnnounce:
		dst = append(dst, artworkFlagAnnounce)
		dst = binary.BigEndian.AppendUint64(dst, uint64(m.Timestamp))
		return binary.BigEndian.AppendUint32(dst, m.TotalSize), nil
	case ArtworkPart:
		if 2+len(m.Data) > MaxArtworkMessage {
			return dst[:len(dst)-1], &BinaryError{ID: IDArtwork0 + byte(m.Channel), What: "exceeds 65519 bytes"}
		}
		dst = append(dst, 0)
		return append(dst, m.Data...), nil
	}
	return dst[:len(dst)-1], &BinaryError{ID: IDArtwork0 + byte(m.Channel), What: "unknown kind"}
}

// VisHeaderSize is the size of the visualizer header: ID and timestamp.
const VisHeaderSize = 9

// VisFrame is a decoded visualization message (roles/visualizer/v1.md):
//
//	[16-20][timestamp int64 BE][data]
//	loudness 16: uint16 value            beat 17: uint8 flags (bit 0 downbeat)
//	f_peak   18: uint16 freq, uint16 amp spectrum 19: uint16[n] bins
//	peak     20: uint8 strength
type VisFrame struct {
	ID        byte
	Timestamp int64 // server µs to display
	Data      []byte
}

// visDataSize returns the exact data size of fixed-size types, or -1.
func visDataSize(id byte) int {
	switch id {
	case IDVisLoudness:
		return 2
	case IDVisBeat, IDVisPeak:
		return 1
	case IDVisFPeak:
		return 4
	}
	return -1
}

// ParseVisualizer decodes a message with ID 16-20. The spectrum's bin count
// is checked against n_disp_bins by the session.
func ParseVisualizer(b []byte) (VisFrame, error) {
	if len(b) < VisHeaderSize+1 || b[0] < IDVisLoudness || b[0] > IDVisPeak {
		id := IDVisLoudness
		if len(b) > 0 {
			id = b[0]
		}
		return VisFrame{}, &BinaryError{ID: id, What: "not a visualizer frame"}
	}
	f := VisFrame{ID: b[0], Timestamp: int64(binary.BigEndian.Uint64(b[1:9])), Data: b[VisHeaderSize:]}
	if n := visDataSize(f.ID); n >= 0 && len(f.Data) != n {
		return VisFrame{}, &BinaryError{ID: f.ID, What: "wrong data size"}
	}
	switch f.ID {
	case IDVisSpectrum:
		if len(f.Data)%2 != 0 {
			return VisFrame{}, &BinaryError{ID: f.ID, What: "odd spectrum size"}
		}
	case IDVisFPeak:
		if f.FPeakFreq() == 0 && f.FPeakAmp() != 0 {
			return VisFrame{}, &BinaryError{ID: f.ID, What: "amplitude without a peak"}
		}
	}
	return f, nil
}

// AppendVisualizer appends a visualization message, checking the layout.
func AppendVisualizer(dst []byte, f VisFrame) ([]byte, error) {
	n := len(dst)
	dst = append(dst, f.ID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.Timestamp))
	dst = append(dst, f.Data...)
	if _, err := ParseVisualizer(dst[n:]); err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// Loudness returns a loudness frame's value.
func (f VisFrame) Loudness() uint16 { return binary.BigEndian.Uint16(f.Data) }

// Downbeat reports a beat frame's bit 0; the reserved bits are ignored.
func (f VisFrame) Downbeat() bool { return f.Data[0]&1 == 1 }

// FPeakFreq returns an f_peak frame's frequency in Hz.
func (f VisFrame) FPeakFreq() uint16 { return binary.BigEndian.Uint16(f.Data[0:2]) }

// FPeakAmp returns an f_peak frame's amplitude.
func (f VisFrame) FPeakAmp() uint16 { return binary.BigEndian.Uint16(f.Data[2:4]) }

// Strength returns a peak frame's strength.
func (f VisFrame) Strength() uint8 { return f.Data[0] }

// SpectrumBins returns the number of bins of a spectrum frame.
func (f VisFrame) SpectrumBins() int { return len(f.Data) / 2 }

// SpectrumBin returns bin i of a spectrum frame.
func (f VisFrame) SpectrumBin(i int) uint16 { return binary.BigEndian.Uint16(f.Data[2*i:]) }
