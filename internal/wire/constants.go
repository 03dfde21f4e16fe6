package wire

// Limits from the spec.
const (
	// MaxNoiseMessage is the largest Noise transport message, in bytes
	// (messaging.md "Fragmentation").
	MaxNoiseMessage = 65535
	// AEADTagSize is the tag length of both cipher suites, in bytes.
	AEADTagSize = 16
	// MaxPlaintext is the largest decrypted binary message (ID byte plus
	// payload) that fits one Noise transport message: 65519 bytes.
	MaxPlaintext = MaxNoiseMessage - AEADTagSize
	// MaxUnfragmentedPayload is the largest payload after the ID byte that
	// is sent without fragmentation: 65518 bytes.
	MaxUnfragmentedPayload = MaxPlaintext - 1
	// MaxArtworkMessage is the size cap of an artwork binary message
	// (roles/artwork/v1.md "Artwork (Binary)").
	MaxArtworkMessage = 65519
	// MaxArtworkChannels is the most artwork channels a client may use.
	MaxArtworkChannels = 4
	// MaxPairPendingMessage is the most characters of a client/pair-pending
	// message a server shows (pairing.md "client/pair-pending").
	MaxPairPendingMessage = 200
	// MaxOutputDelayMS bounds output_delay_ms (roles/player/v1.md).
	MaxOutputDelayMS = 5000
	// MaxVolume bounds every volume field.
	MaxVolume = 100
	// CoreVersion is the only core message format version (messaging.md
	// "client/init").
	CoreVersion = 1
)

// Limits of ours.
const (
	// DefaultMaxMessage bounds a reassembled fragmented message, in bytes,
	// before anything is allocated for it. The spec sets no limit; the
	// largest message it defines (a 150 ms source chunk of 8-channel 32-bit
	// 192 kHz PCM) is under 1 MiB, so 4 MiB leaves room for application
	// roles without letting a peer make us buffer without bound.
	DefaultMaxMessage = 4 << 20
	// maxJSONDepth bounds nesting of JSON values we scan.
	maxJSONDepth = 64
	// dupKeyMapThreshold is the object size above which duplicate keys are
	// found with a map instead of a linear scan.
	dupKeyMapThreshold = 16
)
