package qr

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
)

// Tokens from vectors/VECTORS.md section 2.
func testTokens(t *testing.T) []pairing.Token {
	t.Helper()
	v0, err := pairing.ParsePSKToken("SP:0AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYP6BYPC4PSOLZXH5DU6V97M5XXO74HR6LZ7J5PW674PT6X37T6757Y")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := hex.DecodeString("3e2e937a82ea414f686a6155b3628640ee30d3fda85dc931")
	v1 := pairing.QRCode(code)
	if v1.Encode() != "SP:1HYXJG6UC5JAU69DKMFK3GYUGIDXDBU75VBO4SMI" {
		t.Fatal("v1 token vector")
	}
	return []pairing.Token{v0, v1}
}

func decodeImage(t *testing.T, img image.Image) string {
	t.Helper()
	return decodeWith(t, img, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
}

func decodeWith(t *testing.T, img image.Image, hints map[gozxing.DecodeHintType]any) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		t.Fatalf("QR decode: %v", err)
	}
	return res.GetText()
}

// The PNG decodes back, with an independent QR decoder, to the token text;
// the symbol size shows alphanumeric mode was used.
func TestPNGRoundTrip(t *testing.T) {
	// Alphanumeric mode at level M: 107 chars -> version 5 (37 modules),
	// 42 chars -> version 3 (29); byte mode would need versions 7 and 4.
	wantModules := map[pairing.TokenVersion]int{pairing.TokenVersionPSK: 37, pairing.TokenVersionCode: 29}
	for _, tok := range testTokens(t) {
		for _, scale := range []int{0, 1, 2, 3, 10} {
			b, err := PNG(tok, scale)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			s := scale
			if s == 0 {
				s = DefaultScale
			}
			side := (wantModules[tok.Version()] + 2*quietZone) * s
			if img.Bounds().Dx() != side || img.Bounds().Dy() != side {
				t.Fatalf("v%c scale %d: image %v, want %dx%d (alphanumeric mode)", tok.Version(), scale, img.Bounds(), side, side)
			}
			if got := decodeImage(t, img); got != tok.Encode() {
				t.Fatalf("decoded %q, want %q", got, tok.Encode())
			}
			// And the decoded text parses back to the same secret.
			back, err := pairing.ParseToken(decodeImage(t, img))
			if err != nil || back.Encode() != tok.Encode() {
				t.Fatalf("decoded token does not parse back: %v", err)
			}
		}
	}
}

// The terminal rendering, read back cell by cell into an image, decodes to
// the token too.
func TestTerminalRoundTrip(t *testing.T) {
	for _, tok := range testTokens(t) {
		var buf bytes.Buffer
		if err := Terminal(&buf, tok); err != nil {
			t.Fatal(err)
		}
		img := halfBlocksToImage(t, buf.String(), 4)
		// A camera sees the whole screen, not a cropped symbol: let the
		// decoder locate the finder patterns.
		if got := decodeWith(t, img, nil); got != tok.Encode() {
			t.Fatalf("terminal QR decoded %q, want %q", got, tok.Encode())
		}
		if strings.Contains(buf.String(), "\x1b") {
			t.Fatal("terminal output contains escape sequences")
		}
	}
}

// halfBlocksToImage turns qrterminal's half-block text into a grayscale
// image with scale pixels per module, as a light-on-dark terminal shows it:
// a lit glyph half is a light module, an unlit half is the dark background.
func halfBlocksToImage(t *testing.T, s string, scale int) image.Image {
	t.Helper()
	var rows [][]bool // true = dark module
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var top, bottom []bool
		for _, r := range sc.Text() {
			switch r {
			case '█':
				top, bottom = append(top, false), append(bottom, false)
			case ' ':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, false), append(bottom, true)
			case '▄':
				top, bottom = append(top, true), append(bottom, false)
			default:
				t.Fatalf("unexpected rune %q in terminal output", r)
			}
		}
		rows = append(rows, top, bottom)
	}
	w := 0
	for _, r := range rows {
		w = max(w, len(r))
	}
	// Surround it with dark terminal background.
	const pad = 4
	img := image.NewGray(image.Rect(0, 0, (w+2*pad)*scale, (len(rows)+2*pad)*scale))
	for y, r := range rows {
		for x, dark := range r {
			if dark {
				continue
			}
			for dy := range scale {
				for dx := range scale {
					img.SetGray((x+pad)*scale+dx, (y+pad)*scale+dy, color.Gray{Y: 0xff})
				}
			}
		}
	}
	return img
}

func TestErrors(t *testing.T) {
	tok := testTokens(t)[1]
	for _, s := range []int{-1, maxScale + 1} {
		if _, err := PNG(tok, s); !errors.Is(err, ErrScale) {
			t.Errorf("scale %d: %v", s, err)
		}
	}
	if _, err := PNG(nil, 0); err == nil {
		t.Error("nil token rendered")
	}
	if err := Terminal(&bytes.Buffer{}, nil); err == nil {
		t.Error("nil token rendered to terminal")
	}
	if err := Terminal(failWriter{}, tok); err == nil {
		t.Error("write error swallowed")
	}
	// A token built in code (not parsed) renders too.
	psk, _ := pairing.GeneratePSK(nil)
	if _, err := PNG(pairing.PSKToken{ClientKey: keys.PublicKey{1}, PSK: psk}, 1); err != nil {
		t.Fatal(err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }
