package wire

import (
	"encoding/base64"
	"sort"
	"strconv"
	"unicode/utf8"
)

// writer appends canonical JSON: members in the order the encoder writes
// them, no whitespace, strings escaped minimally. It is the only way this
// package produces JSON, so an encoder can only emit the fields it names.
type writer struct {
	b     []byte
	comma bool // a member or element precedes the next one
}

func (w *writer) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
}

func (w *writer) key(k string) {
	w.sep()
	w.b = appendQuoted(w.b, k)
	w.b = append(w.b, ':')
}

func (w *writer) str(k, v string) {
	w.key(k)
	w.b = appendQuoted(w.b, v)
}

func (w *writer) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *writer) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// raw writes a value that is already JSON (an application object).
func (w *writer) raw(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, v...)
}

func (w *writer) b64url(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = base64.RawURLEncoding.AppendEncode(w.b, v)
	w.b = append(w.b, '"')
}

func (w *writer) strs(k string, vs []string) {
	w.key(k)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendQuoted(w.b, v)
	}
	w.b = append(w.b, ']')
}

func (w *writer) ints(k string, vs []int64) {
	w.key(k)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = strconv.AppendInt(w.b, v, 10)
	}
	w.b = append(w.b, ']')
}

// obj opens a nested object member; close it with end.
func (w *writer) obj(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *writer) end() {
	w.b = append(w.b, '}')
	w.comma = true
}

// arr opens an array member; close it with endArr.
func (w *writer) arr(k string) {
	w.key(k)
	w.b = append(w.b, '[')
	w.comma = false
}

func (w *writer) endArr() {
	w.b = append(w.b, ']')
	w.comma = true
}

// elemObj opens an object element of the current array; close it with end.
func (w *writer) elemObj() {
	w.sep()
	w.b = append(w.b, '{')
	w.comma = false
}

// ext writes application objects in key order, so output is deterministic.
func (w *writer) ext(m map[string][]byte) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.raw(k, m[k])
	}
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so output is always valid UTF-8.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// objEncoder is a nested object that writes its own members.
type objEncoder interface{ encode(w *writer) }

// optObj writes key: {...} when v is set.
func optObj[P interface {
	*T
	objEncoder
}, T any](w *writer, key string, v P) {
	if v != nil {
		w.obj(key)
		v.encode(w)
		w.end()
	}
}
