package wire

import (
	"errors"
	"strings"
)

// Rule names the spec rule a message broke. Its text is stable and safe to
// log: it never contains input from the peer.
type Rule uint8

// The rules a decoder checks.
const (
	RuleSyntax       Rule = iota + 1 // not valid UTF-8 JSON
	RuleNotObject                    // value must be a JSON object
	RuleDuplicateKey                 // an object names a key twice
	RuleRequired                     // a required field is missing
	RuleForbidden                    // a field must be absent here
	RuleType                         // a field has the wrong JSON type
	RuleRange                        // a number is out of its range
	RuleEnum                         // a string is not one of the defined values
	RuleEncoding                     // a string is not the defined encoding (base64url, ...)
	RuleLength                       // a value has the wrong length
	RuleUnique                       // array members must be unique
	RuleDirection                    // the message is not sent by this side
	RuleEmpty                        // a list must not be empty
	RuleConflict                     // fields contradict each other
	RuleTooDeep                      // JSON nested deeper than we scan
)

var ruleText = [...]string{
	RuleSyntax:       "not valid UTF-8 JSON",
	RuleNotObject:    "not a JSON object",
	RuleDuplicateKey: "duplicate key",
	RuleRequired:     "required field missing",
	RuleForbidden:    "field must be absent",
	RuleType:         "wrong JSON type",
	RuleRange:        "value out of range",
	RuleEnum:         "value not defined by the spec",
	RuleEncoding:     "wrong encoding",
	RuleLength:       "wrong length",
	RuleUnique:       "members not unique",
	RuleDirection:    "not sent by this side",
	RuleEmpty:        "must not be empty",
	RuleConflict:     "fields conflict",
	RuleTooDeep:      "nested too deep",
}

func (r Rule) String() string {
	if int(r) < len(ruleText) && ruleText[r] != "" {
		return ruleText[r]
	}
	return "unknown rule"
}

// Error is a JSON message that breaks a spec rule. Type is the message type
// ("" when the envelope itself is bad), Field a path such as
// "player@v1_support.supported_formats[0].codec" ("" for the whole payload).
type Error struct {
	Type  Type
	Field string
	Rule  Rule
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wire: ")
	if e.Type != "" {
		b.WriteString(string(e.Type))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Rule.String())
	return b.String()
}

// RuleOf returns the rule of a wire *Error in err's chain, or 0.
func RuleOf(err error) Rule {
	var e *Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return 0
}

// BinaryError is a binary message that breaks a layout rule.
type BinaryError struct {
	ID   byte // the message ID, or the fragment's orig_type when known
	What string
}

func (e *BinaryError) Error() string {
	return "wire: binary message " + itoa(int(e.ID)) + ": " + e.What
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
