package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// StreamRate and StreamChannels are the server's timeline: file sources
// in another rate or channel count are converted to them (with the
// Kaiser-windowed sinc of audio.Convert), so every player that lists
// 48 kHz stereo, as most do, can be fed; the bit depth is kept.
const (
	StreamRate     = 48000
	StreamChannels = 2
)

// OpenSource opens what --play names: "tone", "-" for stdin, a WAV, FLAC
// or MP3 file, or a folder of them played in name order, gapless.
func OpenSource(spec string, stdin io.Reader, log *slog.Logger) (audio.Source, error) {
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
	var src audio.Source
	if fi.IsDir() {
		// The playlist converts to the stream's format itself, so the
		// server can jump between its tracks (tonearm ctl next).
		pl, err := audio.OpenFolderAt(spec, StreamRate, StreamChannels)
		if err != nil {
			return nil, fmt.Errorf("cannot play %s: %w", spec, err)
		}
		pl.OnError = func(path string, err error) {
			if log != nil {
				log.Warn("skipping a track that does not play", "file", path, "err", err)
			}
		}
		return pl, nil
	} else if src, err = audio.OpenFile(spec); err != nil {
		return nil, fmt.Errorf("cannot play %s: %w", spec, err)
	}
	f := src.Format()
	if f.SampleRate == StreamRate && f.Channels == StreamChannels {
		return src, nil
	}
	conv, err := audio.Convert(src, audio.Format{SampleRate: StreamRate, Channels: StreamChannels, BitDepth: f.BitDepth})
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("cannot play %s: %w", spec, err)
	}
	return conv, nil
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
