package group

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCheckName: any operator input is either refused as a bad name, or
// accepted as a name that is trimmed, valid UTF-8, 1 to MaxNameLen
// characters, free of control characters, and accepted again unchanged.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"Kitchen", "  Living room ", "", "\t", "a\nb", strings.Repeat("é", 65), "\xff", "Garden\u0085"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := CheckName(in)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("%q: an error that is not ErrBadName: %v", in, err)
			}
			return
		}
		n := utf8.RuneCountInString(name)
		if name != strings.TrimSpace(name) || !utf8.ValidString(name) || n < 1 || n > MaxNameLen ||
			strings.IndexFunc(name, unicode.IsControl) >= 0 {
			t.Fatalf("%q accepted as %q", in, name)
		}
		if again, err := CheckName(name); err != nil || again != name {
			t.Fatalf("%q: accepted as %q, then %q, %v", in, name, again, err)
		}
	})
}
