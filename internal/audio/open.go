package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrUnsupportedFile reports a file that is not WAV, FLAC or MP3.
var ErrUnsupportedFile = errors.New("unsupported file type (want WAV, FLAC or MP3)")

// fileKind is what sniffing found.
type fileKind int

const (
	kindUnknown fileKind = iota
	kindWAV
	kindFLAC
	kindMP3
)

// OpenFile opens a WAV, FLAC or MP3 file as a Source. The type comes from
// the file's first bytes, not its name. Closing the Source closes the file.
func OpenFile(path string) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audio: %w", err)
	}
	s, err := OpenReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &closingSource{Source: s, c: f}, nil
}

// OpenReader decodes a WAV, FLAC or MP3 stream from r; name only labels
// errors. Closing the Source does not close r.
func OpenReader(r io.Reader, name string) (Source, error) {
	br := bufio.NewReaderSize(r, sniffBuffer)
	kind, err := sniff(br)
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", name, err)
	}
	var s Source
	switch kind {
	case kindWAV:
		s, err = NewWAVReader(br)
	case kindFLAC:
		s, err = newFLACReader(br)
	case kindMP3:
		s, err = newMP3Reader(br)
	}
	if err != nil {
		return nil, fmt.Errorf("audio: %s: %w", name, err)
	}
	return &namedSource{Source: s, name: name}, nil
}

// sniff skips leading ID3v2 tags and identifies what follows by its magic
// bytes, leaving br at the start of the format's own header.
func sniff(br *bufio.Reader) (fileKind, error) {
	for i := 0; ; i++ {
		head, err := br.Peek(10)
		if len(head) == 0 {
			if err == io.EOF {
				return kindUnknown, errors.New("empty file")
			}
			return kindUnknown, err
		}
		size, ok := id3Size(head)
		if !ok {
			break
		}
		if i == maxID3Tags {
			return kindUnknown, errors.New("too many ID3 tags")
		}
		if _, err := br.Discard(size); err != nil {
			return kindUnknown, errors.New("truncated ID3 tag")
		}
	}
	head, _ := br.Peek(12)
	switch {
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return kindWAV, nil
	case bytes.HasPrefix(head, []byte("fLaC")):
		return kindFLAC, nil
	case len(head) >= 4:
		if h, ok := parseMPEGHeader(head); ok {
			if h.layer != 3 {
				return kindUnknown, fmt.Errorf("MPEG layer %d is not supported (only layer III, MP3)", h.layer)
			}
			if h.version == mpeg25 {
				return kindUnknown, errors.New("MPEG 2.5 is not supported")
			}
			return kindMP3, nil
		}
	}
	return kindUnknown, ErrUnsupportedFile
}

// id3Size returns the total size of the ID3v2 tag at the start of b (10
// bytes or more), header and footer included.
func id3Size(b []byte) (int, bool) {
	if len(b) < 10 || string(b[0:3]) != "ID3" || b[3] == 0xff || b[4] == 0xff {
		return 0, false
	}
	size := 0
	for _, c := range b[6:10] {
		if c >= 0x80 { // sizes are syncsafe: 7 bits per byte
			return 0, false
		}
		size = size<<7 | int(c)
	}
	size += 10
	if b[5]&0x10 != 0 { // footer present
		size += 10
	}
	return size, true
}

// namedSource labels a decoder's read errors with the file's name.
type namedSource struct {
	Source
	name string
}

func (n *namedSource) Read(dst []int32) (int, error) {
	k, err := n.Source.Read(dst)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("audio: %s: %w", n.name, err)
	}
	return k, err
}

// closingSource closes the file under a decoder.
type closingSource struct {
	Source
	c io.Closer
}

func (c *closingSource) Close() error {
	err := c.Source.Close()
	if cerr := c.c.Close(); err == nil {
		err = cerr
	}
	return err
}
