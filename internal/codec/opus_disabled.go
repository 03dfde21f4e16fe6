//go:build !opus

package codec

import (
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/wire"
)

// This build has no Opus: build with -tags opus (and libopus-dev) for it.
// The spec makes Opus optional for servers; players list PCM or FLAC too.

func newOpusEncoder(wire.AudioFormat) (Encoder, error) {
	return nil, fmt.Errorf("%w: this build has no Opus (build with -tags opus)", ErrUnsupported)
}

func newOpusDecoder(wire.AudioFormat) (Decoder, error) {
	return nil, fmt.Errorf("%w: this build has no Opus (build with -tags opus)", ErrUnsupported)
}
