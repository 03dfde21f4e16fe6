package pairing

// From the spec (pairing.md).
const (
	// tokenPrefix starts every pairing token ("Pairing Token").
	tokenPrefix = "SP:"

	// pskTokenPayloadLen is the version-0 payload: client_key (32) ||
	// pairing_psk (32) ("Pairing PSK Flow", "Pairing Token").
	pskTokenPayloadLen = 64

	// QRCodeSize is the qr_code emission format's code: digest[0..23]
	// ("Dynamic Pairing Code Flow", "Pairing code derivation").
	QRCodeSize = 24

	// DynamicCodeDigits is the digits emission format's code length.
	DynamicCodeDigits = 6

	// StaticCodeDigits is the static pairing code length ("Static Pairing
	// Code Flow", "Lifecycle").
	StaticCodeDigits = 8

	// dynamicCodeModulus is 10^6 for code_int = uint256_be(digest) mod 10^6.
	dynamicCodeModulus = 1_000_000

	// staticCodeModulus is 10^8, the number of 8-digit static codes.
	staticCodeModulus = 100_000_000

	// NonceSize is the length of nonce_A and nonce_B ("Binding values").
	NonceSize = 32

	// CommitSize is the length of commit_B, a SHA-256 output.
	CommitSize = 32

	// HandshakeHashSize is the length of the Noise handshake hash h for the
	// SHA-256 suites ("PAKE").
	HandshakeHashSize = 32

	// WrappedSize is a wrapped 32-byte value plus the 16-byte AEAD tag
	// ("Wrapping").
	WrappedSize = 48

	// Labels, used as raw UTF-8 bytes with no separator or terminator.
	commitLabel     = "sendspin-pair-commit-v1"         // "Binding values"
	deriveLabel     = "sendspin-pairing-code-derive-v1" // "Pairing code derivation"
	sidLabel        = "sendspin-pair-pake-v1"           // "PAKE"
	pskWrapLabel    = "sendspin-pair-psk-wrap-v1"       // "Wrapping"
	nonceWrapLabel  = "sendspin-pair-nonce-wrap-v1"     // "Wrapping"
	adServer        = "server"                          // "PAKE": ADa
	adClient        = "client"                          // "PAKE": ADb
	sidLen          = len(sidLabel) + HandshakeHashSize + 4 + 4
	encodedNonceLen = 43 // base64url of 32 bytes, no padding
	encodedWrapLen  = 64 // base64url of 48 bytes, no padding
)

// Ours.
const (
	// MaxTokenLen bounds operator-supplied token text before any work.
	// The longest defined token is 107 characters (version 0); the rest
	// leaves room for the reserved payload extension the spec allows.
	MaxTokenLen = 1024

	// MaxCodeInputLen bounds operator-typed pairing code text (digits plus
	// separators) before normalization.
	MaxCodeInputLen = 64
)
