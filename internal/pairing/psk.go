package pairing

import (
	"fmt"
	"io"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// GeneratePSK draws a 32-byte PSK from rnd (crypto/rand if nil): a
// per-device pairing PSK (pairing.md "Pairing PSK Flow", "Lifecycle") or a
// new long-term PSK. Every byte value is equally likely; nothing is reduced.
func GeneratePSK(rnd io.Reader) (keys.PSK, error) {
	var p keys.PSK
	if _, err := io.ReadFull(randOrDefault(rnd), p[:]); err != nil {
		return keys.PSK{}, fmt.Errorf("pairing: reading randomness: %w", err)
	}
	return p, nil
}
