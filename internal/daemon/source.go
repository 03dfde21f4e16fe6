package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/audio"
)

// Source names on the command line and in the console.
const (
	SourceTone  = "tone" // the built-in test signal
	SourceStdin = "-"    // raw PCM on stdin
	SourceNone  = "none" // start idle
)

// StdinFormat is the format of raw PCM on stdin: 48 kHz stereo 16-bit
// little-endian, what `ffmpeg -f s16le -ar 48000 -ac 2 -` writes.
var StdinFormat = audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}

// toneFormat is the test signal's format.
var toneFormat = audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16}

// OpenSource opens what --play names: "tone", "-" for stdin, or a WAV
// file.
func OpenSource(spec string, stdin io.Reader) (audio.Source, error) {
	switch spec {
	case "", SourceTone:
		return audio.NewTone(toneFormat)
	case SourceStdin:
		if stdin == nil {
			return nil, errors.New("no standard input to play from")
		}
		return audio.NewRawReader(stdin, StdinFormat)
	case SourceNone:
		return nil, errors.New(`"none" is not a source`)
	}
	fi, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("cannot play %s: %w", spec, unwrapPath(err))
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("cannot play %s: it is a folder; name a WAV file", spec)
	}
	src, err := audio.OpenWAV(spec)
	if err != nil {
		return nil, fmt.Errorf("cannot play %s: %w", spec, err)
	}
	return src, nil
}

// unwrapPath drops the *PathError wrapping so a message names the file
// once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errors.New(strings.TrimPrefix(pe.Err.Error(), "open "))
	}
	return err
}
