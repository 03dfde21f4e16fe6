package wire

import "math"

// RGB is a color as [R, G, B], each 0-255.
type RGB [3]uint8

// ColorState is the color object of server/state (roles/color/v1.md). Absent
// colors are nil.
type ColorState struct {
	Timestamp       int64 // µs, server clock: when these take effect
	BackgroundDark  *RGB
	BackgroundLight *RGB
	Primary         *RGB
	Accent          *RGB
	OnDark          *RGB
	OnLight         *RGB
}

var colorKeys = [...]string{"background_dark", "background_light", "primary", "accent", "on_dark", "on_light"}

func (c *ColorState) slots() [6]**RGB {
	return [6]**RGB{&c.BackgroundDark, &c.BackgroundLight, &c.Primary, &c.Accent, &c.OnDark, &c.OnLight}
}

func (c *ColorState) encode(w *writer) {
	w.int("timestamp", c.Timestamp)
	for i, p := range c.slots() {
		if *p != nil {
			v := **p
			w.ints(colorKeys[i], []int64{int64(v[0]), int64(v[1]), int64(v[2])})
		}
	}
}

func (c *ColorState) decode(r *reader) {
	c.Timestamp, _ = r.int("timestamp", true, math.MinInt64, math.MaxInt64)
	for i, p := range c.slots() {
		vs, ok := r.ints(colorKeys[i], false, 0, 255)
		if !ok {
			continue
		}
		if len(vs) != 3 {
			r.fail(colorKeys[i], RuleLength)
			return
		}
		*p = &RGB{uint8(vs[0]), uint8(vs[1]), uint8(vs[2])}
	}
}
