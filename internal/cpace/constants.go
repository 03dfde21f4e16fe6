package cpace

// From the spec: draft-irtf-cfrg-cpace-21 and RFC 7748.
const (
	// ShareSize is the length of a public share Ya / Yb: one X25519
	// u-coordinate (draft-21 section 8.2, G_X25519.field_size_bytes).
	ShareSize = 32

	// ScalarSize is the length of a sampled scalar ya / yb
	// (draft-21 section 8.2, G_X25519.sample_scalar).
	ScalarSize = 32

	// ISKSize is the length of the intermediate session key: one SHA-512
	// output (draft-21 section 6.2, H.b_in_bytes for SHA-512).
	ISKSize = 64

	// TagSize is the length of an MCF tag Ta / Tb: one HMAC-SHA-512 output
	// (draft-21 section 10.4).
	TagSize = 64

	// hashBlockSize is H.s_in_bytes for SHA-512 (draft-21 section 6.2); the
	// generator string pads DSI and PRS to fill this first block.
	hashBlockSize = 128

	// dsi is G_X25519.DSI (draft-21 section 8.2).
	dsi = "CPace255"

	// dsiISK is G.DSI || "_ISK", the first ISK hash field (draft-21 section 7.2).
	dsiISK = dsi + "_ISK"

	// macLabel prefixes the MCF mac_key derivation (draft-21 section 10.4).
	macLabel = "CPaceMac"

	// montgomeryA is the Curve25519 coefficient A (RFC 7748 section 4.1).
	montgomeryA = 486662

	// a24 is (A-2)/4 + 1 = 121665, the ladder constant (RFC 7748 section 5).
	a24 = 121665
)

// Ours.
const (
	// MaxInputLen bounds each of PRS, CI, sid, ADa and ADb. The draft sets
	// no limit; Sendspin's longest input is a 57-byte sid, so 1 KiB leaves
	// room for any sane embedding while bounding hashing work.
	MaxInputLen = 1024

	// encodedShareLen and encodedTagLen are the base64url (no padding)
	// text lengths of a share and a tag (pairing.md "PAKE" table).
	encodedShareLen = 43
	encodedTagLen   = 86
)
