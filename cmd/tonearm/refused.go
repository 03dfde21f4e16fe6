package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tonearm-audio/tonearm/internal/console"
)

// printRefusals prints `ctl refused`: the connections the server refused
// or that failed, newest first, in local time.
func printRefusals(e *env, raw []byte) error {
	var l console.RefusalList
	if err := json.Unmarshal(raw, &l); err != nil {
		return err
	}
	if len(l.Refusals) == 0 {
		fmt.Fprintln(e.stdout, "no refused connections")
		return nil
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tCLIENT\tNAME\tADDRESS\tREASON")
	now := time.Now()
	for _, r := range l.Refusals {
		when := r.Time
		if t, err := time.Parse(time.RFC3339, r.Time); err == nil {
			when = localClock(t, now)
		}
		client := r.Client
		if len(client) > 8 {
			client = client[:8]
		}
		reason := r.Reason
		if r.Count > 1 {
			reason += fmt.Sprintf(" (%d times)", r.Count)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", when, orDash(client), orDash(printable(r.Name)), orDash(r.Address), reason)
	}
	return w.Flush()
}

// localClock is a time in local HH:MM:SS, with the date when it is not
// today.
func localClock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 2 15:04:05")
}
