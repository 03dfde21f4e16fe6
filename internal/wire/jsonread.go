package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// This file reads JSON the way the spec needs it read: keys matched exactly
// (encoding/json matches case-insensitively), presence told apart from zero
// values, duplicate keys rejected, integers kept integral, and every failure
// reported as an *Error naming the field and rule without echoing input.

// field is one member of a JSON object: its unescaped key and its raw value.
type field struct {
	key string
	val []byte
}

// validJSON reports whether b is one UTF-8 JSON value.
func validJSON(b []byte) bool { return utf8.Valid(b) && json.Valid(b) }

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString returns the index just past the string starting at b[i] == '"'.
// b must be valid JSON.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// scanValue returns the index just past the value starting at b[i]. b must be
// valid JSON, so nesting needs no recursion: strings are skipped and brackets
// counted.
func scanValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return scanString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = scanString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default:
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// unquote decodes a JSON string token (with its quotes).
func unquote(tok []byte) (string, bool) {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}

// parseObject splits a valid JSON object into its members. It reports
// RuleNotObject for any other value and RuleDuplicateKey for a repeated key.
func parseObject(b []byte) ([]field, Rule) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, RuleNotObject
	}
	var fields []field
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, RuleSyntax
		}
		if b[i] == '}' {
			break
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		ks := i
		i = scanString(b, i)
		key, ok := unquote(b[ks:i])
		if !ok {
			return nil, RuleSyntax
		}
		i = skipWS(b, i)
		i = skipWS(b, i+1) // ':'
		vs := i
		i = scanValue(b, i)
		fields = append(fields, field{key: key, val: b[vs:i]})
	}
	if hasDuplicate(fields) {
		return nil, RuleDuplicateKey
	}
	return fields, 0
}

// parseArray splits a valid JSON array into its raw elements.
func parseArray(b []byte) ([][]byte, bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	var elems [][]byte
	i++
	for {
		i = skipWS(b, i)
		if i >= len(b) {
			return nil, false
		}
		if b[i] == ']' {
			return elems, true
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		vs := i
		i = scanValue(b, i)
		elems = append(elems, b[vs:i])
	}
}

func hasDuplicate(fields []field) bool {
	if len(fields) <= dupKeyMapThreshold {
		for i := 1; i < len(fields); i++ {
			for j := 0; j < i; j++ {
				if fields[i].key == fields[j].key {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		if _, dup := seen[f.key]; dup {
			return true
		}
		seen[f.key] = struct{}{}
	}
	return false
}

// decodeState is shared by a message's reader and its nested readers: the
// first failure wins and later reads become no-ops.
type decodeState struct {
	typ Type
	// strict applies the sender's rules too: a message we are about to send
	// is checked with strict set, a received one without, so that rules
	// whose receiver-side consequence the spec defines (ignore, refuse to
	// activate) do not turn into protocol errors.
	strict bool
	// from is the side that sent the message (FromEither when encoding a
	// message both sides send).
	from Sender
	err  *Error
	// readers made while decoding, kept in strict mode so that members no
	// decoder read can be reported as undefined.
	readers []*reader
}

func (st *decodeState) newReader(path string, fields []field) *reader {
	r := &reader{st: st, path: path, fields: fields}
	if st.strict {
		r.used = make([]bool, len(fields))
		st.readers = append(st.readers, r)
	}
	return r
}

// checkUndefined reports the first member no decoder read, unless it is an
// application object the message permits.
func (st *decodeState) checkUndefined() {
	for _, r := range st.readers {
		for i, f := range r.fields {
			if r.used[i] || (r.allowExt && len(f.key) > 1 && f.key[0] == '_') {
				continue
			}
			r.fail(f.key, RuleForbidden)
			return
		}
	}
}

// reader reads the members of one JSON object.
type reader struct {
	st     *decodeState
	path   string // path of this object inside the payload, "" at top
	fields []field
	used   []bool // strict mode: which members were read
	// allowExt marks an object that permits "_"-prefixed application objects.
	allowExt bool
}

func (r *reader) failed() bool { return r.st.err != nil }

func (r *reader) fail(key string, rule Rule) {
	if r.st.err != nil {
		return
	}
	p := r.path
	if key != "" {
		if p != "" {
			p += "."
		}
		p += key
	}
	r.st.err = &Error{Type: r.st.typ, Field: p, Rule: rule}
}

func (r *reader) get(key string) ([]byte, bool) {
	for i, f := range r.fields {
		if f.key == key {
			if r.used != nil {
				r.used[i] = true
			}
			return f.val, true
		}
	}
	return nil, false
}

// has reports whether key is present.
func (r *reader) has(key string) bool {
	_, ok := r.get(key)
	return ok
}

// lookup returns a field's raw value, reporting RuleRequired if it must be
// there and is not.
func (r *reader) lookup(key string, required bool) ([]byte, bool) {
	if r.failed() {
		return nil, false
	}
	v, ok := r.get(key)
	if !ok && required {
		r.fail(key, RuleRequired)
	}
	return v, ok
}

// absent reports RuleForbidden if key is present.
func (r *reader) absent(key string) {
	if !r.failed() && r.has(key) {
		r.fail(key, RuleForbidden)
	}
}

func (r *reader) str(key string, required bool) (string, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return "", false
	}
	if v[0] != '"' {
		r.fail(key, RuleType)
		return "", false
	}
	s, ok := unquote(v)
	if !ok {
		r.fail(key, RuleSyntax)
	}
	return s, ok
}

// parseInt parses a JSON number that must be an integer literal.
func parseInt(v []byte) (int64, Rule) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, RuleType
	}
	if bytes.ContainsAny(v, ".eE") {
		return 0, RuleType
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, RuleRange
	}
	return n, 0
}

// int reads an integer field in [lo, hi].
func (r *reader) int(key string, required bool, lo, hi int64) (int64, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return 0, false
	}
	n, rule := parseInt(v)
	if rule == 0 && (n < lo || n > hi) {
		rule = RuleRange
	}
	if rule != 0 {
		r.fail(key, rule)
		return 0, false
	}
	return n, true
}

