package player

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// What the owner of the speaker sees and does on a running player (issue
// 11): local actions that take effect on live connections, and the
// server events a person should learn about from the player itself.

// Eviction is a pairing record dropped to make room for a new one
// (pairing.md "Pairing Records": at capacity the least recently used
// record goes).
type Eviction struct {
	Server  keys.PublicKey
	Name    string // the evicted server's stored name; "" if none was kept
	For     keys.PublicKey
	ForName string
	At      time.Time
}

// ServerEvent is something a server did to this player that outlives the
// connection it happened on: the status shows it after the server is gone.
type ServerEvent struct {
	Server keys.PublicKey
	Name   string
	// What happened, in words: "unpaired this player; its pairing record
	// was removed".
	What string
	At   time.Time
}

// maxStoredName bounds the server name kept with a pairing record.
const maxStoredName = 255

// Short is the first 8 characters of an ID: the form a person reads.
func Short(k keys.PublicKey) string { return k.String()[:8] }

// Label names a server for a person: "Hub (abcd1234)", or the short ID
// alone when no name is known.
func Label(name string, k keys.PublicKey) string {
	if name == "" {
		return Short(k)
	}
	return name + " (" + Short(k) + ")"
}

// storedName cuts a server name to maxStoredName bytes on a rune boundary.
func storedName(s string) string {
	if len(s) <= maxStoredName {
		return s
	}
	s = s[:maxStoredName]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// UnpairedAccess is the player's live unpaired_access setting.
func (p *Player) UnpairedAccess() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unpaired
}

// SetUnpairedAccess is the owner's change of the unpaired_access setting
// on a running player (the caller persists it). Turned off, every
// connection relying on unpaired access - an unpaired session with
// playback or roles - is closed with client/goodbye 'pairing_required'
// (pairing.md "Unpaired Access"). Turned on, unpaired connections held at
// empty activities are closed with 'restart' (allowed there) so their next
// client/hello advertises the new setting. It returns how many
// connections it closed.
func (p *Player) SetUnpairedAccess(on bool) int {
	p.mu.Lock()
	was := p.unpaired
	p.unpaired = on
	p.mu.Unlock()
	if was == on {
		return 0
	}
	p.log.Info("unpaired access changed by the owner", "unpaired_access", on)
	var closed atomic.Int32
	p.signalAll(func(c *conn) error {
		if session.Paired(c.matched) {
			return nil
		}
		relies := session.ReliesOnUnpairedAccess(c.matched, c.act)
		idle := c.act.Activities == session.NoActivities && len(c.act.ActiveRoles) == 0
		switch {
		case !on && relies:
			closed.Add(1)
			p.log.Info("closing a connection that relied on unpaired access", "server", Label(c.serverName, c.sc.Peer()),
				"reason", string(wire.GoodbyePairingRequired))
			c.goodbye(wire.GoodbyePairingRequired)
		case on && idle:
			closed.Add(1)
			p.log.Info("reconnecting so the server sees unpaired access on", "server", Label(c.serverName, c.sc.Peer()),
				"reason", string(wire.GoodbyeRestart))
			c.goodbye(wire.GoodbyeRestart)
		default:
			return nil
		}
		return errGoodbye
	})
	return int(closed.Load())
}

// ErrNoRecord: the player keeps no pairing record for that server.
var ErrNoRecord = errors.New("player: no pairing record for that server")

// ForgetServer is the owner's removal of a server's pairing record on a
// running player. A connection to that server running on that record is
// closed with client/goodbye 'user_request' (docs/SPEC-NOTES.md): the
// server should not reconnect on its own, and a connection whose
// credential is gone must not go on as if paired. It returns the record
// removed.
func (p *Player) ForgetServer(server keys.PublicKey) (store.ServerRecord, error) {
	recs, err := p.cfg.Store.ServerRecords()
	if err != nil {
		return store.ServerRecord{}, err
	}
	var rec *store.ServerRecord
	for i := range recs {
		if recs[i].Server == server {
			rec = &recs[i]
		}
	}
	if rec == nil {
		return store.ServerRecord{}, ErrNoRecord
	}
	if err := p.cfg.Store.DeleteServerRecord(server); err != nil {
		return store.ServerRecord{}, fmt.Errorf("player: removing the pairing record: %w", err)
	}
	p.log.Info("pairing record forgotten by the owner", "server", Label(rec.Name, server), "server_id", server.String())
	p.signalAll(func(c *conn) error {
		if c.sc.Peer() != server || !session.Paired(c.matched) {
			return nil
		}
		p.log.Info("closing the connection to a forgotten server", "server", Label(c.serverName, server),
			"reason", string(wire.GoodbyeUserRequest))
		c.goodbye(wire.GoodbyeUserRequest)
		return errGoodbye
	})
	return *rec, nil
}

// RecordCapacity is how many pairing records the player keeps.
func (p *Player) RecordCapacity() int { return p.cfg.RecordCapacity }

// noteEviction logs and keeps an eviction for the status.
func (p *Player) noteEviction(ev Eviction) {
	p.log.Info(fmt.Sprintf("pairing records full: the record of %s was evicted for %s", Label(ev.Name, ev.Server), Label(ev.ForName, ev.For)),
		"evicted", ev.Server.String(), "for", ev.For.String())
	p.mu.Lock()
	p.eviction = &ev
	p.mu.Unlock()
}

// noteServerEvent logs and keeps a server event for the status.
func (p *Player) noteServerEvent(ev ServerEvent) {
	p.log.Info(Label(ev.Name, ev.Server)+" "+ev.What, "server_id", ev.Server.String())
	p.mu.Lock()
	p.serverEvent = &ev
	p.mu.Unlock()
}
