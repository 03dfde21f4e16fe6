package console

import (
	"net/http"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
)

// Refusal is one entry of GET /api/refusals: a connection the server
// refused or that failed, with who (where known) and why.
type Refusal struct {
	Time    string `json:"time"`    // RFC 3339
	Client  string `json:"client"`  // client_id, "" when unknown
	Name    string `json:"name"`    // the client's name, "" when unknown
	Address string `json:"address"` // ip:port
	Reason  string `json:"reason"`
	// Count is how many times it happened from this host with this
	// client and reason (repeats are coalesced; Time is the latest);
	// absent when once.
	Count int `json:"count,omitempty"`
}

// RefusalList is GET /api/refusals, newest first.
type RefusalList struct {
	Refusals []Refusal `json:"refusals"`
}

func (c *Console) refusals(http.ResponseWriter, *http.Request) (any, error) {
	out := RefusalList{Refusals: []Refusal{}}
	for _, r := range c.cfg.Server.Refusals() {
		e := Refusal{Time: r.Time.Format(time.RFC3339), Name: r.Name, Address: r.Addr, Reason: r.Reason}
		if r.Client != (keys.PublicKey{}) {
			e.Client = r.Client.String()
		}
		if r.Count > 1 {
			e.Count = r.Count
		}
		out.Refusals = append(out.Refusals, e)
	}
	return out, nil
}