func (r *reader) boolean(key string, required bool) (bool, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return false, false
	}
	switch string(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	r.fail(key, RuleType)
	return false, false
}

// strs reads an array of strings.
func (r *reader) strs(key string, required bool) ([]string, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return nil, false
	}
	elems, ok := parseArray(v)
	if !ok {
		r.fail(key, RuleType)
		return nil, false
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		if e[0] != '"' {
			r.fail(key+"["+itoa(i)+"]", RuleType)
			return nil, false
		}
		s, ok := unquote(e)
		if !ok {
			r.fail(key+"["+itoa(i)+"]", RuleSyntax)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// ints reads an array of integers in [lo, hi].
func (r *reader) ints(key string, required bool, lo, hi int64) ([]int64, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return nil, false
	}
	elems, ok := parseArray(v)
	if !ok {
		r.fail(key, RuleType)
		return nil, false
	}
	out := make([]int64, 0, len(elems))
	for i, e := range elems {
		n, rule := parseInt(e)
		if rule == 0 && (n < lo || n > hi) {
			rule = RuleRange
		}
		if rule != 0 {
			r.fail(key+"["+itoa(i)+"]", rule)
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func (r *reader) child(path string, v []byte) (*reader, bool) {
	fields, rule := parseObject(v)
	if rule != 0 {
		r.fail(path, rule)
		return nil, false
	}
	p := path
	if r.path != "" {
		p = r.path + "." + path
	}
	return r.st.newReader(p, fields), true
}

// object reads a nested object.
func (r *reader) object(key string, required bool) (*reader, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return nil, false
	}
	return r.child(key, v)
}

// objects reads an array of objects.
func (r *reader) objects(key string, required bool) ([]*reader, bool) {
	v, ok := r.lookup(key, required)
	if !ok {
		return nil, false
	}
	elems, ok := parseArray(v)
	if !ok {
		r.fail(key, RuleType)
		return nil, false
	}
	out := make([]*reader, 0, len(elems))
	for i, e := range elems {
		c, ok := r.child(key+"["+itoa(i)+"]", e)
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// b64url reads a base64url (no padding) field that must decode to n bytes.
func (r *reader) b64url(key string, required bool, n int) ([]byte, bool) {
	s, ok := r.str(key, required)
	if !ok {
		return nil, false
	}
	if len(s) != base64.RawURLEncoding.EncodedLen(n) {
		r.fail(key, RuleLength)
		return nil, false
	}
	out, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(out) != n {
		r.fail(key, RuleEncoding)
		return nil, false
	}
	return out, true
}

// b64url32 reads a 32-byte base64url value.
func (r *reader) b64url32(key string, required bool) ([32]byte, bool) {
	var out [32]byte
	b, ok := r.b64url(key, required, 32)
	copy(out[:], b)
	return out, ok
}

// ext collects the "_"-prefixed application objects of a message that
// permits them, copying their raw values.
func (r *reader) ext() map[string][]byte {
	r.allowExt = true
	var m map[string][]byte
	for _, f := range r.fields {
		if len(f.key) > 1 && f.key[0] == '_' {
			if m == nil {
				m = make(map[string][]byte)
			}
			m[f.key] = bytes.Clone(f.val)
		}
	}
	return m
}

// enumIn reports whether s is one of the values.
func enumIn[T ~string](s T, values ...T) bool {
	for _, v := range values {
		if s == v {
			return true
		}
	}
	return false
}

// unique reports whether the values are pairwise distinct.
func unique[T comparable](xs []T) bool {
	if len(xs) > dupKeyMapThreshold {
		seen := make(map[T]struct{}, len(xs))
		for _, x := range xs {
			if _, dup := seen[x]; dup {
				return false
			}
			seen[x] = struct{}{}
		}
		return true
	}
	for i := 1; i < len(xs); i++ {
		for j := 0; j < i; j++ {
			if xs[i] == xs[j] {
				return false
			}
		}
	}
	return true
}

// optRead reads an optional nested object into a new T; nil when absent.
func optRead[T any, P interface {
	*T
	decode(*reader)
}](r *reader, key string) P {
	c, ok := r.object(key, false)
	if !ok {
		return nil
	}
	v := P(new(T))
	v.decode(c)
	return v
}
