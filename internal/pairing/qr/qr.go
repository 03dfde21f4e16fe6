// Package qr renders pairing tokens as QR codes: as text for a terminal and
// as a PNG image (pairing.md "Pairing Token": a QR code carries the token
// string verbatim, with no URI scheme or wrapper).
//
// It owns the rendering only. It takes a pairing.Token, never free text, so
// every code it draws is a token in the QR alphanumeric set (0-9, A-Z, ':')
// and is encoded in alphanumeric mode. It must not open files, touch the
// process's stdout or read the terminal: callers pass the io.Writer and
// decide where the image goes. A rendered PSK token contains a secret.
package qr

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"io"

	"github.com/mdp/qrterminal/v3"
	rscqr "rsc.io/qr"

	"github.com/tonearm-audio/tonearm/internal/pairing"
)

// From the spec: none beyond the token alphabet. Ours:
const (
	// level is error correction M (about 15% recovery): a version-0 token
	// fits in version 5 (37x37 modules), small enough for a terminal.
	level = rscqr.M

	// quietZone is the 4-module margin ISO/IEC 18004 asks for.
	quietZone = 4

	// DefaultScale is the PNG pixels per module when the caller passes 0.
	DefaultScale = 8

	// maxScale bounds the PNG size: a version-5 code at 64 px per module
	// is under 3000 px square.
	maxScale = 64
)

// ErrScale reports a PNG scale outside 0..64.
var ErrScale = errors.New("qr: scale out of range")

// encode checks the token text and encodes it. rsc.io/qr picks the
// smallest mode that fits the text; for token text that is alphanumeric.
func encode(t pairing.Token) (*rscqr.Code, error) {
	if t == nil {
		return nil, errors.New("qr: no token")
	}
	text := t.Encode()
	for i := 0; i < len(text); i++ {
		if c := text[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c == ':') {
			return nil, errors.New("qr: token text outside the QR alphanumeric set")
		}
	}
	return rscqr.Encode(text, level)
}

// Terminal writes the token's QR code to w as Unicode half blocks, two
// modules per character cell. Lit cells are light modules, as qrterminal
// draws them for the usual light-on-dark terminal.
func Terminal(w io.Writer, t pairing.Token) error {
	// Encode first: qrterminal ignores encoding errors.
	if _, err := encode(t); err != nil {
		return err
	}
	var buf bytes.Buffer
	qrterminal.GenerateWithConfig(t.Encode(), qrterminal.Config{
		Level:          level,
		Writer:         &buf,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      quietZone,
	})
	_, err := w.Write(buf.Bytes())
	return err
}

// PNG returns the token's QR code as a PNG image with scale pixels per
// module (DefaultScale if 0) and a 4-module quiet zone.
func PNG(t pairing.Token, scale int) ([]byte, error) {
	if scale == 0 {
		scale = DefaultScale
	}
	if scale < 1 || scale > maxScale {
		return nil, ErrScale
	}
	c, err := encode(t)
	if err != nil {
		return nil, err
	}
	// Draw with image/png rather than rsc.io/qr's own PNG writer, which
	// panics for some scales (1, for example).
	side := (c.Size + 2*quietZone) * scale
	img := image.NewGray(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for y := range c.Size {
		for x := range c.Size {
			if !c.Black(x, y) {
				continue
			}
			x0, y0 := (x+quietZone)*scale, (y+quietZone)*scale
			for dy := range scale {
				row := img.Pix[(y0+dy)*img.Stride:]
				clear(row[x0 : x0+scale])
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
