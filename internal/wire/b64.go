package wire

import "encoding/base64"

var (
	b64Raw = base64.RawURLEncoding
	b64Std = base64.StdEncoding
)

// rawURLLen is the length of n bytes in base64url without padding.
func rawURLLen(n int) int { return b64Raw.EncodedLen(n) }
