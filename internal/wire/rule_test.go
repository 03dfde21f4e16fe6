package wire

import "testing"

// Every rule has both texts: a rule added without them would show people
// "unknown rule" or a vague phrase.
func TestEveryRuleHasItsTexts(t *testing.T) {
	for r := RuleSyntax; r <= RuleTooDeep; r++ {
		if r.String() == "unknown rule" || r.Phrase() == "breaks a rule of the spec" {
			t.Errorf("rule %d: %q, %q", r, r.String(), r.Phrase())
		}
	}
}
