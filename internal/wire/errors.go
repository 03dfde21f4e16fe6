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

// rulePhrase says each rule as the end of a sentence about the field or
// message that broke it ("field \"x\" is out of its range"), for people.
var rulePhrase = [...]string{
	RuleSyntax:       "is not valid UTF-8 JSON",
	RuleNotObject:    "is not a JSON object",
	RuleDuplicateKey: "names a key twice",
	RuleRequired:     "is missing, and the spec requires it",
	RuleForbidden:    "must be absent here",
	RuleType:         "has the wrong JSON type",
	RuleRange:        "is out of its range",
	RuleEnum:         "has a value the spec does not define",
	RuleEncoding:     "is not in the encoding the spec defines",
	RuleLength:       "has the wrong length",
	RuleUnique:       "repeats a member",
	RuleDirection:    "is not a message this side sends",
	RuleEmpty:        "is empty, and must not be",
	RuleConflict:     "conflicts with another field",
	RuleTooDeep:      "is nested too deep",
}

// Phrase is the rule as the end of a sentence about what broke it.
func (r Rule) Phrase() string {
	if int(r) < len(rulePhrase) && rulePhrase[r] != "" {
		return rulePhrase[r]
	}
	return "breaks a rule of the spec"
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
